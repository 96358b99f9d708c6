"""A large, consistent order backlog: ``python -m bench generate_backlog --orders 1000000``.

Benchmark data, not a product feature: it lives with the benchmarks and runs against the
benchmark database (``--database-url``/``BENCH_DATABASE_URL``, a name containing 'bench'),
like they do; ``bench/admin_pages.py`` calls :func:`generate_backlog`. What it builds:

- ``--clients`` retailers (``GEN01``, ``GEN02``, …) of decreasing size (the first has ~44 % of
  the orders at 5 clients), each with its products (``--skus`` in all, long-tail popularity,
  8 % "scarce"), customers (``--customers``; tiers standard/silver/gold/vip) and agents;
- three warehouses and a stock level per product and warehouse;
- ``--orders`` orders, ids in the order they were placed (clients interleaved), in every status
  in realistic proportions — about 55 % open (ready, backordered, picking, packed, new,
  on hold) and 45 % history (shipped, delivered, cancelled) — with 1–6 lines (≈ 3 on average),
  ship-by promise from the client's SLA, priority score, breakdown and segment computed by
  ``orders.services.priority`` (open orders as of now, closed ones as of when they closed),
  and a timeline (created, allocation, pick, pack, ship, deliver, hold, cancel, assignment);
- allocations for every reserved unit; stock levels whose ``allocated``/``backordered`` are the
  sums of the allocations and backordered lines, with ``on_hand`` ≥ allocated (scarce SKUs have
  nothing left to allocate, which is why orders wait for them); a stock ledger (opening
  receipt, shipped goods) that sums to ``on_hand`` for every level;
- users: ``bench_agent`` (agent of GEN01), ``bench_supervisor`` (supervisor of every client),
  and ``gen_<client>_agentNN`` agents who hold part of the orders (``assigned_to``). Passwords
  are unusable: log in with ``manage.py changepassword bench_agent`` first, or ``force_login``.

The result satisfies the stock invariants of ``tests/invariants.py``.

Speed (1,000,000 orders: ≈ 11 minutes on 2 busy vCPUs, see docs/benchmarks.md): everything
is one transaction, so a failure leaves nothing behind. On PostgreSQL the big tables
(products, customers, stock levels and ledger, orders, lines, allocations, events) are written
with ``COPY`` (``core.bulk.insert_rows``), ``--chunk`` orders at a time; their foreign keys
and secondary indexes are dropped first and re-created at the end of the same transaction —
one sort per index and one join per foreign key (which re-checks every row) instead of a
b-tree insert and a trigger per row; those tables are locked meanwhile. Then sequences are
reset and the tables ``VACUUM ANALYZE``-d. (On SQLite — :func:`generate_backlog` called in
a test or shell — the same rows go through ``bulk_create``: fine for tens of thousands of
orders, slow for millions.)

Orders are written in the one declared layout of a new order's row
(``orders.services.intake.OrderRow``) plus the columns only history has (id, assignee, hold,
delay reason, timestamps).

It only fills an empty backlog: if the database has orders already it stops, unless
``--flush`` is given, which first deletes **all** clients, warehouses, products, stock,
customers and orders (everything client-owned) — never use it on a database you care about.
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import OutputWrapper
from django.core.management.color import color_style, no_style
from django.db import connection, models, transaction
from django.utils import timezone

from clients.models import Client, Membership
from clients.services import membership_set
from core.bulk import JSONText, insert_rows, update_rows
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from orders.models import CLOSED_STATUSES, Allocation, Customer, Order, OrderEvent, OrderLine
from orders.services.intake import ORDER_ROW_FIELDS, OrderRow
from orders.services.priority import PriorityInput, compute_priority, compute_segment

CODE_PREFIX = "GEN"
AGENT_USERNAME = "bench_agent"
SUPERVISOR_USERNAME = "bench_supervisor"

# Share of all orders per status: ~55 % open backlog, ~45 % history.
STATUS_WEIGHTS = (
    ("ready", 22),
    ("backordered", 9),
    ("picking", 7),
    ("packed", 5),
    ("new", 6),
    ("on_hold", 3),
    ("shipped", 9),
    ("delivered", 35),
    ("cancelled", 4),
)
HOLD_FROM = (("ready", 60), ("backordered", 30), ("picking", 10))
# Chance an order of that status is assigned to an agent.
ASSIGNED_SHARE = {
    "new": 0.0,
    "ready": 0.05,
    "backordered": 0.05,
    "picking": 0.5,
    "packed": 0.5,
    "on_hold": 0.6,
    "shipped": 0.5,
    "delivered": 0.5,
    "cancelled": 0.3,
}
LINE_COUNTS = (1, 2, 3, 4, 5, 6)
LINE_WEIGHTS = (20, 22, 22, 16, 12, 8)  # mean ≈ 3.0
QTYS = (1, 2, 3, 4, 5)
QTY_WEIGHTS = (60, 22, 10, 5, 3)
SERVICE_LEVELS = (("standard", 75), ("expedited", 18), ("overnight", 7))
TIERS = (("standard", 70), ("silver", 15), ("gold", 10), ("vip", 5))
WAREHOUSES = (
    ("GEN-EAST", "East DC", 55),
    ("GEN-WEST", "West DC", 30),
    ("GEN-CENT", "Central DC", 15),
)
SCARCE_SHARE = 0.08
POPULARITY_EXPONENT = 0.8


def _words(text: str) -> list[str]:
    return text.split()


CLIENT_PROFILES = (
    ("Northwind Outdoor", "America/New_York", "USD", "US"),
    ("Lindqvist Home", "Europe/Stockholm", "EUR", "SE"),
    ("Kiwi Kids", "Pacific/Auckland", "NZD", "NZ"),
    ("Maple & Pine", "America/Toronto", "CAD", "CA"),
    ("Albion Books", "Europe/London", "GBP", "GB"),
    ("Sakura Living", "Asia/Tokyo", "JPY", "JP"),
)
FIRST = _words(
    "Ada Ali Amir Ana Anna Ben Bea Carl Chloe Chen Dan Dev Ella Emma Eva Finn Femi Gita Grace "
    "Hugo Hana Ian Ines Ivan Jon Jade Joao Kai Kim Kofi Lea Leo Lina Mo Mia Mika Nia Noah Nora "
    "Oli Omar Pia Priya Raj Rosa Ruth Sam Sara Sue Tom Tara Theo Uma Vera Wen Will Yara Yusuf Zoe"
)
LAST = _words(
    "Smith Meyer Rossi Kowalski Nguyen Garcia Okafor Tanaka Silva Dubois Jensen Novak Brown "
    "Wilson Schmidt Bianchi Nowak Tran Lopez Adeyemi Sato Santos Martin Larsen Horvat Taylor "
    "Walker Fischer Romano Wojcik Pham Martinez Eze Suzuki Costa Bernard Nielsen Kovac Evans "
    "King Weber Greco Lewandowski Le Sanchez Obi Kato Pereira Petit Hansen Popescu Hughes Baker "
    "Wagner Conti Kaminski Vu Perez Mensah Ito Alves"
)
WORDS = _words("trail alpine river summit canyon forest harbor meadow glacier prairie coast ridge")
ITEMS = _words("jacket boots tent backpack lamp mug blanket scarf gloves bottle stove chair")
CITIES = ("Springfield", "Riverton", "Lakeside", "Hillview", "Fairview", "Kingsport")
HOLD_REASONS = (
    "Address check with customer",
    "Payment review",
    "Customer asked to wait",
    "Fraud check",
)
CANCEL_REASONS = ("Customer cancelled by e-mail", "Payment failed", "Duplicate order")
NOTES = ("Customer asked about the delivery date.", "Gift wrap requested.", "Called customer.")


def _cum(weights) -> list[float]:
    return list(itertools.accumulate(w for *_, w in weights))


def _pick(rng: random.Random, values, cum: list[float]):
    return values[bisect.bisect(cum, rng.random() * cum[-1])]


class BacklogError(Exception):
    """The generator refuses (bad sizes, or a database that already holds orders)."""


class _Sink:
    """Writes rows (tuples in ``fields`` order) with ``core.bulk.insert_rows`` (``COPY`` on
    PostgreSQL), timing each table."""

    def __init__(self) -> None:
        self.pg = connection.vendor == "postgresql"
        self.rows = 0
        self.seconds: dict[str, float] = {}

    def write(self, model: type[models.Model], fields: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        started = time.perf_counter()
        try:
            insert_rows(model, fields, rows, return_ids=False)
        finally:
            name = model._meta.db_table
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
        self.rows += len(rows)


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(m=models.Max("pk"))["m"] or 0) + 1


def add_arguments(parser) -> None:
    """The generator's options (``python -m bench generate_backlog --help``)."""
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders (1,000,000)")
    parser.add_argument("--clients", type=int, default=5, help="clients (5)")
    parser.add_argument("--skus", type=int, default=20_000, help="products in all (20,000)")
    parser.add_argument("--customers", type=int, default=None, help="customers in all (orders / 5)")
    parser.add_argument("--seed", type=int, default=20_250_601, help="random seed")
    parser.add_argument(
        "--chunk", type=int, default=50_000, help="orders built and sent at a time (50,000)"
    )
    parser.add_argument(
        "--flush",
        action="store_true",
        help="first DELETE ALL clients, warehouses, stock, customers and orders",
    )
    parser.add_argument(
        "--no-vacuum", action="store_true", help="skip VACUUM ANALYZE at the end (PostgreSQL)"
    )
    parser.add_argument("-v", "--verbosity", type=int, default=1, help="2: time per table")


