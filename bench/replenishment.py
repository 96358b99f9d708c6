"""Replenishment: a full run over 100,000 product × warehouse rules with 2,000,000 order lines
of demand history, beside a per-rule ORM loop on a sample.

Data (generated with ``COPY`` through ``core.bulk.insert_rows``, timed separately):
``--rep-clients`` clients (default 10), ``--rep-products`` products in all (default 50,000)
stocked in two warehouses, one reorder rule per product × warehouse (default 100,000; half
min/max, half demand-driven over 28 days), ``--rep-suppliers`` suppliers per client with terms
(packs, MOQs) for every product, and ``--rep-lines`` order lines (default 2,000,000, one to
four per order) placed over the last 40 days, in every status (shipped, ready, backordered,
cancelled …).

Measured:

- **full run** (``replenishment_run``, what the hourly task does): wall time, CPU, SQL
  statements; then the **same run again** (idempotent: same drafts, nothing rewritten);
- **query count vs. size**: the run for one client (a tenth of the rules) — the number of
  statements must be the same as for all of them (set-based: it does not grow with rules);
- **baseline**: the way a careful Django developer would write it rule by rule — per rule, read
  the stock level, aggregate that product's daily demand with the ORM, compute the same plan,
  ``get_or_create`` the draft and ``update_or_create`` its line — on ``--rep-baseline`` rules
  (default 500) in a transaction that is rolled back; extrapolated to all rules.
Checked afterwards: one draft per supplier × warehouse, the second run wrote no line, and the
plan of the sampled rules equals the full run's.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import timedelta
from decimal import Decimal

from bench.common import analyze, heading, measure, row, wipe_business_data

HELP = (
    "replenishment run over 100k reorder rules with 2M order lines of demand history "
    "(seconds, SQL statements) vs. a per-rule ORM loop on a sample"
)


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--rep-clients", type=int, default=10)
    group.add_argument("--rep-products", type=int, default=50_000, help="products (× 2 warehouses)")
    group.add_argument("--rep-lines", type=int, default=2_000_000, help="order lines of history")
    group.add_argument("--rep-suppliers", type=int, default=20, help="suppliers per client")
    group.add_argument("--rep-baseline", type=int, default=500, help="rules in the ORM loop")
    group.add_argument("--rep-seed", type=int, default=13)


def _generate(args, rng: random.Random):
    from django.db import transaction
    from django.utils import timezone

    from clients.models import Client
    from core.bulk import insert_rows
    from inventory.models import (
        Product,
        ReorderRule,
        StockLevel,
        Supplier,
        SupplierProduct,
        Warehouse,
    )
    from orders.models import Order, OrderLine

    now = timezone.now()
    with transaction.atomic():
        warehouses = insert_rows(
            Warehouse, ["code", "name"], [("EAST", "East DC"), ("WEST", "West DC")]
        )
        clients = insert_rows(
            Client,
            ["code", "name", "currency"],
            [(f"R{c:02d}", f"Replenish client {c}", "USD") for c in range(args.rep_clients)],
        )
        per_client = args.rep_products // len(clients)
        product_rows, owner = [], []
        for c, client_id in enumerate(clients):
            for i in range(per_client):
                product_rows.append(
                    (
                        client_id,
                        f"R{c:02d}-{i:06d}",
                        f"Product {i}",
                        Decimal(rng.randint(100, 5000)) / 100,
                    )
                )
                owner.append(client_id)
        products = insert_rows(Product, ["client_id", "sku", "name", "unit_cost"], product_rows)
        level_rows, rule_rows = [], []
        for product_id, client_id in zip(products, owner, strict=True):
            for w in warehouses:
                level_rows.append((client_id, product_id, w, rng.randint(0, 200)))
                demand = rng.random() < 0.5
                rule_rows.append(
                    (
                        client_id,
                        product_id,
                        w,
                        "demand" if demand else "min_max",
                        rng.randint(5, 30),
                        rng.randint(60, 200),
                    )
                )
        insert_rows(
            StockLevel,
            ["client_id", "product_id", "warehouse_id", "on_hand"],
            level_rows,
            return_ids=False,
        )
        insert_rows(
            ReorderRule,
            ["client_id", "product_id", "warehouse_id", "policy", "min_qty", "max_qty"],
            rule_rows,
            return_ids=False,
        )
        suppliers = {}
        for client_id in clients:
            ids = insert_rows(
                Supplier,
                ["client_id", "code", "name", "email", "lead_time_days"],
                [
                    (
                        client_id,
                        f"S{s:02d}",
                        f"Supplier {s}",
                        f"s{s}@example.com",
                        rng.randint(3, 15),
                    )
                    for s in range(args.rep_suppliers)
                ],
            )
            suppliers[client_id] = ids
        insert_rows(
            SupplierProduct,
            [
                "client_id",
                "supplier_id",
                "product_id",
                "supplier_sku",
                "unit_cost",
                "min_order_qty",
                "pack_multiple",
                "preferred",
            ],
            [
                (
                    client_id,
                    suppliers[client_id][i % args.rep_suppliers],
                    product_id,
                    f"SS-{product_id}",
                    Decimal("1.50"),
                    rng.choice((1, 1, 10, 20)),
                    rng.choice((1, 6, 12, 24)),
                    True,
                )
                for i, (product_id, client_id) in enumerate(zip(products, owner, strict=True))
            ],
            return_ids=False,
        )
    # Orders and lines: the demand history.
    statuses = (
        ["shipped"] * 55
        + ["delivered"] * 10
        + ["ready"] * 15
        + ["backordered"] * 10
        + ["cancelled"] * 10
    )
    by_client: dict[int, list[int]] = {}
    for product_id, client_id in zip(products, owner, strict=True):
        by_client.setdefault(client_id, []).append(product_id)
    lines_left, order_no = args.rep_lines, 0
    while lines_left > 0:
        with transaction.atomic():
            order_rows, line_specs = [], []
            for _ in range(50_000):
                if lines_left <= 0:
                    break
                client_id = rng.choice(clients)
                placed = now - timedelta(minutes=rng.randint(1, 40 * 24 * 60))
                n = min(rng.choice((1, 1, 2, 3, 4)), lines_left)
                lines_left -= n
                order_no += 1
                order_rows.append(
                    (
                        client_id,
                        f"B{order_no:08d}",
                        placed,
                        placed + timedelta(days=3),
                        "USD",
                        rng.choice(statuses),
                    )
                )
                line_specs.append(
                    [
                        (rng.choice(by_client[client_id]), rng.choice((1, 1, 2, 3, 5)))
                        for _ in range(n)
                    ]
                )
            ids = insert_rows(
                Order,
                ["client_id", "number", "placed_at", "ship_by", "currency", "status"],
                order_rows,
            )
            insert_rows(
                OrderLine,
                ["order_id", "line_no", "product_id", "quantity"],
                [
                    (order_id, no, product_id, qty)
                    for order_id, specs in zip(ids, line_specs, strict=True)
                    for no, (product_id, qty) in enumerate(specs, start=1)
                ],
                return_ids=False,
            )
    return clients


def _per_rule_orm_loop(rule_ids: list[int]) -> dict[int, int]:
    """The baseline: everything per rule with the ORM (what the run does set-based)."""
    from django.db.models import F, Sum
    from django.db.models.functions import TruncDate
    from django.utils import timezone

    from inventory.models import (
        PurchaseOrder,
        PurchaseOrderLine,
        ReorderRule,
        StockLevel,
        SupplierProduct,
    )
    from inventory.planning import PlanInput, demand_stats, plan
    from orders.models import OrderLine

    today = timezone.localdate()
    out = {}
    for rule in (
        ReorderRule.objects.filter(pk__in=rule_ids).select_related("product").order_by("pk")
    ):
        level = StockLevel.objects.filter(
            product_id=rule.product_id, warehouse_id=rule.warehouse_id
        ).first()
        projected = (
            (level.on_hand + level.on_order - level.allocated - level.backordered) if level else 0
        )
        projected += (
            PurchaseOrderLine.objects.filter(
                product_id=rule.product_id,
                purchase_order__warehouse_id=rule.warehouse_id,
                purchase_order__status__in=("approved",),
            ).aggregate(s=Sum(F("quantity") - F("quantity_received")))["s"]
            or 0
        )
        terms = (
            SupplierProduct.objects.select_related("supplier")
            .filter(product_id=rule.product_id, preferred=True)
            .first()
        )
        since = today - timedelta(days=rule.demand_days)
        daily = (
            OrderLine.objects.filter(
                product_id=rule.product_id,
                order__placed_at__date__gte=since,
                order__placed_at__date__lt=today,
            )
            .exclude(order__status="cancelled")
            .annotate(day=TruncDate("order__placed_at"))
            .values("day")
            .annotate(units=Sum(F("quantity") - F("qty_cancelled")))
            .values_list("units", flat=True)
        )
        units = list(daily)
        share = ReorderRule.objects.filter(product_id=rule.product_id, active=True).count()
        mean, sigma = demand_stats(
            sum(units) / share, sum(u * u for u in units) / share**2, rule.demand_days
        )
        result = plan(
            PlanInput(
                policy=rule.policy,
                projected=projected,
                today=today,
                min_qty=rule.min_qty,
                max_qty=rule.max_qty,
                daily_demand=mean,
                demand_sigma=sigma,
                demand_days=rule.demand_days,
                lead_days=float(terms.lead_time_days or terms.supplier.lead_time_days),
                review_days=rule.review_days,
                moq=terms.min_order_qty,
                pack=terms.pack_multiple,
            )
        )
        ReorderRule.objects.filter(pk=rule.pk).update(
            suggested_qty=result.suggested_qty, explanation=result.explanation
        )
        if result.suggested_qty:
            po, _ = PurchaseOrder.objects.get_or_create(
                supplier_id=terms.supplier_id,
                warehouse_id=rule.warehouse_id,
                status="draft",
                defaults={"client_id": rule.client_id},
            )
            PurchaseOrderLine.objects.update_or_create(
                purchase_order=po,
                product_id=rule.product_id,
                defaults={"quantity": result.suggested_qty, "unit_cost": terms.unit_cost},
            )
        out[rule.pk] = result.suggested_qty
    return out


def _phases(run) -> None:
    row("phases (s)", ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items()))


def run(args) -> bool:
    from django.db import connection, transaction

    from inventory.models import PurchaseOrder, PurchaseOrderLine, ReorderRule
    from inventory.replenishment import replenishment_run

    rng = random.Random(args.rep_seed)
    heading("Setup")
    wipe_business_data()
    started = time.perf_counter()
    clients = _generate(args, rng)
    row("generate (COPY)", time.perf_counter() - started, "s")
    started = time.perf_counter()
    analyze()
    row("ANALYZE", time.perf_counter() - started, "s")
    rules = ReorderRule.objects.count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM orders_orderline")
        lines = cursor.fetchone()[0]
    row("reorder rules", rules)
    row("order lines of history", lines)
    row("load average (1/5/15 min)", " / ".join(f"{x:.2f}" for x in os.getloadavg()))

    ok = True
    heading(f"Full run over {rules:,} rules")
    with measure() as m1:
        run1 = replenishment_run(trigger="bench")
    row("wall", m1.seconds, "s")
    row("SQL statements", m1.queries)
    print(f"  {m1.cpu_note()}")
    row(
        "to order / drafts / lines",
        f"{run1.suggestions:,} / {run1.pos_created:,} / {run1.lines_written:,}",
    )
    _phases(run1)
    heading("Same run again (idempotent)")
    with measure() as m2:
        run2 = replenishment_run(trigger="bench")
    row("wall", m2.seconds, "s")
    row("SQL statements", m2.queries)
    row("drafts created / lines written", f"{run2.pos_created} / {run2.lines_written}")
    _phases(run2)
    if run2.pos_created or run2.lines_written:
        print("  CHECK FAILED: the second run changed purchase orders")
        ok = False
    drafts = PurchaseOrder.objects.filter(status="draft")
    pairs = drafts.values_list("supplier_id", "warehouse_id")
    if len(set(pairs)) != drafts.count():
        print("  CHECK FAILED: two drafts for one supplier × warehouse")
        ok = False

    heading("Query count vs. number of rules")
    with measure() as m3:
        replenishment_run(client_ids=[clients[0]], trigger="bench")
    row(
        f"one client ({rules // len(clients):,} rules)",
        f"{m3.queries} statements, {m3.seconds:.2f} s",
    )
    row(f"all clients ({rules:,} rules)", f"{m2.queries} statements, {m2.seconds:.2f} s")

    if args.rep_baseline:
        sample = list(
            ReorderRule.objects.order_by("?").values_list("pk", flat=True)[: args.rep_baseline]
        )
        full = dict(ReorderRule.objects.filter(pk__in=sample).values_list("pk", "suggested_qty"))
        heading(f"Baseline: per-rule ORM loop on {len(sample):,} random rules (rolled back)")
        with measure() as mb, transaction.atomic():
            PurchaseOrderLine.objects.filter(purchase_order__status="draft").delete()
            PurchaseOrder.objects.filter(status="draft").delete()
            loop = _per_rule_orm_loop(sample)
            transaction.set_rollback(True)
        per_rule = mb.seconds / len(sample)
        row("wall", mb.seconds, "s")
        row("SQL statements", mb.queries)
        row("per rule", per_rule * 1000, "ms")
        row(f"extrapolated to {rules:,} rules", per_rule * rules, "s")
        row("set-based run is faster by", f"× {per_rule * rules / m1.seconds:.1f}")
        differ = [pk for pk in sample if loop[pk] != full[pk]]
        if differ:
            print(
                f"  CHECK FAILED: {len(differ)} sampled rules planned differently, "
                f"e.g. {differ[:5]}"
            )
            ok = False
        else:
            row("same suggestions as the run", f"{len(sample)} of {len(sample)}")
    row("load average after (1/5/15 min)", " / ".join(f"{x:.2f}" for x in os.getloadavg()))
    return ok
