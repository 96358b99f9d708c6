"""Invoicing at scale: issue invoices for 100,000 shipped orders in a batch, PDFs per page,
and 8 processes issuing for one client at once (gap-free series).

Data (COPY, timed separately): one client, ``--inv-orders`` shipped orders (default 100,000),
each with two lines and one shipment carrying both.

- **batch issue**: ``billing.services.invoices_issue_for_shipments`` over every shipment, in
  chunks of ``--inv-chunk`` (default 10,000; one transaction each): set-based reads, numbers
  from the locked series row (one lock per chunk), COPY of invoices and lines, no PDFs.
  Baseline, same run: the plain-ORM way over ``--inv-baseline`` shipments (default 2,000) —
  per shipment one transaction: lock the series row, ``Invoice.objects.create``, its lines
  with ``bulk_create``.
- **PDFs**: ``billing.pdf.invoice_pdf_bytes`` for ``--inv-pdfs`` invoices (default 20), time
  per page (what the workers spend after the batch).
- **parallel**: 8 forked processes issue invoices for ``--inv-parallel`` further shipments
  (default 8,000) of the same client, 50 per transaction; the series is then checked: every
  number from 1 to N exactly once.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from datetime import timedelta
from decimal import Decimal

from bench.common import analyze, heading, measure, rate, row, wipe_business_data
from core.bulk import insert_rows

HELP = "issue invoices for 100k shipped orders (>= 1,000/s), PDFs per page, 8 parallel issuers"
TARGET_PER_S = 1000.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--inv-orders", type=int, default=100_000)
    group.add_argument("--inv-chunk", type=int, default=10_000)
    group.add_argument("--inv-baseline", type=int, default=2_000)
    group.add_argument("--inv-pdfs", type=int, default=20)
    group.add_argument("--inv-parallel", type=int, default=8_000)


def _data(count: int):
    from django.utils import timezone

    from clients.models import Client
    from fulfillment.models import Carrier, CarrierService, Shipment, ShipmentLine
    from inventory.models import Product, StockLevel, Warehouse
    from orders.models import Order, OrderLine

    heading(f"Data set: {count:,} shipped orders, 2 lines and 1 shipment each")
    started = time.perf_counter()
    wipe_business_data()
    client = Client.objects.create(
        code="ACME",
        name="Acme",
        invoice_tax_rate=Decimal("19.00"),
        invoice_legal_lines="Acme Inc. · 1 Bench Street · Tax ID US-1",
    )
    wh = Warehouse.objects.create(code="EAST", name="East")
    products = [
        Product.objects.create(client=client, sku=f"SKU-{i:03d}", name=f"Product {i}")
        for i in range(20)
    ]
    levels = [
        StockLevel.objects.get_or_create(product=p, warehouse=wh, defaults={"client": client})[0]
        for p in products
    ]
    carrier, _ = Carrier.objects.get_or_create(
        code="BENCHI",
        defaults={"name": "Bench", "tracking_url_template": "https://t.example/{tracking_number}"},
    )
    service, _ = CarrierService.objects.get_or_create(
        carrier=carrier, code="G", defaults={"name": "Ground", "transit_days": 3, "price": 5}
    )
    now = timezone.now()
    order_ids = insert_rows(
        Order,
        (
            "client_id",
            "number",
            "placed_at",
            "ship_by",
            "currency",
            "status",
            "segment",
            "subtotal",
            "total",
        ),
        [
            (
                client.pk,
                f"B{i:07d}",
                now - timedelta(days=2),
                now,
                "USD",
                "shipped",
                "closed",
                Decimal("59.85"),
                Decimal("59.85"),
            )
            for i in range(count)
        ],
    )
    line_rows = []
    for n, oid in enumerate(order_ids):
        line_rows.append((oid, 1, products[n % 20].pk, 3, Decimal("9.95"), 3))
        line_rows.append((oid, 2, products[(n + 7) % 20].pk, 1, Decimal("30.00"), 1))
    line_ids = insert_rows(
        OrderLine,
        ("order_id", "line_no", "product_id", "quantity", "unit_price", "qty_shipped"),
        line_rows,
    )
    ship_ids = insert_rows(
        Shipment,
        (
            "client_id",
            "order_id",
            "carrier_id",
            "service_id",
            "tracking_number",
            "shipped_at",
            "eta",
            "warehouse_id",
        ),
        [
            (client.pk, oid, carrier.pk, service.pk, f"BI{oid:010d}", now, now.date(), wh.pk)
            for oid in order_ids
        ],
    )
    level_of = {p.pk: lv.pk for p, lv in zip(products, levels, strict=True)}
    insert_rows(
        ShipmentLine,
        ("shipment_id", "order_line_id", "stock_level_id", "quantity"),
        [
            (ship_ids[i // 2], line_ids[i], level_of[line_rows[i][2]], line_rows[i][3])
            for i in range(len(line_ids))
        ],
        return_ids=False,
    )
    analyze()
    row("created in", time.perf_counter() - started, "s")
    return client, ship_ids


def _baseline(client, shipment_ids) -> None:
    """The plain-ORM way: one transaction per shipment, model instances throughout."""
    from django.db import transaction
    from django.utils import timezone

    from billing.models import DocumentSeries, Invoice, InvoiceLine
    from billing.services import CENT, ROUND_HALF_UP
    from fulfillment.models import Shipment

    for shipment in Shipment.objects.filter(pk__in=shipment_ids).select_related("order"):
        with transaction.atomic():
            year = timezone.localdate().year
            series, _ = DocumentSeries.objects.select_for_update().get_or_create(
                client=client, kind="baseline", year=year
            )
            series.last_number += 1
            series.save(update_fields=["last_number"])
            lines = list(shipment.lines.select_related("order_line__product"))
            invoice = Invoice.objects.create(
                client=client,
                order=shipment.order,
                shipment_id=None,
                kind="invoice",
                status="issued",
                number=f"BASE-{year}-{series.last_number:06d}",
                currency="USD",
                rounding=client.invoice_rounding,
                issued_at=timezone.now(),
                due_on=timezone.localdate() + timedelta(days=30),
            )
            subtotal = tax = Decimal(0)
            objs = []
            for sl in lines:
                net = (sl.quantity * sl.order_line.unit_price).quantize(CENT, ROUND_HALF_UP)
                t = (net * client.invoice_tax_rate / 100).quantize(CENT, ROUND_HALF_UP)
                subtotal += net
                tax += t
                objs.append(
                    InvoiceLine(
                        invoice=invoice,
                        order_line=sl.order_line,
                        description=f"{sl.order_line.product.sku} {sl.order_line.product.name}",
                        quantity=sl.quantity,
                        unit_price=sl.order_line.unit_price,
                        tax_rate=client.invoice_tax_rate,
                        net_amount=net,
                        tax_amount=t,
                    )
                )
            InvoiceLine.objects.bulk_create(objs)
            invoice.subtotal, invoice.tax_total, invoice.total = subtotal, tax, subtotal + tax
            invoice.save(update_fields=["subtotal", "tax_total", "total"])


def _child(barrier, results, client_id, shipment_ids) -> None:
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.connection = None
    try:
        from billing.services import invoices_issue_for_shipments

        barrier.wait(timeout=60)
        numbers = []
        for start in range(0, len(shipment_ids), 50):
            numbers += [
                inv.number
                for inv in invoices_issue_for_shipments(
                    shipment_ids=shipment_ids[start : start + 50]
                )
            ]
        results.put(("ok", numbers))
    except Exception as exc:
        results.put(("error", repr(exc)))
    finally:
        connections.close_all()


def run(args) -> bool:
    import os

    from django.db import connection
    from django.utils import timezone

    from billing.models import Invoice
    from billing.pdf import invoice_pdf_bytes
    from billing.services import invoices_issue_for_shipments

    total = args.inv_orders + args.inv_baseline + args.inv_parallel
    client, ship_ids = _data(total)
    batch = ship_ids[: args.inv_orders]
    base = ship_ids[args.inv_orders : args.inv_orders + args.inv_baseline]
    parallel = ship_ids[args.inv_orders + args.inv_baseline :]
    ok = True

    heading(f"Batch issue: {len(batch):,} invoices, chunks of {args.inv_chunk:,}, no PDFs")
    with measure() as m:
        issued = 0
        for start in range(0, len(batch), args.inv_chunk):
            issued += len(
                invoices_issue_for_shipments(shipment_ids=batch[start : start + args.inv_chunk])
            )
    ours = rate(issued, m.seconds)
    row("invoices issued", issued)
    row("time", m.seconds, "s")
    row("rate", ours, "invoices/s")
    row("queries", m.queries)
    row("CPU", m.cpu_note())
    row(f"target >= {TARGET_PER_S:,.0f}/s", "met" if ours >= TARGET_PER_S else "NOT met")
    ok &= issued == len(batch)

    heading(f"Baseline: plain ORM, one transaction per invoice, {len(base):,} invoices")
    with measure() as b:
        _baseline(client, base)
    theirs = rate(len(base), b.seconds)
    row("rate", theirs, "invoices/s")
    row("queries", b.queries)
    row("ratio (batch / baseline)", ours / theirs, "x")

    heading(f"PDFs: {args.inv_pdfs} invoices rendered by WeasyPrint (workers do this)")
    invoices = list(
        Invoice.objects.filter(client=client, shipment_id__isnull=False)
        .select_related("client", "order", "customer")
        .order_by("pk")[: args.inv_pdfs]
    )
    invoice_pdf_bytes(invoices[0])  # warm-up (fonts, templates)
    started = time.perf_counter()
    pages = 0
    for inv in invoices:
        data = invoice_pdf_bytes(inv)
        pages += data.count(b"/Type /Page\n") or data.count(b"/Type /Page") or 1
    seconds = time.perf_counter() - started
    row("PDFs", len(invoices))
    row("per PDF", seconds / len(invoices) * 1000, "ms")
    row("per page", seconds / max(pages, 1) * 1000, "ms")

    heading(f"8 processes issuing {len(parallel):,} invoices for one client at once")
    connection.close()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(barrier, results, client.pk, parallel[i::8]))
        for i in range(8)
    ]
    started = time.perf_counter()
    for c in children:
        c.start()
    outcomes = [results.get(timeout=600) for _ in children]
    for c in children:
        c.join(timeout=60)
    seconds = time.perf_counter() - started
    errors = [o for o in outcomes if o[0] != "ok"]
    numbers = sorted(n for o in outcomes if o[0] == "ok" for n in o[1])
    year = timezone.localdate().year
    first = issued + 1
    expected = [f"ACME-{year}-{n:06d}" for n in range(first, first + len(parallel))]
    row("errors", len(errors))
    row("invoices issued", len(numbers))
    row("time", seconds, "s")
    row("rate", rate(len(numbers), seconds), "invoices/s")
    gap_free = numbers == expected
    row("series", f"{numbers[0] if numbers else '-'} … {numbers[-1] if numbers else '-'}")
    row("gap-free, no duplicates", "yes" if gap_free else "NO")
    all_numbers = Invoice.objects.filter(client=client, number__startswith=f"ACME-{year}-")
    row("whole series in the database", all_numbers.count())
    row("distinct numbers", all_numbers.values("number").distinct().count())
    row("load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return ok and gap_free and not errors
