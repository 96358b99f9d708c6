"""Allocation throughput: orders reserved against stock per second, in batch and one at a time.

Data set (written with PostgreSQL ``COPY``, timed separately): one client, ``--skus`` products
with a long-tail popularity (a few SKUs are in many orders), a stock level per product and warehouse
with ``on_hand`` and the matching receipt in the stock ledger, customers of every tier, and
``--orders`` new orders of 1–5 lines with ship-by promise and priority score computed by
``orders.services.priority``. Stock is sized from the demand: most SKUs are covered with some
margin, a share (``--scarce``) covers only 30–90 % of their demand, and each SKU's stock is
spread unevenly over the warehouses (often missing from one), so some orders are backordered
and some are split over warehouses.

Measured:

- **batch**: ``orders_allocate_in_priority_order(order_ids=all, chunk=--chunk)``;
- **baseline** (same run): ``orders_allocate(order_ids=[id])`` called once per order, most urgent
  first, over a scaled-down copy of the data set (``--baseline`` orders, SKUs in proportion).
  A second identical copy is allocated in batch and compared order by order with the first:
  both ways must reserve the same units in the same warehouses.

Afterwards the invariants are checked in SQL: ``0 ≤ allocated ≤ on_hand``; a level's allocated
and backordered are the sums of its allocations and backordered lines; every line has
``allocated + backordered = open``; every order is ready (nothing backordered) or backordered;
the ledger sums to ``on_hand``.
"""

from __future__ import annotations

import argparse
import cProfile
import math
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from bench.common import analyze, heading, measure, rate, row, wipe_business_data

HELP = "allocate N orders of 1–5 lines against SKUs in warehouses (orders/s, batch vs one-by-one)"

ORDER_WRITE_CHUNK = 5_000
LINE_COUNTS = (1, 2, 3, 4, 5)
LINE_WEIGHTS = (35, 25, 18, 12, 10)
QTYS = (1, 2, 3, 4)
QTY_WEIGHTS = (60, 25, 10, 5)
SERVICE_LEVELS = ("standard", "expedited", "overnight")
SERVICE_WEIGHTS = (75, 20, 5)
TIERS = ("standard", "silver", "gold", "vip")
TIER_WEIGHTS = (70, 15, 10, 5)
POPULARITY_EXPONENT = 0.8  # Zipf-like: weight of the k-th most popular SKU ∝ 1 / k^0.8


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--orders", type=int, default=100_000, help="orders (default %(default)s)")
    group.add_argument("--skus", type=int, default=10_000, help="products (default %(default)s)")
    group.add_argument("--warehouses", type=int, default=3, help="warehouses (default %(default)s)")
    group.add_argument(
        "--chunk", type=int, default=2000, help="orders per batch transaction (default %(default)s)"
    )
    group.add_argument(
        "--baseline",
        type=int,
        default=2_000,
        help="orders in the one-at-a-time baseline sample, 0 to skip (default %(default)s)",
    )
    group.add_argument(
        "--scarce",
        type=float,
        default=0.15,
        help="share of SKUs whose stock covers only 30–90%% of demand (default %(default)s)",
    )
    group.add_argument("--seed", type=int, default=20_250_601, help="random seed")
    group.add_argument(
        "--profile",
        metavar="FILE",
        help="write a cProfile of the batch allocation to FILE (slows it down; read with "
        "python -m pstats FILE)",
    )


# -- data set -----------------------------------------------------------------------------------
@dataclass
class DataSet:
    client: object
    order_ids: list[int]
    skus: int
    lines: int
    units: int
    stock_units: int
    scarce_skus: int
    rows: int
    seconds: float = 0.0


