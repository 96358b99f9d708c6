"""Order file import, end to end: lines/second of a native CSV into PostgreSQL.

Data: one client with ``--import-skus`` products and stock in 3 warehouses (ledger included),
and a native-format file of ``--import-lines`` lines (1–5 lines per order, ≈3 on average, so
1,000,000 lines ≈ 330,000 orders; customers repeat). Measured on the same rows, in one run:

- **ceiling**: PostgreSQL ``COPY`` of the raw file into a flat table (no validation at all);
- **our import**: ``manage.py import_orders`` in a child process with ``DEBUG=0``: streaming
  parse, validation of every row, customers matched/created, orders + lines + timeline,
  promise and priority, allocation against stock — everything a user's import does; its peak
  memory (max RSS of the child) is printed;
- **usual way**: django-import-export's plain ``ModelResource`` import (order rows only, no
  lines, no allocation) on the first ``--import-sample`` lines.

Afterwards: orders/lines counted in the database, and the stock invariants checked. Then the
**schema floor** (``--import-floor``, on by default): the rows this import wrote (customers,
orders, lines, timeline, allocations) copied aside and inserted again with one
``INSERT … SELECT`` per table in one transaction, indexes and foreign-key checks included, no
Python at all — what PostgreSQL needs for these rows in this schema, whatever the import does;
and the same once more without the foreign-key triggers (``session_replication_role =
replica``) to show their share.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import analyze, heading, measure, rate, row, wipe_business_data

HELP = "import a native CSV of N lines (≈N/3 orders) end to end: lines/s vs COPY and import-export"

ROOT = Path(__file__).resolve().parent.parent


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--import-lines",
        type=int,
        default=1_000_000,
        help="lines in the file (default %(default)s)",
    )
    group.add_argument(
        "--import-skus", type=int, default=10_000, help="products (default %(default)s)"
    )
    group.add_argument(
        "--import-floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also insert the imported rows again with plain SQL (the schema floor)",
    )
    group.add_argument(
        "--import-sample",
        type=int,
        default=20_000,
        help="lines for the django-import-export baseline (default %(default)s)",
    )


FLOOR_TABLES = (
    "orders_customer",
    "orders_order",
    "orders_orderline",
    "orders_orderevent",
    "orders_allocation",
)


def _schema_floor(*, fk_checks: bool) -> float | None:
    """Seconds to insert the imported rows again with plain SQL (see the module docstring);
    ``None`` when the role may not switch the triggers off. The data ends as it was."""
    from django.db import DatabaseError, connection, transaction

    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in FLOOR_TABLES:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {qn('floor_' + table)} AS TABLE {qn(table)}"
            )
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(qn(t) for t in FLOOR_TABLES)} CASCADE")
            if not fk_checks:
                cursor.execute("SET LOCAL session_replication_role = replica")
            started = time.perf_counter()
            for table in FLOOR_TABLES:
                cursor.execute(f"INSERT INTO {qn(table)} TABLE {qn('floor_' + table)}")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks, timed too
            return time.perf_counter() - started
    except DatabaseError as exc:
        if fk_checks:
            raise
        print(f"  (schema floor without foreign-key checks not measured: {exc})")
        return None


def _setup(skus: int):
    from clients.models import Client
    from core.bulk import bulk_insert
    from inventory.models import Product, StockLevel, StockMovement, Warehouse

    wipe_business_data()
    client = Client.objects.create(code="IMP", name="Import Bench", currency="USD")
    warehouses = [Warehouse.objects.create(code=f"I{i}", name=f"Import DC {i}") for i in range(3)]
    rng = random.Random(7)
    products = bulk_insert(
        Product, [Product(client=client, sku=f"IMP-{i:06d}", name=f"Item {i}") for i in range(skus)]
    )
    levels = []
    for product in products:
        for wh in warehouses:
            levels.append(
                StockLevel(
                    client=client, product=product, warehouse=wh, on_hand=rng.randint(0, 120)
                )
            )
    bulk_insert(StockLevel, levels)
    bulk_insert(
        StockMovement,
        [
            StockMovement(
                client=client,
                stock_level=lv,
                product_id=lv.product_id,
                warehouse_id=lv.warehouse_id,
                kind="receipt",
                quantity=lv.on_hand,
                balance_after=lv.on_hand,
                reference="bench opening stock",
            )
            for lv in levels
            if lv.on_hand
        ],
    )
    return client


HEADER = [
    "order_number",
    "placed_at",
    "customer_email",
    "customer_name",
    "service_level",
    "ship_to_city",
    "ship_to_postcode",
    "ship_to_country",
    "sku",
    "quantity",
    "unit_price",
]


def _write_file(path: Path, lines: int, skus: int) -> int:
    rng = random.Random(11)
    orders = written = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        while written < lines:
            orders += 1
            n = min(rng.choice((1, 1, 2, 3, 3, 4, 5, 5)), lines - written)
            customer = rng.randint(1, max(lines // 6, 1))
            day, hour, minute = rng.randint(10, 26), rng.randint(0, 23), rng.randint(0, 59)
            placed = f"2026-11-{day:02d} {hour:02d}:{minute:02d}:00"
            level = rng.choice(("standard",) * 8 + ("expedited", "overnight"))
            for i in range(n):
                first = i == 0
                writer.writerow(
                    [
                        f"IMP{orders:08d}",
                        placed if first else "",
                        f"customer{customer}@example.com" if first else "",
                        f"Customer {customer}" if first else "",
                        level if first else "",
                        "Springfield" if first else "",
                        f"{rng.randint(10000, 99999)}" if first else "",
                        "US" if first else "",
                        f"IMP-{int(skus * rng.random() ** 2):06d}",
                        rng.choice((1, 1, 1, 2, 3)),
                        f"{rng.randint(100, 9999) / 100:.2f}",
                    ]
                )
                written += 1
    return orders


def _copy_ceiling(path: Path) -> float:
    from django.db import connection, transaction

    columns = ", ".join(f"{c} text" for c in HEADER)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE import_flat ({columns}) ON COMMIT DROP")
        started = time.perf_counter()
        copy_sql = "COPY import_flat FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cursor.cursor.copy(copy_sql) as cp, path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        return time.perf_counter() - started


def _import_export_sample(path: Path, sample: int, client) -> tuple[float, int]:
    """The usual way: a plain ModelResource over the order rows of the first ``sample`` lines."""
    import tablib
    from django.db import transaction
    from import_export import fields, resources, widgets

    from orders.models import Order

    class OrderResource(resources.ModelResource):
        number = fields.Field(attribute="number", column_name="order_number")
        placed_at = fields.Field(
            attribute="placed_at", column_name="placed_at", widget=widgets.DateTimeWidget()
        )
        service_level = fields.Field(attribute="service_level", column_name="service_level")

        class Meta:
            model = Order
            fields = ("number", "placed_at", "service_level")
            import_id_fields = ("number",)

        def before_import_row(self, row, **kwargs):
            row["placed_at"] = row["placed_at"] or None

        def skip_row(self, instance, original, row, import_validation_errors=None):
            return not row.get("placed_at")

        def before_save_instance(self, instance, row, **kwargs):
            instance.client = client
            instance.currency = client.currency
            instance.ship_by = instance.placed_at

    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        data = tablib.Dataset(headers=header)
        for i, values in enumerate(reader):
            if i >= sample:
                break
            data.append(values)
    started = time.perf_counter()
    with transaction.atomic():
        result = OrderResource().import_data(data, dry_run=False, raise_errors=True)
        transaction.set_rollback(True)  # measured, then thrown away: the real import follows
    return time.perf_counter() - started, len(data) if not result.has_errors() else -1


def run(args) -> bool:
    from django.db import connection

    from orders.models import Order, OrderLine

    heading(f"Order import: {args.import_lines:,} lines, {args.import_skus:,} SKUs")
    started = time.perf_counter()
    client = _setup(args.import_skus)
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = tmp / "orders.csv"
    orders = _write_file(path, args.import_lines, args.import_skus)
    analyze()
    row("set-up (stock, file)", time.perf_counter() - started, "s")
    row("file", f"{path.stat().st_size / 1e6:,.1f} MB, {orders:,} orders")

    copy_seconds = _copy_ceiling(path)
    row("ceiling: COPY into a flat table", rate(args.import_lines, copy_seconds), "lines/s")

    sample = min(args.import_sample, args.import_lines)
    ie_seconds, ie_rows = _import_export_sample(path, sample, client)
    ie_rate = rate(sample, ie_seconds) if ie_rows > 0 else 0.0
    row(f"usual: import-export ModelResource ({sample:,})", ie_rate, "lines/s")

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + "x" * 50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": os.environ["DATABASE_URL"],
    }
    connection.close()
    with measure() as m:
        proc = subprocess.run(
            [sys.executable, "manage.py", "import_orders", "--client", "IMP", str(path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print("  " + proc.stdout.strip().replace("\n", "\n  "))
    if proc.returncode not in (0, 1):
        print(proc.stderr[-3000:])
        return False
    ours = rate(args.import_lines, m.seconds)
    row("our import, end to end", ours, "lines/s")
    row("  orders/s", rate(orders, m.seconds))
    row("  wall time", m.seconds, "s")
    row("  peak memory (child max RSS)", peak_mb, "MB")
    row("  COPY ceiling / ours", rate(args.import_lines, copy_seconds) / ours, "×")
    if ie_rate:
        row("  vs import-export ModelResource", ours / ie_rate, "×")

    created_orders = Order.objects.filter(client=client).count()
    created_lines = OrderLine.objects.filter(order__client=client).count()
    row("orders in database", created_orders)
    row("lines in database", created_lines)
    ok = created_orders == orders and created_lines == args.import_lines
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM inventory_stocklevel WHERE allocated > on_hand OR allocated < 0"
        )
        oversold = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id "
            "WHERE o.client_id = %s AND l.qty_allocated + l.qty_backordered "
            "<> l.quantity - l.qty_shipped - l.qty_cancelled",
            [client.pk],
        )
        bad_lines = cursor.fetchone()[0]
    row("check: oversold levels", oversold)
    row("check: lines not fully allocated/backordered", bad_lines)
    if args.import_floor:
        floor = _schema_floor(fk_checks=True)
        floor_rate = rate(args.import_lines, floor)
        row("schema floor: the same rows by INSERT … SELECT", floor_rate, "lines/s")
        row("  seconds (indexes + foreign-key checks)", floor, "s")
        loose = _schema_floor(fk_checks=False)
        if loose is not None:
            row("  without foreign-key checks", rate(args.import_lines, loose), "lines/s")
            row("  seconds", loose, "s")
        row("  ours / schema floor", ours / floor_rate, "×")
    path.unlink()
    tmp.rmdir()
    return ok and oversold == 0 and bad_lines == 0