def generate_backlog(
    *,
    orders: int = 1_000_000,
    clients: int = 5,
    skus: int = 20_000,
    customers: int | None = None,
    seed: int = 20_250_601,
    chunk: int = 50_000,
    flush: bool = False,
    no_vacuum: bool = False,
    verbosity: int = 1,
    stdout=None,
) -> None:
    """Fill the configured database with a backlog (see the module docstring); raises
    :class:`BacklogError` when it refuses."""
    _Generator(stdout or sys.stdout).handle(
        orders=orders,
        clients=clients,
        skus=skus,
        customers=customers,
        seed=seed,
        chunk=chunk,
        flush=flush,
        no_vacuum=no_vacuum,
        verbosity=verbosity,
    )


class _Generator:
    def __init__(self, stdout) -> None:
        self.stdout = OutputWrapper(stdout)
        self.style = color_style()

    # -- entry point ------------------------------------------------------------------------------
    def handle(self, **opts):
        n_orders = opts["orders"]
        n_clients = opts["clients"]
        if n_orders < 1 or not 1 <= n_clients <= 99 or opts["skus"] < n_clients:
            raise BacklogError("Need --orders ≥ 1, 1 ≤ --clients ≤ 99 and --skus ≥ --clients.")
        n_customers = opts["customers"] or max(n_orders // 5, 10 * n_clients)
        self.rng = random.Random(opts["seed"])
        self.n_orders = n_orders
        self.now = timezone.now()
        self.sink = _Sink()
        self.started = time.perf_counter()

        if opts["flush"]:
            self._flush()
        existing = Order.objects.count()
        if existing or Client.objects.filter(code__startswith=CODE_PREFIX).exists():
            raise BacklogError(
                f"The database already has {existing:,} orders (or {CODE_PREFIX}* clients): "
                "generate_backlog only fills an empty backlog. Re-run with --flush to delete "
                "ALL clients, warehouses, stock, customers and orders first (irreversible)."
            )

        # One transaction: a failure leaves nothing behind.
        with transaction.atomic():
            dropped = self._pg_drop_constraints() if self.sink.pg else None
            self._clients(n_clients, n_orders)
            self._warehouses()
            self._users()
            self._products(opts["skus"])
            self._customers(n_customers)
            self._levels()
            self._step("clients, users, products, customers, stock levels")
            self._orders(n_orders, opts["chunk"])
            self._stock()
            self._step("stock levels and ledger")
            if dropped:
                self._pg_restore_constraints(*dropped)
                self._step("indexes and foreign keys re-created (foreign keys checked)")
            self._reset_sequences()
        if self.sink.pg and not opts["no_vacuum"]:
            self._vacuum()
            self._step("VACUUM ANALYZE")
        elapsed = time.perf_counter() - self.started
        if opts["verbosity"] >= 2:
            for table, seconds in sorted(self.sink.seconds.items(), key=lambda kv: -kv[1]):
                self.stdout.write(f"  {table:<28} written in {seconds:6.1f} s")
        self.stdout.write(
            self.style.SUCCESS(
                f"Backlog ready in {elapsed:.0f} s: {n_orders:,} orders, {self.n_lines:,} lines, "
                f"{self.n_allocs:,} allocations, {self.n_events:,} events, "
                f"{len(self.products):,} products, {n_customers:,} customers, "
                f"{len(self.clients)} clients ({self.sink.rows / elapsed:,.0f} rows/s)."
            )
        )
        self.stdout.write(
            f"Agent: {AGENT_USERNAME} (agent of {self.clients[0].code}); supervisor: "
            f"{SUPERVISOR_USERNAME}. Passwords are unusable: set one with "
            f"`manage.py changepassword {AGENT_USERNAME}`."
        )

    def _step(self, what: str) -> None:
        self.stdout.write(f"  {time.perf_counter() - self.started:7.1f} s  {what}")
        self.stdout.flush()

    # -- flush ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        if self.sink.pg:
            tables = ", ".join(
                connection.ops.quote_name(m._meta.db_table) for m in (Client, Warehouse)
            )
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        else:
            # Foreign keys are checked at commit (deferred), so the order does not matter.
            existing = set(connection.introspection.table_names())
            doomed = [
                model
                for app in ("reports", "support", "fulfillment", "orders", "inventory", "clients")
                for model in apps.get_app_config(app).get_models()
                if model._meta.db_table in existing
            ]
            with transaction.atomic():
                for model in doomed:
                    model.objects.all()._raw_delete(connection.alias)
        self._step("flushed existing business data")

    # -- small tables -----------------------------------------------------------------------------
    def _clients(self, n_clients: int, n_orders: int) -> None:
        weights = [1 / (k + 1) for k in range(n_clients)]
        total = sum(weights)
        self.client_share = [w / total for w in weights]
        self.clients = []
        self.country = {}
        for k in range(n_clients):
            name, tz, currency, country = CLIENT_PROFILES[k % len(CLIENT_PROFILES)]
            code = f"{CODE_PREFIX}{k + 1:02d}"
            client = Client.objects.create(
                code=code,
                name=f"{name} {k + 1}" if k >= len(CLIENT_PROFILES) else name,
                timezone=tz,
                currency=currency,
            )
            self.clients.append(client)
            self.country[client.pk] = country

    def _warehouses(self) -> None:
        self.warehouses = []
        for code, name, _ in WAREHOUSES:
            wh, _ = Warehouse.objects.get_or_create(code=code, defaults={"name": name})
            self.warehouses.append(wh)
        self.wh_cum = _cum(WAREHOUSES)

    def _users(self) -> None:
        """bench_agent, bench_supervisor and a pool of agents per client (by client size)."""
        User = get_user_model()
        unusable = make_password(None)

        def user(username: str):
            obj, _ = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@example.com", "password": unusable},
            )
            return obj

        self.agents: dict[int, list[int]] = {}
        self.usernames: dict[int, str] = {}
        for k, client in enumerate(self.clients):
            pool = max(3, round(self.client_share[k] * self.n_orders / 10_000))
            ids = []
            for i in range(1, pool + 1):
                if k == 0 and i == 1:
                    agent = user(AGENT_USERNAME)
                else:
                    agent = user(f"gen_{client.code.lower()}_agent{i:02d}")
                membership_set(user=agent, client=client, role=Membership.Role.AGENT)
                ids.append(agent.pk)
                self.usernames[agent.pk] = agent.get_username()
            self.agents[client.pk] = ids
        supervisor = user(SUPERVISOR_USERNAME)
        for client in self.clients:
            membership_set(user=supervisor, client=client, role=Membership.Role.SUPERVISOR)
        self.supervisor_id = supervisor.pk

    # -- products, customers, stock levels ------------------------------------------------------
    def _products(self, n_skus: int) -> None:
        rng = self.rng
        next_id = _next_id(Product)
        rows = []
        # global index → (id, client_id, sku, price Decimal, price in cents, scarce)
        self.products = []
        self.client_products: dict[int, tuple[list[int], list[float]]] = {}
        self.client_scarce: dict[int, list[int]] = {}
        for k, client in enumerate(self.clients):
            count = max(10, round(n_skus * self.client_share[k]))
            indexes = []
            for i in range(1, count + 1):
                pid = next_id
                next_id += 1
                sku = f"{client.code}-{i:06d}"
                cents = rng.randint(299, 24999)
                price = Decimal(cents).scaleb(-2)
                scarce = rng.random() < SCARCE_SHARE
                indexes.append(len(self.products))
                self.products.append((pid, client.pk, sku, price, cents, scarce))
                name = f"{rng.choice(WORDS).title()} {rng.choice(ITEMS)} {i}"
                rows.append((pid, client.pk, sku, name, (price * 6 / 10).quantize(price), True))
            # Long tail: the k-th most popular SKU is ordered ∝ 1 / k^0.8 (order shuffled).
            popularity = list(
                itertools.accumulate(1 / (r + 1) ** POPULARITY_EXPONENT for r in range(count))
            )
            shuffled = indexes[:]
            rng.shuffle(shuffled)
            self.client_products[client.pk] = (shuffled, popularity)
            self.client_scarce[client.pk] = [i for i in indexes if self.products[i][5]] or [
                indexes[0]
            ]
        self.sink.write(Product, ["id", "client_id", "sku", "name", "unit_cost", "active"], rows)

    def _customers(self, n_customers: int) -> None:
        rng = self.rng
        next_id = _next_id(Customer)
        tier_cum = _cum(TIERS)
        tiers = [t for t, _ in TIERS]
        rows = []
        self.client_customers: dict[int, list[tuple[int, str, str]]] = {}
        for k, client in enumerate(self.clients):
            count = max(10, round(n_customers * self.client_share[k]))
            mine = []
            for i in range(1, count + 1):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                name = f"{first} {last}"
                tier = _pick(rng, tiers, tier_cum)
                email = f"{first}.{last}.{i}@example.com".lower()
                created = self.now - timedelta(days=rng.uniform(30, 400))
                rows.append((next_id, client.pk, f"C{i:07d}", email, name, "", tier, created))
                mine.append((next_id, name, tier))
                next_id += 1
            self.client_customers[client.pk] = mine
        self.sink.write(
            Customer,
            ["id", "client_id", "external_id", "email", "name", "phone", "tier", "created_at"],
            rows,
        )

    def _levels(self) -> None:
        """One stock level per product and warehouse, counters zero (set by ``_stock``)."""
        self.level_base = _next_id(StockLevel)
        n_wh = len(self.warehouses)
        rows = []
        for p_index, (_pid, client_id, *_) in enumerate(self.products):
            for w, wh in enumerate(self.warehouses):
                rows.append(
                    (
                        self.level_base + p_index * n_wh + w,
                        client_id,
                        self.products[p_index][0],
                        wh.pk,
                        f"{'ABCDEFGH'[p_index % 8]}-{p_index % 40:02d}-{w}",
                        0,
                        0,
                        0,
                        0,
                        self.now,
                    )
                )
        self.sink.write(
            StockLevel,
            [
                "id",
                "client_id",
                "product_id",
                "warehouse_id",
                "bin_location",
                "on_hand",
                "allocated",
                "backordered",
                "on_order",
                "updated_at",
            ],
            rows,
        )
        size = len(rows)
        self.lv_allocated = [0] * size
        self.lv_backordered = [0] * size
        self.lv_shipped = [0] * size

    # -- orders -----------------------------------------------------------------------------------
    def _skeleton(self, n_orders: int) -> list[tuple[float, int, str]]:
        """(placed_at as seconds before now, client index, status), oldest first."""
        rng = self.rng
        client_cum = list(itertools.accumulate(self.client_share))
        statuses = [s for s, _ in STATUS_WEIGHTS]
        status_cum = _cum(STATUS_WEIGHTS)
        hour = 3600.0
        out = []
        for _ in range(n_orders):
            k = bisect.bisect(client_cum, rng.random() * client_cum[-1])
            k = min(k, len(self.clients) - 1)
            status = _pick(rng, statuses, status_cum)
            if status == "new":
                ago = rng.uniform(60, 3 * hour)
            elif status in CLOSED_STATUSES:
                ago = rng.uniform(7 * 24 * hour, 240 * 24 * hour)
            else:
                # Mostly a day or two old, a tail of old (overdue) ones, at most two weeks.
                ago = min(20 * 60 + rng.expovariate(1 / (30 * hour)), 14 * 24 * hour)
            out.append((ago, k, status))
        out.sort(key=lambda item: -item[0])
        return out

    def _orders(self, n_orders: int, chunk: int) -> None:
        skeleton = self._skeleton(n_orders)
        self._step(f"order skeleton ({n_orders:,} orders)")
        self.next_order = _next_id(Order)
        self.next_line = _next_id(OrderLine)
        self.next_alloc = _next_id(Allocation)
        self.next_event = _next_id(OrderEvent)
        self.numbers = [1_000_000] * len(self.clients)
        self.n_lines = self.n_allocs = self.n_events = 0
        for start in range(0, n_orders, chunk):
            part = skeleton[start : start + chunk]
            orders, lines, allocs, events = [], [], [], []
            built = time.perf_counter()
            for ago, k, status in part:
                self._order(ago, k, status, orders, lines, allocs, events)
            written = time.perf_counter()
            self.sink.write(Order, ORDER_FIELDS, orders)
            self.sink.write(OrderLine, LINE_FIELDS, lines)
            self.sink.write(Allocation, ["id", "line_id", "stock_level_id", "quantity"], allocs)
            self.sink.write(OrderEvent, EVENT_FIELDS, events)
            self.n_lines += len(lines)
            self.n_allocs += len(allocs)
            self.n_events += len(events)
            self._step(
                f"orders {start + len(part):,} / {n_orders:,} (built in "
                f"{written - built:.1f} s, written in {time.perf_counter() - written:.1f} s)"
            )

    def _order(self, ago: float, k: int, status: str, orders, lines, allocs, events) -> None:
        rng = self.rng
        now = self.now
        client = self.clients[k]
        oid = self.next_order
        self.next_order += 1
        self.numbers[k] += 1
        number = f"{client.code}-{self.numbers[k]}"
        placed = now - timedelta(seconds=ago)
        service_level = _pick(rng, SL_VALUES, SL_CUM)
        ship_by = placed + timedelta(hours=client.sla_hours(service_level))
        closed = status in CLOSED_STATUSES
        expedite = rng.random() < (0.01 if closed else 0.03)
        customers = self.client_customers[client.pk]
        customer_id, customer_name, tier = customers[int(rng.random() * len(customers))]
        w = bisect.bisect(self.wh_cum, rng.random() * self.wh_cum[-1])
        n_wh = len(self.warehouses)

        hold_from = _pick(rng, HOLD_VALUES, HOLD_CUM) if status == "on_hold" else ""
        stock_state = hold_from or status  # what the lines look like

        # Products: distinct, popularity-weighted; a backordered order waits for a scarce SKU.
        shuffled, popularity = self.client_products[client.pk]
        n = _pick(rng, LINE_COUNTS, LINE_CUM)
        chosen: list[int] = []
        for _ in range(n * 2):
            p = shuffled[bisect.bisect(popularity, rng.random() * popularity[-1])]
            if p not in chosen:
                chosen.append(p)
                if len(chosen) == n:
                    break
        if stock_state == "backordered" and not any(self.products[p][5] for p in chosen):
            scarce = self.client_scarce[client.pk]
            p = scarce[int(rng.random() * len(scarce))]
            if p in chosen:
                chosen.remove(p)
            chosen[0:1] = [p]

        subtotal = 0  # cents
        for line_no, p in enumerate(chosen, start=1):
            pid, _cid, _sku, price, cents, scarce = self.products[p]
            qty = _pick(rng, QTYS, QTY_CUM)
            subtotal += cents * qty
            level = self.level_base + p * n_wh + w
            allocated = backordered = shipped = cancelled = 0
            if stock_state in ("ready", "picking", "packed"):
                allocated = qty
            elif stock_state == "backordered":
                if scarce:
                    allocated = int(rng.random() * qty)
                    backordered = qty - allocated
                else:
                    allocated = qty
            elif stock_state in ("shipped", "delivered"):
                shipped = qty
            elif stock_state == "cancelled":
                cancelled = qty
            lid = self.next_line
            self.next_line += 1
            index = level - self.level_base
            if allocated:
                allocs.append((self.next_alloc, lid, level, allocated))
                self.next_alloc += 1
                self.lv_allocated[index] += allocated
            if backordered:
                self.lv_backordered[index] += backordered
            if shipped:
                self.lv_shipped[index] += shipped
            lines.append(
                (
                    lid,
                    oid,
                    line_no,
                    pid,
                    qty,
                    price,
                    allocated,
                    backordered,
                    shipped,
                    cancelled,
                    level if backordered else None,
                )
            )

        shipping = SHIPPING_CENTS if subtotal < 10_000 else 0
        total = Decimal(subtotal + shipping).scaleb(-2)

        # Timeline and the moment the order left the backlog (closed orders).
        source = "csv" if rng.random() < 0.7 else ("shopify" if rng.random() < 0.5 else "manual")
        created_at = placed + timedelta(seconds=rng.uniform(30, 600))
        if created_at > now:
            created_at = now
        assigned = None
        if rng.random() < ASSIGNED_SHARE[status]:
            pool = self.agents[client.pk]
            assigned = pool[int(rng.random() * len(pool))]
        hold_reason = rng.choice(HOLD_REASONS) if status == "on_hold" else ""
        steps, left_at = self._timeline(status, hold_from, created_at, ship_by)
        at = created_at
        event_user = assigned
        source_label = SOURCE_LABELS[source]
        events.append(
            self._event(oid, "created", "", "new", f"Created ({source_label}).", None, at)
        )
        prev = "new"
        for i, (to, at) in enumerate(steps):
            if to in ("ready", "backordered") and prev in ("new", "ready", "backordered"):
                kind, msg, user = "allocation", "Allocation: stock reserved.", None
                if to == "backordered":
                    msg = "Allocation: part of the order waits for stock."
            elif to == "on_hold":
                kind, msg, user = "hold", hold_reason, event_user
            elif to == "cancelled":
                kind, msg, user = "cancel", rng.choice(CANCEL_REASONS), self.supervisor_id
            else:
                kind, msg, user = "status", "", event_user
            events.append(self._event(oid, kind, prev, to, msg, user, at))
            prev = to
            if assigned and i == 0:
                events.append(
                    self._event(
                        oid,
                        "assign",
                        "",
                        "",
                        f"Assigned to {self.usernames[assigned]}.",
                        None,
                        at + timedelta(seconds=5),
                    )
                )
        if rng.random() < 0.05:
            events.append(self._event(oid, "note", "", "", rng.choice(NOTES), event_user, at))
        last_at = max(at, created_at)

        # Priority: open orders as of now; closed ones kept the score they had when they closed.
        scored_at = left_at if closed else now
        data = PriorityInput(
            ship_by=ship_by,
            placed_at=placed,
            service_level=service_level,
            tier=tier,
            total=total,
            expedite=expedite,
        )
        score, breakdown = compute_priority(data, client, scored_at)
        segment = compute_segment(
            status=status, ship_by=ship_by, expedite=expedite, client=client, now=now
        )
        if status == "cancelled":
            payment = "refunded" if rng.random() < 0.7 else "voided"
        elif status == "new" and rng.random() < 0.2:
            payment = "pending"
        else:
            payment = "paid" if rng.random() < 0.9 else "authorized"
        overdue_backorder = stock_state == "backordered" and ship_by < now
        order_row = OrderRow(
            client_id=client.pk,
            number=number,
            customer_id=customer_id,
            source=source,
            placed_at=placed,
            service_level=service_level,
            ship_by=ship_by,
            payment_status=payment,
            ship_to_name=customer_name,
            ship_to_address1=f"{rng.randint(1, 999)} {rng.choice(WORDS).title()} Street",
            ship_to_address2="",
            ship_to_city=rng.choice(CITIES),
            ship_to_postcode=str(rng.randint(10000, 99999)),
            ship_to_region="",
            ship_to_country=self.country[client.pk],
            ship_to_phone="",
            currency=client.currency,
            subtotal=Decimal(subtotal).scaleb(-2),
            shipping_total=Decimal(shipping).scaleb(-2),
            tax_total=ZERO,
            total=total,
            expedite=expedite,
            status=status,
            segment=segment,
            priority_score=score,
            priority_breakdown=JSONText(breakdown),
            priority_computed_at=scored_at,
        )
        orders.append(
            (
                oid,
                *order_row,
                assigned,
                hold_reason,
                hold_from,
                "Waiting for supplier delivery" if overdue_backorder else "",
                created_at,
                last_at,
            )
        )

    def _timeline(
        self, status, hold_from, created_at, ship_by
    ) -> tuple[list[tuple[str, datetime]], datetime]:
        """The status moves that led to ``status`` (oldest first, all before now), and the
        moment the order left the backlog (shipped or cancelled; ``now`` for open orders)."""
        rng = self.rng
        now = self.now
        if status == "on_hold":
            path = [*PATHS[hold_from], "on_hold"]
        elif status == "cancelled":
            path = [rng.choice(("ready", "backordered"))] if rng.random() < 0.7 else []
            path = [*path, "cancelled"]
        else:
            path = PATHS[status]
        if not path:
            return [], now
        latest = now - timedelta(minutes=1)
        # Allocation runs minutes after the order arrives.
        first = min(created_at + timedelta(seconds=rng.uniform(10, 300)), latest)
        left = now
        tail: list[datetime] = []  # fixed times of the last steps
        if status in ("shipped", "delivered"):
            # Shipped around the promise; delivered one to four days later.
            shipped = ship_by + timedelta(hours=rng.uniform(-20, 6))
            shipped = min(max(shipped, first + timedelta(hours=1)), latest)
            tail = [shipped]
            if status == "delivered":
                tail.append(min(shipped + timedelta(days=rng.uniform(1, 4)), latest))
            left = shipped
        elif status == "cancelled":
            left = min(first + timedelta(hours=rng.uniform(0.5, 48)), latest)
            tail = [left]
        elif len(path) > 1:
            span = (now - first).total_seconds()
            tail = [min(first + timedelta(seconds=rng.uniform(0.1, 0.9) * span), latest)]
        head = path[: len(path) - len(tail)]
        times = [first] if head else []
        if len(head) > 1:
            until = tail[0] if tail else latest
            gap = max((until - first).total_seconds(), 1.0)
            times += sorted(first + timedelta(seconds=rng.uniform(0, gap)) for _ in head[1:])
        times += tail
        return list(zip(path, times, strict=True)), left

    def _event(self, oid, kind, from_status, to_status, message, user, at) -> tuple:
        eid = self.next_event
        self.next_event += 1
        return (eid, oid, kind, from_status, to_status, message, user, at)

    # -- stock totals, ledger ---------------------------------------------------------------------
    def _stock(self) -> None:
        """Levels: allocated/backordered from the lines; on_hand ≥ allocated (nothing spare for
        scarce SKUs); ledger: an opening receipt and the shipped history, summing to on_hand."""
        rng = self.rng
        n_wh = len(self.warehouses)
        next_movement = _next_id(StockMovement)
        opened = self.now - timedelta(days=250)
        shipped_at = self.now - timedelta(days=1)
        levels, movements = [], []
        for index in range(len(self.lv_allocated)):
            p_index, w = divmod(index, n_wh)
            pid, client_id, _sku, _price, _cents, scarce = self.products[p_index]
            allocated = self.lv_allocated[index]
            backordered = self.lv_backordered[index]
            shipped = self.lv_shipped[index]
            spare = 0 if scarce else (rng.randint(5, 400) if rng.random() < 0.9 else 0)
            on_hand = allocated + spare
            level_id = self.level_base + index
            wh_id = self.warehouses[w].pk
            levels.append((level_id, on_hand, allocated, backordered))
            received = on_hand + shipped
            if received:
                movements.append(
                    (
                        next_movement,
                        client_id,
                        level_id,
                        pid,
                        wh_id,
                        "receipt",
                        received,
                        received,
                        "Opening stock (generated)",
                        opened,
                    )
                )
                next_movement += 1
            if shipped:
                movements.append(
                    (
                        next_movement,
                        client_id,
                        level_id,
                        pid,
                        wh_id,
                        "shipment",
                        -shipped,
                        on_hand,
                        "Shipped orders (generated)",
                        shipped_at,
                    )
                )
                next_movement += 1
        self._update_levels(levels)
        self.sink.write(
            StockMovement,
            [
                "id",
                "client_id",
                "stock_level_id",
                "product_id",
                "warehouse_id",
                "kind",
                "quantity",
                "balance_after",
                "reference",
                "created_at",
            ],
            movements,
        )

    def _update_levels(self, levels: list[tuple[int, int, int, int]]) -> None:
        update_rows(StockLevel, ("on_hand", "allocated", "backordered"), levels)

    def _pg_drop_constraints(self) -> tuple[list, list]:
        """Drop the foreign keys and secondary indexes of the tables we fill, to re-create them
        once at the end: one sort per index and one join per foreign key instead of a
        b-tree insert and a trigger per row. Inside the transaction, so nothing is lost if
        the command fails. Primary keys, unique and check constraints stay."""
        tables = [connection.ops.quote_name(m._meta.db_table) for m in LOADED_MODELS]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) "
                "ORDER BY 1, 2",
                [tables],
            )
            foreign_keys = cursor.fetchall()
            cursor.execute(
                "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                "ORDER BY 1",
                [tables],
            )
            indexes = cursor.fetchall()
            for table, name, _definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}"
                )
            for name, _definition in indexes:
                cursor.execute(f"DROP INDEX {name}")
        return foreign_keys, indexes

    def _pg_restore_constraints(self, foreign_keys: list, indexes: list) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cursor.execute(definition)
            for table, name, definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} "
                    f"{definition}"
                )

    def _reset_sequences(self) -> None:
        statements = connection.ops.sequence_reset_sql(no_style(), LOADED_MODELS)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    def _vacuum(self) -> None:
        with connection.cursor() as cursor:
            for model in [*LOADED_MODELS, Client, Membership]:
                table = connection.ops.quote_name(model._meta.db_table)
                cursor.execute(f"VACUUM (ANALYZE) {table}")