def generate(*, code: str, orders: int, skus: int, warehouses, scarce: float, seed: int, now):
    """Build one client's data set; the same arguments give the same data (except ids)."""
    from clients.models import Client
    from core.bulk import bulk_insert
    from inventory.models import Product, StockLevel, StockMovement
    from orders.models import Customer, Order, OrderLine
    from orders.services.priority import PriorityInput, compute_priority, compute_segment

    started = time.perf_counter()
    rng = random.Random(seed)
    client = Client.objects.create(code=code, name=f"Benchmark {code}", currency="USD")

    prices = [Decimal(rng.randint(300, 20_000)) / 100 for _ in range(skus)]
    products = bulk_insert(
        Product,
        [
            Product(
                client=client,
                sku=f"{code}-{i:06d}",
                name=f"Benchmark product {i}",
                unit_cost=prices[i] / 2,
            )
            for i in range(skus)
        ],
    )
    product_ids = [p.pk for p in products]
    rank = list(range(skus))
    rng.shuffle(rank)  # popularity is not correlated with SKU number or primary key
    cum, total = [], 0.0
    for k in range(skus):
        total += 1.0 / (k + 1) ** POPULARITY_EXPONENT
        cum.append(total)

    tiers = rng.choices(TIERS, TIER_WEIGHTS, k=max(1, orders // 20))
    customers = bulk_insert(
        Customer,
        [
            Customer(
                client=client,
                external_id=f"C{i}",
                name=f"Customer {i}",
                email=f"c{i}@example.com",
                tier=tier,
            )
            for i, tier in enumerate(tiers)
        ],
    )

    # Orders in memory first: stock is sized from their demand.
    plan = []
    demand = [0] * skus
    n_lines = n_units = 0
    for i in range(orders):
        count = rng.choices(LINE_COUNTS, LINE_WEIGHTS)[0]
        picked: list[int] = []
        for _ in range(count * 3):
            idx = rank[rng.choices(range(skus), cum_weights=cum)[0]] if skus > 1 else 0
            if idx not in picked:
                picked.append(idx)
            if len(picked) == count:
                break
        lines = [(idx, rng.choices(QTYS, QTY_WEIGHTS)[0]) for idx in picked]
        for idx, qty in lines:
            demand[idx] += qty
        n_lines += len(lines)
        n_units += sum(q for _, q in lines)
        c = rng.randrange(len(customers))
        plan.append(
            (
                i,
                c,
                now - timedelta(minutes=rng.randint(0, 10 * 24 * 60)),
                rng.choices(SERVICE_LEVELS, SERVICE_WEIGHTS)[0],
                rng.random() < 0.01,
                lines,
            )
        )

    # Stock: most SKUs covered with a margin, a share scarce; uneven over the warehouses.
    levels, scarce_skus, stock_units = [], 0, 0
    for idx in range(skus):
        need = demand[idx]
        if need == 0:
            units = rng.randint(0, 20)
        elif rng.random() < scarce:
            units = int(need * rng.uniform(0.3, 0.9))
            scarce_skus += 1
        else:
            units = math.ceil(need * rng.uniform(1.05, 1.6))
        shares = [rng.random() + 0.05 for _ in warehouses]
        if len(warehouses) > 1 and rng.random() < 0.35:
            shares[rng.randrange(len(warehouses))] = 0.0  # not stocked in one warehouse
        split = [int(units * s / sum(shares)) for s in shares]
        split[max(range(len(split)), key=shares.__getitem__)] += units - sum(split)
        stock_units += units
        for wh, on_hand in zip(warehouses, split, strict=True):
            levels.append(
                StockLevel(
                    client=client,
                    product_id=product_ids[idx],
                    warehouse=wh,
                    bin_location=f"{wh.code}-{idx % 400:03d}",
                    on_hand=on_hand,
                )
            )
    levels = bulk_insert(StockLevel, levels)
    movements = bulk_insert(
        StockMovement,
        [
            StockMovement(
                client=client,
                stock_level=lv,
                product_id=lv.product_id,
                warehouse=lv.warehouse,
                kind=StockMovement.Kind.RECEIPT,
                quantity=lv.on_hand,
                balance_after=lv.on_hand,
                reference="benchmark opening stock",
            )
            for lv in levels
            if lv.on_hand  # a zero level has no receipt (the ledger forbids zero movements)
        ],
    )

    order_ids: list[int] = []
    for start in range(0, orders, ORDER_WRITE_CHUNK):
        objs, line_specs = [], []
        for i, c, placed_at, level, expedite, lines in plan[start : start + ORDER_WRITE_CHUNK]:
            subtotal = sum((prices[idx] * qty for idx, qty in lines), Decimal(0))
            shipping = Decimal("4.95")
            ship_by = placed_at + timedelta(hours=client.sla_hours(level))
            tier = tiers[c]
            score, breakdown = compute_priority(
                PriorityInput(ship_by, placed_at, level, tier, subtotal + shipping, expedite),
                client,
                now,
            )
            objs.append(
                Order(
                    client=client,
                    number=f"BO-{i + 1:07d}",
                    customer=customers[c],
                    source=Order.Source.CSV,
                    placed_at=placed_at,
                    service_level=level,
                    ship_by=ship_by,
                    ship_to_name=f"Customer {c}",
                    ship_to_address1=f"{i % 997} Main Street",
                    ship_to_city="Springfield",
                    ship_to_postcode=f"{i % 99_999:05d}",
                    ship_to_country="US",
                    currency="USD",
                    subtotal=subtotal,
                    shipping_total=shipping,
                    total=subtotal + shipping,
                    status=Order.Status.NEW,
                    segment=compute_segment(
                        status=Order.Status.NEW,
                        ship_by=ship_by,
                        expedite=expedite,
                        client=client,
                        now=now,
                    ),
                    priority_score=score,
                    priority_breakdown=breakdown,
                    priority_computed_at=now,
                    expedite=expedite,
                )
            )
            line_specs.append(lines)
        bulk_insert(Order, objs)
        bulk_insert(
            OrderLine,
            [
                OrderLine(
                    order_id=order.pk,
                    line_no=n,
                    product_id=product_ids[idx],
                    quantity=qty,
                    unit_price=prices[idx],
                )
                for order, lines in zip(objs, line_specs, strict=True)
                for n, (idx, qty) in enumerate(lines, start=1)
            ],
        )
        order_ids.extend(o.pk for o in objs)

    rows = 1 + skus + len(customers) + len(levels) + len(movements) + orders + n_lines
    return DataSet(
        client=client,
        order_ids=order_ids,
        skus=skus,
        lines=n_lines,
        units=n_units,
        stock_units=stock_units,
        scarce_skus=scarce_skus,
        rows=rows,
        seconds=time.perf_counter() - started,
    )


# -- measuring ----------------------------------------------------------------------------------
def _priority_ordered(order_ids: list[int]) -> list[int]:
    from orders.models import Order

    return list(
        Order.objects.filter(pk__in=order_ids)
        .order_by("-priority_score", "ship_by", "placed_at", "id")
        .values_list("id", flat=True)
    )


def allocate_batch(data: DataSet, chunk: int, profile: str | None = None):
    from orders.services.allocation import orders_allocate_in_priority_order

    profiler = cProfile.Profile() if profile else None
    with measure() as m:
        if profiler:
            profiler.enable()
        report = orders_allocate_in_priority_order(order_ids=data.order_ids, chunk=chunk)
        if profiler:
            profiler.disable()
    if profiler:
        profiler.dump_stats(profile)
    return report, m


def allocate_one_by_one(data: DataSet):
    from orders.services.allocation import AllocationReport, orders_allocate

    report = AllocationReport()
    with measure() as m:
        for order_id in _priority_ordered(data.order_ids):
            report.merge(orders_allocate(order_ids=[order_id]))
    return report, m


# -- outcome and checks (SQL, scoped to one client) ---------------------------------------------
def _tables() -> dict[str, str]:
    from django.db import connection

    from inventory.models import StockLevel, StockMovement
    from orders.models import Allocation, Order, OrderLine

    q = connection.ops.quote_name
    return {
        "order": q(Order._meta.db_table),
        "line": q(OrderLine._meta.db_table),
        "alloc": q(Allocation._meta.db_table),
        "level": q(StockLevel._meta.db_table),
        "move": q(StockMovement._meta.db_table),
    }


def _scalar(sql: str, params) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql.format(**_tables()), params)
        return cursor.fetchone()[0] or 0


def outcome(client_id: int) -> dict[str, int]:
    from django.db import connection

    t = _tables()
    result: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, count(*) FROM {order} WHERE client_id = %s GROUP BY status".format(**t),
            [client_id],
        )
        result.update({f"status {s}": n for s, n in cursor.fetchall()})
    result["split"] = _scalar(
        """SELECT count(*) FROM (
             SELECT l.order_id FROM {alloc} a
             JOIN {line} l ON l.id = a.line_id JOIN {level} s ON s.id = a.stock_level_id
             WHERE s.client_id = %s GROUP BY l.order_id
             HAVING count(DISTINCT s.warehouse_id) > 1) x""",
        [client_id],
    )
    result["units allocated"] = _scalar(
        "SELECT sum(l.qty_allocated) FROM {line} l JOIN {order} o ON o.id = l.order_id "
        "WHERE o.client_id = %s",
        [client_id],
    )
    result["units backordered"] = _scalar(
        "SELECT sum(l.qty_backordered) FROM {line} l JOIN {order} o ON o.id = l.order_id "
        "WHERE o.client_id = %s",
        [client_id],
    )
    result["backordered lines"] = _scalar(
        "SELECT count(*) FROM {line} l JOIN {order} o ON o.id = l.order_id "
        "WHERE o.client_id = %s AND l.qty_backordered > 0",
        [client_id],
    )
    return result


