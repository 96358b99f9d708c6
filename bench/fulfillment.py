"""Fulfillment: a big pick-list PDF, a 100,000-event carrier status file, the carrier webhook.

Three measurements, each on data built with ``bulk_create`` (timed separately):

- **pick list**: one client, ``--wave-orders`` ready orders (default 500) of
  ``--wave-lines`` lines each (default 3, so 1,500 lines) over ``--wave-skus`` SKUs with bin
  locations in one warehouse. ``wave_create`` takes them all into one wave (timed), then the
  pick-list PDF is rendered on A4 and on Letter (``selectors.pick_list`` + WeasyPrint), each
  timed (wall and CPU: the CPU figure does not depend on what else the machine runs); then
  ``pick_list_pdf`` twice: render + store, and the stored copy read back (what every later
  click costs). Peak memory: a third A4 render under ``tracemalloc`` (Python heap peak; it
  runs slower, so its time is not reported) and the process's resident-set high-water mark
  before and after the first render (``ru_maxrss``; grows only if the render needed more
  than the process ever had).
- **status file**: ``--events`` carrier events (default 100,000) for ``--events // 5``
  shipped orders, five per parcel (picked up, in transit twice, out for delivery, delivered;
  1 % hit an exception instead of being delivered), written as the CSV a carrier sends
  (sorted by time), then ``read_tracking_csv`` + ``tracking_events_ingest`` — the code behind
  the upload page and ``manage.py import_tracking``. Events/s over parse + ingest, best and
  median of ``--ingest-repeat`` runs from the same start state (other load on the machine
  shows up as spread, not as a slower product). The same file again measures the duplicate
  path (nothing is stored twice). Checked afterwards:
  events stored, shipments delivered, orders delivered and flagged, all exact.
- **webhook**: a real server — ``gunicorn`` with ``--webhook-workers`` sync workers on
  127.0.0.1 against the benchmark database, ``DEBUG=0`` — and a bounded load:
  ``--webhook-requests`` signed single-event POSTs (default 2,000) from
  ``--webhook-concurrency`` client threads (default 8), each a new event for one of 1,000
  parcels in transit. Requests/s and latency percentiles; every answer must be 200 and every
  event stored once.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import analyze, heading, measure, rate, row, wipe_business_data

HELP = (
    "pick-list PDF of 500 orders/1,500 lines (time, peak memory); 100k-event carrier CSV "
    "ingest (events/s); signed webhook against gunicorn on 127.0.0.1 (requests/s)"
)

BASE_DIR = Path(__file__).resolve().parent.parent
STATUS_STEPS = (  # (status, hours after hand-over, location, description)
    ("picked_up", 2, "Origin depot", "Picked up"),
    ("in_transit", 12, "Memphis hub", "Arrived at hub"),
    ("in_transit", 30, "Regional sort centre", "Departed sort centre"),
    ("out_for_delivery", 44, "Local depot", "On the delivery van"),
    ("delivered", 48, "Customer address", "Left at front door"),
)
EXCEPTION_SHARE = 0.01


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--wave-orders", type=int, default=500, help="orders in the pick wave")
    group.add_argument("--wave-lines", type=int, default=3, help="lines per wave order")
    group.add_argument("--wave-skus", type=int, default=400, help="SKUs of the wave's client")
    group.add_argument("--events", type=int, default=100_000, help="events in the status file")
    group.add_argument(
        "--ingest-repeat",
        type=int,
        default=3,
        help="ingest the file this many times from the same start (best and median printed; "
        "the machine's other load shows up as spread)",
    )
    group.add_argument(
        "--webhook-requests", type=int, default=2_000, help="webhook calls (0 skips it)"
    )
    group.add_argument("--webhook-concurrency", type=int, default=8, help="client threads")
    group.add_argument(
        "--webhook-workers",
        type=int,
        default=max(2, (os.cpu_count() or 1) * 2),
        help="gunicorn sync workers (default 2 × CPUs)",
    )
    group.add_argument("--fulfillment-seed", type=int, default=20_250_611, help="random seed")


# -- data ---------------------------------------------------------------------------------------
def _client_and_stock(code: str, skus: int, rng: random.Random):
    from clients.models import Client
    from inventory.models import Product, StockLevel, StockMovement, Warehouse

    client = Client.objects.create(code=code, name=f"Benchmark {code}", currency="USD")
    warehouse, _ = Warehouse.objects.get_or_create(code="BENCH", defaults={"name": "Bench DC"})
    products = Product.objects.bulk_create(
        [
            Product(client=client, sku=f"{code}-{i:05d}", name=f"Benchmark product {i} " * 2)
            for i in range(skus)
        ],
        batch_size=2_000,
    )
    levels = StockLevel.objects.bulk_create(
        [
            StockLevel(
                client=client,
                product=p,
                warehouse=warehouse,
                bin_location=f"{chr(65 + i % 20)}-{i % 40:02d}-{i % 5}",
                on_hand=100_000,
            )
            for i, p in enumerate(products)
        ],
        batch_size=2_000,
    )
    StockMovement.objects.bulk_create(
        [
            StockMovement(
                client=client,
                stock_level=lv,
                product_id=lv.product_id,
                warehouse=warehouse,
                kind="receipt",
                quantity=lv.on_hand,
                balance_after=lv.on_hand,
                reference="bench",
            )
            for lv in levels
        ],
        batch_size=2_000,
    )
    return client, warehouse, levels


def _orders(client, count: int, rng: random.Random, now: datetime, status: str, **extra):
    from orders.models import Order

    return Order.objects.bulk_create(
        [
            Order(
                client=client,
                number=f"{client.code}-{i:07d}",
                placed_at=now - timedelta(hours=rng.randint(1, 100)),
                ship_by=now + timedelta(hours=rng.randint(-10, 72)),
                currency="USD",
                status=status,
                priority_score=rng.randint(0, 1000),
                ship_to_name=f"Customer {i}",
                ship_to_address1=f"{i} Bench Street",
                ship_to_city="Springfield",
                ship_to_postcode=f"{10000 + i % 89999}",
                ship_to_country="US",
                **extra,
            )
            for i in range(count)
        ],
        batch_size=2_000,
    )


def build_wave_orders(args, rng: random.Random, now: datetime):
    """Ready orders with their allocations in one warehouse, levels' ``allocated`` matching."""
    from inventory.models import StockLevel
    from orders.models import Allocation, OrderLine

    client, warehouse, levels = _client_and_stock("PICK", args.wave_skus, rng)
    orders = _orders(client, args.wave_orders, rng, now, "ready")
    lines, allocs = [], []
    for order in orders:
        for n, lv in enumerate(rng.sample(levels, args.wave_lines), start=1):
            qty = rng.choice((1, 1, 2, 3))
            lines.append(
                OrderLine(
                    order=order,
                    line_no=n,
                    product_id=lv.product_id,
                    quantity=qty,
                    qty_allocated=qty,
                    unit_price=Decimal("9.90"),
                )
            )
    OrderLine.objects.bulk_create(lines, batch_size=2_000)
    by_product = {lv.product_id: lv for lv in levels}
    for line in lines:
        lv = by_product[line.product_id]
        lv.allocated += line.quantity
        allocs.append(Allocation(line=line, stock_level=lv, quantity=line.quantity))
    Allocation.objects.bulk_create(allocs, batch_size=2_000)
    StockLevel.objects.bulk_update(levels, ["allocated"], batch_size=2_000)
    return client, warehouse, len(lines)