# A new order's row (``OrderRow``) with the columns only history has around it.
ORDER_FIELDS = [
    "id",
    *ORDER_ROW_FIELDS,
    "assigned_to_id",
    "hold_reason",
    "hold_from_status",
    "delay_reason",
    "created_at",
    "updated_at",
]
LINE_FIELDS = [
    "id",
    "order_id",
    "line_no",
    "product_id",
    "quantity",
    "unit_price",
    "qty_allocated",
    "qty_backordered",
    "qty_shipped",
    "qty_cancelled",
    "backorder_level_id",
]
EVENT_FIELDS = [
    "id",
    "order_id",
    "kind",
    "from_status",
    "to_status",
    "message",
    "user_id",
    "created_at",
]
PATHS = {
    "new": [],
    "ready": ["ready"],
    "backordered": ["backordered"],
    "picking": ["ready", "picking"],
    "packed": ["ready", "picking", "packed"],
    "shipped": ["ready", "picking", "packed", "shipped"],
    "delivered": ["ready", "picking", "packed", "shipped", "delivered"],
}
SOURCE_LABELS = dict(Order.Source.choices)
SL_VALUES = [s for s, _ in SERVICE_LEVELS]
SL_CUM = _cum(SERVICE_LEVELS)
HOLD_VALUES = [s for s, _ in HOLD_FROM]
HOLD_CUM = _cum(HOLD_FROM)
LINE_CUM = list(itertools.accumulate(LINE_WEIGHTS))
QTY_CUM = list(itertools.accumulate(QTY_WEIGHTS))
SHIPPING_CENTS = 590
# Written with COPY (PostgreSQL); their foreign keys and secondary indexes are re-built at the end.
LOADED_MODELS = [
    Product,
    Customer,
    StockLevel,
    StockMovement,
    Order,
    OrderLine,
    Allocation,
    OrderEvent,
]
ZERO = Decimal("0.00")