CHECKS = {
    "0 <= allocated <= on_hand on every stock level": """
        SELECT count(*) FROM {level}
        WHERE client_id = %s AND (allocated < 0 OR allocated > on_hand OR backordered < 0)""",
    "level.allocated = sum of its allocations": """
        SELECT count(*) FROM {level} s
        LEFT JOIN (SELECT stock_level_id, sum(quantity) q FROM {alloc} GROUP BY 1) a
          ON a.stock_level_id = s.id
        WHERE s.client_id = %s AND s.allocated <> coalesce(a.q, 0)""",
    "level.backordered = sum of its backordered lines": """
        SELECT count(*) FROM {level} s
        LEFT JOIN (SELECT backorder_level_id, sum(qty_backordered) q FROM {line}
                   WHERE backorder_level_id IS NOT NULL GROUP BY 1) b
          ON b.backorder_level_id = s.id
        WHERE s.client_id = %s AND s.backordered <> coalesce(b.q, 0)""",
    "line: allocated + backordered = open qty": """
        SELECT count(*) FROM {line} l JOIN {order} o ON o.id = l.order_id
        WHERE o.client_id = %s AND l.qty_allocated + l.qty_backordered
              <> l.quantity - l.qty_shipped - l.qty_cancelled""",
    "line: allocated = sum of its allocations": """
        SELECT count(*) FROM {line} l JOIN {order} o ON o.id = l.order_id
        LEFT JOIN (SELECT line_id, sum(quantity) q FROM {alloc} GROUP BY 1) a
          ON a.line_id = l.id
        WHERE o.client_id = %s AND l.qty_allocated <> coalesce(a.q, 0)""",
    "order ready <=> nothing backordered": """
        SELECT count(*) FROM {order} o
        LEFT JOIN (SELECT order_id, sum(qty_backordered) b FROM {line} GROUP BY 1) l
          ON l.order_id = o.id
        WHERE o.client_id = %s AND NOT (
            (o.status = 'ready' AND coalesce(l.b, 0) = 0)
            OR (o.status = 'backordered' AND coalesce(l.b, 0) > 0))""",
    "ledger: sum of movements = on_hand": """
        SELECT count(*) FROM {level} s
        LEFT JOIN (SELECT stock_level_id, sum(quantity) q FROM {move} GROUP BY 1) m
          ON m.stock_level_id = s.id
        WHERE s.client_id = %s AND s.on_hand <> coalesce(m.q, 0)""",
}