def build_shipments(code: str, count: int, rng: random.Random, now: datetime, carrier, service):
    """``count`` shipped orders of one line each, each with one shipment of ``carrier``."""
    from fulfillment.models import Shipment, compute_eta
    from orders.models import OrderLine

    client, _warehouse, levels = _client_and_stock(code, 50, rng)
    orders = _orders(client, count, rng, now, "shipped", segment="closed")
    OrderLine.objects.bulk_create(
        [
            OrderLine(order=o, product_id=rng.choice(levels).product_id, quantity=1, qty_shipped=1)
            for o in orders
        ],
        batch_size=2_000,
    )
    shipped_at = now - timedelta(days=3)
    shipments = Shipment.objects.bulk_create(
        [
            Shipment(
                client=client,
                order=o,
                carrier=carrier,
                service=service,
                tracking_number=f"{code}{i:010d}",
                shipped_at=shipped_at - timedelta(minutes=rng.randint(0, 600)),
                eta=compute_eta(shipped_at, service.transit_days),
            )
            for i, o in enumerate(orders)
        ],
        batch_size=2_000,
    )
    return client, shipments


def _carrier():
    from fulfillment.models import Carrier, CarrierService

    carrier = Carrier.objects.create(
        name="Bench Carrier",
        code="BENCH",
        tracking_url_template="https://bench.example/{tracking_number}",
        webhook_secret="bench-secret-" + "x" * 20,
    )
    service = CarrierService.objects.create(
        carrier=carrier, code="STD", name="Standard", transit_days=3, price=Decimal("5.00")
    )
    return carrier, service


# -- 1. pick list -------------------------------------------------------------------------------
def bench_pick_list(args, rng, now) -> bool:
    from django.utils import timezone

    from fulfillment import selectors, services
    from fulfillment.pdf import render_document

    heading(f"Pick list: wave of {args.wave_orders} orders × {args.wave_lines} lines")
    started = time.perf_counter()
    client, warehouse, line_count = build_wave_orders(args, rng, now)
    analyze()
    row("data set built", time.perf_counter() - started, "s")

    with measure() as m:
        wave = services.wave_create(
            client=client, warehouse=warehouse, size=min(args.wave_orders, services.MAX_WAVE_SIZE)
        )
    row("wave_create (orders → picking)", m.seconds, f"s, {m.queries} SQL statements")
    row("wave orders / units", f"{wave.order_count} / {wave.unit_count}")

    with measure() as m:
        picks = selectors.pick_list(wave)
    row("pick_list selector", m.seconds * 1000, f"ms, {m.queries} SQL statements")
    row("pick rows (bin × SKU) / order lines", f"{len(picks.rows)} / {picks.line_count}")
    context = {"wave": wave, "picks": picks, "printed_at": timezone.now()}
    ok = picks.line_count == line_count and len(picks.orders) == wave.order_count

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row("machine load (1-min average)", os.getloadavg()[0])
    for paper in ("a4", "letter"):
        started, cpu = time.perf_counter(), time.process_time()
        document = render_document("fulfillment/pdf/pick_list.html", context, paper=paper)
        laid_out = time.perf_counter() - started
        pdf = document.write_pdf()
        total, cpu = time.perf_counter() - started, time.process_time() - cpu
        row(
            f"PDF {paper}: layout + write",
            f"{laid_out:.2f} s + {total - laid_out:.2f} s = {total:.2f} s",
            f"(CPU {cpu:.2f} s; {len(document.pages)} pages, {len(pdf) / 1024:,.0f} KB)",
        )
        ok = ok and pdf.startswith(b"%PDF") and len(document.pages) > 1
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row(
        "process RSS high-water before → after",
        f"{rss_before / 1024:,.0f} → {rss_after / 1024:,.0f}",
        "MB",
    )

    # What a click costs once the worker (or the first click) has stored the file.
    from django.test.utils import override_settings

    from fulfillment.pdf import pick_list_pdf

    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media):
        started = time.perf_counter()
        pick_list_pdf(wave=wave, paper="a4")
        cold = time.perf_counter() - started
        started = time.perf_counter()
        stored = pick_list_pdf(wave=wave, paper="a4")
        warm = time.perf_counter() - started
        ok = ok and stored.startswith(b"%PDF")
    row("pick_list_pdf: first (render + store)", cold, "s")
    row("pick_list_pdf: again (stored file)", warm * 1000, "ms")

    tracemalloc.start()
    render_document("fulfillment/pdf/pick_list.html", context, paper="a4").write_pdf()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    row("Python heap peak while rendering (A4)", peak / 1024 / 1024, "MB (tracemalloc)")
    return ok