def check(client_id: int) -> list[str]:
    failures = []
    for name, sql in CHECKS.items():
        bad = _scalar(sql, [client_id])
        if bad:
            failures.append(f"{name}: {bad:,} rows violate it")
    return failures


def allocation_map(client_id: int) -> dict:
    """(order number, line no) → (status, allocated, backordered, ((warehouse, qty), ...))."""
    from orders.models import Allocation, OrderLine

    where: dict = {}
    for a in Allocation.objects.filter(line__order__client_id=client_id).values_list(
        "line_id", "stock_level__warehouse_id", "quantity"
    ):
        where.setdefault(a[0], []).append((a[1], a[2]))
    result = {}
    for line_id, number, line_no, status, allocated, backordered in OrderLine.objects.filter(
        order__client_id=client_id
    ).values_list(
        "id", "order__number", "line_no", "order__status", "qty_allocated", "qty_backordered"
    ):
        result[(number, line_no)] = (
            status,
            allocated,
            backordered,
            tuple(sorted(where.get(line_id, []))),
        )
    return result


# -- the benchmark ------------------------------------------------------------------------------
def _print_data(label: str, data: DataSet, warehouses: int) -> None:
    heading(
        f"{label}: {len(data.order_ids):,} orders, {data.lines:,} lines, "
        f"{data.skus:,} SKUs × {warehouses} warehouses"
    )
    row("generated (COPY) in", data.seconds, "s")
    row("rows written", data.rows, f"({rate(data.rows, data.seconds):,.0f} rows/s)")
    row("units ordered / units in stock", f"{data.units:,} / {data.stock_units:,}")
    row("scarce SKUs (stock < demand)", data.scarce_skus)