# -- 2. status file -----------------------------------------------------------------------------
def write_status_file(path: Path, shipments, rng: random.Random) -> tuple[int, int, int]:
    """The carrier's CSV, sorted by time; returns (events, delivered parcels, exceptions)."""
    rows = []
    delivered = exceptions = 0
    for s in shipments:
        problem = rng.random() < EXCEPTION_SHARE
        for status, hours, location, text in STATUS_STEPS:
            if problem and status == "out_for_delivery":
                status, text = "exception", "Address not found"
            if problem and status == "delivered":
                continue
            moment = s.shipped_at + timedelta(hours=hours, minutes=rng.randint(0, 59))
            rows.append((moment, s.tracking_number, status, location, text))
        if problem:
            # Keep five events per parcel: the carrier reports a second attempt.
            moment = s.shipped_at + timedelta(hours=50)
            rows.append((moment, s.tracking_number, "in_transit", "Local depot", "Re-attempt"))
            exceptions += 1
        else:
            delivered += 1
    rows.sort(key=lambda r: r[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tracking_number", "status", "time", "location", "description"])
        for moment, number, status, location, text in rows:
            writer.writerow([number, status, moment.isoformat(), location, text])
    return len(rows), delivered, exceptions


def bench_status_file(args, rng, now, carrier, service) -> bool:
    from fulfillment.models import Shipment, TrackingEvent
    from fulfillment.services import tracking_events_ingest
    from fulfillment.tracking_input import read_tracking_csv
    from orders.models import Order

    parcels = max(1, args.events // len(STATUS_STEPS))
    heading(f"Carrier status file: {args.events:,} events for {parcels:,} parcels")
    started = time.perf_counter()
    client, shipments = build_shipments("FILE", parcels, rng, now, carrier, service)
    analyze()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "status.csv"
        events, delivered, exceptions = write_status_file(path, shipments, rng)
        row("data set built + CSV written", time.perf_counter() - started, "s")
        row("file", f"{path.stat().st_size / 1024 / 1024:.1f} MB, {events:,} rows")

        def run():
            t0 = time.perf_counter()
            with path.open("rb") as handle:
                parsed = read_tracking_csv(handle)
            t1 = time.perf_counter()
            with measure() as m:
                report = tracking_events_ingest(
                    carrier=carrier, events=parsed.events, source=TrackingEvent.Source.CSV
                )
            return parsed, report, t1 - t0, m

        runs = []
        for attempt in range(1, max(1, args.ingest_repeat) + 1):
            if attempt > 1:
                _reset_status_file_state(client)
            parsed, report, parse_s, m = run()
            runs.append(parse_s + m.seconds)
            row(
                f"run {attempt}: parse + ingest",
                f"{parse_s:.2f} s + {m.seconds:.2f} s",
                f"= {rate(events, parse_s + m.seconds):,.0f} events/s "
                f"({m.queries:,} SQL statements; load {os.getloadavg()[0]:.1f})",
            )
        row("events/s, parse + ingest (best run)", rate(events, min(runs)), "events/s")
        if len(runs) > 1:
            row("events/s, parse + ingest (median)", rate(events, statistics.median(runs)))
        row(
            "created / duplicates / bad rows",
            f"{report.created:,} / {report.duplicates:,} / {parsed.error_count}",
        )
        row(
            "orders delivered / flagged", f"{report.orders_delivered:,} / {report.orders_flagged:,}"
        )

        _parsed2, report2, parse2_s, m2 = run()
        row("same file again (all duplicates)", rate(events, parse2_s + m2.seconds), "events/s")

    stored = TrackingEvent.objects.filter(client=client).count()
    ok = (
        parsed.error_count == 0
        and report.created == events == stored
        and report2.created == 0
        and report2.duplicates == events
        and report.orders_delivered == delivered
        and report.orders_flagged == exceptions
        and Order.objects.filter(client=client, status="delivered").count() == delivered
        and Order.objects.filter(client=client, exception_flag=True).count() == exceptions
        and Shipment.objects.filter(client=client, delivered_at__isnull=False).count() == delivered
    )
    row("checks (stored once, orders exact)", "ok" if ok else "FAILED")
    return ok


def _reset_status_file_state(client) -> None:
    """Undo an ingestion (events, shipment states, delivered/flagged orders) for another run."""
    from django.db import connection

    from fulfillment.models import Shipment, TrackingEvent
    from orders.models import Order, OrderEvent

    TrackingEvent.objects.filter(client=client).delete()
    OrderEvent.objects.filter(order__client=client).delete()
    Order.objects.filter(client=client).update(
        status="shipped", segment="closed", exception_flag=False, delay_reason=""
    )
    Shipment.objects.filter(client=client).update(
        status="label_created", delivered_at=None, last_event_at=None
    )
    with connection.cursor() as cursor:
        for model in (TrackingEvent, OrderEvent, Order, Shipment):
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


# -- 3. webhook ---------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(args, port: int) -> subprocess.Popen:
    from django.db import connection

    settings_dict = connection.settings_dict
    url = (
        f"postgres://{settings_dict.get('USER') or 'postgres'}"
        f"{':' + settings_dict['PASSWORD'] if settings_dict.get('PASSWORD') else ''}"
        f"@{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}"
        f"/{settings_dict['NAME']}"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-" + "k" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "bpo_backoffice.settings",
    }
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "bpo_backoffice.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.webhook_workers),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/webhooks/carriers/BENCH/")
            if conn.getresponse().status == 405:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not answer within 30 s")


def _stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_webhook(args, rng, now, carrier, service) -> bool:
    from fulfillment.models import TrackingEvent
    from fulfillment.views import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

    if args.webhook_requests <= 0:
        return True
    heading(
        f"Webhook: {args.webhook_requests:,} signed calls, {args.webhook_concurrency} client "
        f"threads, gunicorn × {args.webhook_workers} sync workers on 127.0.0.1"
    )
    client, shipments = build_shipments("HOOK", 1_000, rng, now, carrier, service)
    analyze()
    numbers = [s.tracking_number for s in shipments]
    base = datetime.now(UTC) - timedelta(days=1)
    port = _free_port()
    proc = _start_server(args, port)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def call(i: int) -> None:
        body = json.dumps(
            {
                "tracking_number": numbers[i % len(numbers)],
                "status": "in_transit",
                "occurred_at": (base + timedelta(seconds=i)).isoformat(),
                "location": "Hub",
                "description": f"Scan {i}",
            }
        ).encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(carrier.webhook_secret, stamp, body),
        }
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", f"/webhooks/carriers/{carrier.code}/", body, headers)
            status = conn.getresponse().status
        except OSError:
            status = 0
        finally:
            conn.close()
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    row("machine load (1-min average)", os.getloadavg()[0])
    try:
        # Warm up every worker (imports, connections) before timing.
        with ThreadPoolExecutor(args.webhook_concurrency) as pool:
            list(pool.map(call, range(args.webhook_requests, args.webhook_requests + 50)))
        latencies.clear()
        statuses.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.webhook_concurrency) as pool:
            list(pool.map(call, range(args.webhook_requests)))
        wall = time.perf_counter() - started
    finally:
        _stop_server(proc)

    cuts = statistics.quantiles(latencies, n=100)
    row("requests/s", rate(len(latencies), wall), "req/s")
    row(
        "latency p50 / p95 / p99",
        f"{cuts[49] * 1000:.1f} / {cuts[94] * 1000:.1f} / {cuts[98] * 1000:.1f}",
        "ms",
    )
    row("answers", ", ".join(f"{k}: {v:,}" for k, v in sorted(statuses.items())))
    stored = TrackingEvent.objects.filter(client=client, source="webhook").count()
    ok = statuses == {200: args.webhook_requests} and stored == args.webhook_requests + 50
    row("checks (all 200, each event stored once)", "ok" if ok else f"FAILED ({stored} stored)")
    return ok


def run(args) -> bool:
    rng = random.Random(args.fulfillment_seed)
    now = datetime.now(UTC)
    wipe_business_data()
    from fulfillment.models import Carrier, CarrierService, ServiceLevelRule

    # Shipments went with the clients (TRUNCATE … CASCADE); carriers are shared configuration.
    ServiceLevelRule.objects.all().delete()
    CarrierService.objects.all().delete()
    Carrier.objects.all().delete()
    ok = bench_pick_list(args, rng, now)
    carrier, service = _carrier()
    ok = bench_status_file(args, rng, now, carrier, service) and ok
    ok = bench_webhook(args, rng, now, carrier, service) and ok
    return ok