def _print_outcome(data: DataSet, report) -> None:
    result = outcome(data.client.pk)
    orders = len(data.order_ids)
    for key in ("status ready", "status backordered", "split"):
        n = result.get(key, 0)
        row(f"orders {key.replace('status ', '')}", n, f"({100 * n / orders:.1f} %)")
    other = {k: v for k, v in result.items() if k.startswith("status ")}
    other.pop("status ready", None)
    other.pop("status backordered", None)
    if other:
        row("orders in another status", str(other))
    allocated, backordered = result["units allocated"], result["units backordered"]
    row("units allocated / backordered", f"{allocated:,} / {backordered:,}")
    row("lines backordered", result["backordered lines"])
    row("orders pre-empted (lost stock)", len(report.preempted_orders))


def run(args) -> bool:
    from django.utils import timezone

    from inventory.models import Warehouse

    heading("Setup")
    wipe_business_data()
    warehouses = Warehouse.objects.bulk_create(
        [Warehouse(code=f"WH{i + 1}", name=f"Warehouse {i + 1}") for i in range(args.warehouses)]
    )
    now = timezone.now()
    common = {"warehouses": warehouses, "scarce": args.scarce, "now": now}
    data = generate(code="BENCH", orders=args.orders, skus=args.skus, seed=args.seed, **common)
    sample = one = None
    if args.baseline:
        n = min(args.baseline, args.orders)
        skus = max(20, round(args.skus * n / args.orders))
        # Two identical copies: one allocated one order per call, one in batch.
        one = generate(code="BASE-ONE", orders=n, skus=skus, seed=args.seed + 1, **common)
        sample = generate(code="BASE-BATCH", orders=n, skus=skus, seed=args.seed + 1, **common)
    started = time.perf_counter()
    analyze()
    row("ANALYZE after the bulk load", time.perf_counter() - started, "s")
    _print_data("Data set", data, args.warehouses)

    ok = True
    baseline_rate = None
    if one is not None:
        n = len(one.order_ids)
        heading(
            f"Baseline: orders_allocate(order_ids=[id]) per order, most urgent first "
            f"({n:,} orders, {one.lines:,} lines, {one.skus:,} SKUs, same generator)"
        )
        report, m = allocate_one_by_one(one)
        baseline_rate = rate(n, m.seconds)
        row("total time", m.seconds, "s")
        row("", m.cpu_note())
        row("orders/s", baseline_rate)
        row("lines/s", rate(one.lines, m.seconds))
        row("SQL statements per order", m.queries / n)
        _print_outcome(one, report)

        heading(f"Same sample in batch (chunk {args.chunk}): identical outcome?")
        _, mb = allocate_batch(sample, args.chunk)
        row("orders/s (small batch, for reference)", rate(n, mb.seconds))
        a, b = allocation_map(one.client.pk), allocation_map(sample.client.pk)
        differ = sum(1 for key in a.keys() | b.keys() if a.get(key) != b.get(key))
        row("lines allocated differently", differ, "(0 expected)")
        if differ:
            print("  WARNING: batch and one-by-one allocation disagree on the same data")
        for label, d in (("one-by-one copy", one), ("batch copy", sample)):
            failures = check(d.client.pk)
            for failure in failures:
                print(f"  CHECK FAILED ({label}): {failure}")
            ok = ok and not failures

    heading(
        f"Batch: orders_allocate_in_priority_order(chunk={args.chunk}) over "
        f"{len(data.order_ids):,} orders"
    )
    report, m = allocate_batch(data, args.chunk, args.profile)
    batch_rate = rate(len(data.order_ids), m.seconds)
    row("total time", m.seconds, "s")
    row("", m.cpu_note())
    row("orders/s", batch_rate)
    row("lines/s", rate(data.lines, m.seconds))
    row("transactions (chunks)", math.ceil(len(data.order_ids) / args.chunk))
    row("SQL statements", m.queries, f"({m.queries / max(1, len(data.order_ids)):.2f} per order)")
    _print_outcome(data, report)
    row("report: ready / backordered", f"{report.ready:,} / {report.backordered:,}")

    heading("Checks after allocation (SQL)")
    failures = check(data.client.pk)
    for name in CHECKS:
        bad = [f for f in failures if f.startswith(name)]
        row(name, "FAILED: " + bad[0].split(": ", 1)[1] if bad else "ok")
    ok = ok and not failures

    heading("Summary")
    row("batch orders/s", batch_rate, f"(target >= 2,000 at 100,000 orders; {args.orders:,} here)")
    if baseline_rate:
        row("one-at-a-time orders/s (baseline)", baseline_rate)
        row("ratio batch / baseline", batch_rate / baseline_rate, "x")
    row("invariants", "ok" if ok else "FAILED")
    if args.profile:
        print(f"  (profiled: figures are slower than normal; profile in {args.profile})")
    return ok
