"""Allocation: which order gets which unit of stock, decided by priority.

The algorithm, step by step (one transaction per call; see inventory.services for the lock
order every write in the product follows):

1. Find the products whose lines need stock, make sure each has a stock level (demand needs
   somewhere to be counted), and **lock all their stock levels** in primary-key order.
2. Lock the orders (primary-key order) and re-read their lines: from here on nothing else can
   change these quantities until we commit.
3. Walk the orders **most urgent first** (priority score, then promise, then age, then id).
   For each order:
   a. Its uncovered need per product is ``open − allocated``; previous backorder counts are
      taken back first and re-decided below.
   b. If one active warehouse can cover the whole need, reserve everything there (preferring a
      warehouse that already holds part of the order). Otherwise take warehouses in order of
      how much of the order they can cover, so the order is split over as few as possible.
   c. Still short? Take units reserved for **less urgent** orders that are not yet on the
      floor (``ready``/``backordered``), least urgent first; those orders become backordered
      and get a timeline entry. Scarce stock therefore ends up with the most urgent orders
      whatever order requests arrive in.
   d. What is left is backordered: on the line, and on a stock level's ``backordered``.
   e. Fully covered → ``ready``; anything backordered → ``backordered``.
4. Write everything in bulk: allocations, stock levels (the CHECK ``allocated ≤ on_hand`` is
   the last line of defence), lines, orders, timeline rows.

``orders_allocate`` is used for one order (create, release, manual re-run) and for batches
(imports, benchmarks) alike; ``backorders_fill`` runs it over waiting orders when stock arrives.

Plain rows: the engine reads the columns it needs with ``values_list`` into small slotted
objects (``_Level``, ``_Line``, ``_Order``, ``_Alloc``) and writes back with
``core.bulk.update_rows``/``insert_rows`` (``UPDATE … FROM unnest`` and ``COPY`` on
PostgreSQL). Building model instances for every order, line and stock level of a batch was
most of its Python time (docs/benchmarks.md); the decisions are the same either way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from clients.models import Client
from core.bulk import insert_rows, update_rows
from core.db import atomic_with_retry
from inventory import services as inventory
from inventory.exceptions import InsufficientStock
from inventory.models import Product, StockLevel, Warehouse
from orders.models import Allocation, Order, OrderEvent, OrderLine
from orders.services.priority import compute_segment
from orders.services.status import TRANSITIONS, status_changes_announce

S = Order.Status
NEW, READY, BACKORDERED = (
    S.NEW.value,
    S.READY.value,
    S.BACKORDERED.value,
)  # plain strings for the bulk writes
ALLOCATION = OrderEvent.Kind.ALLOCATION.value
ALLOCATABLE = (S.NEW, S.BACKORDERED, S.READY)
PREEMPTABLE = (S.READY, S.BACKORDERED)
_VICTIM_IDS_MAX = 5_000  # candidate orders passed by id to the pre-emption query, at most

# What the engine reads, as plain rows (see "Plain rows" in the module docstring).
_ORDER_COLUMNS = (
    "pk",
    "client_id",
    "number",
    "status",
    "priority_score",
    "ship_by",
    "placed_at",
    "expedite",
)
_LEVEL_COLUMNS = ("pk", "product_id", "warehouse_id", "on_hand", "allocated", "backordered")
_LINE_COLUMNS = (
    "pk",
    "order_id",
    "product_id",
    "quantity",
    "qty_shipped",
    "qty_cancelled",
    "qty_allocated",
    "qty_backordered",
    "backorder_level_id",
)


_FRESH_ID_BASE = 2**62  # beyond any real id: the tie-break position of orders not yet saved


def _key(order: _Order) -> tuple:
    return order.key


def priority_key(order) -> tuple:
    """Sort key: smaller is more urgent (an ``Order`` or the engine's own order rows)."""
    return (-order.priority_score, order.ship_by, order.placed_at, order.pk)


@dataclass
class AllocationReport:
    orders: int = 0
    ready: int = 0
    backordered: int = 0
    units_allocated: int = 0
    units_backordered: int = 0
    preempted_orders: set[int] = field(default_factory=set)

    def merge(self, other: AllocationReport) -> None:
        self.orders += other.orders
        self.ready += other.ready
        self.backordered += other.backordered
        self.units_allocated += other.units_allocated
        self.units_backordered += other.units_backordered
        self.preempted_orders |= other.preempted_orders


# -- the engine's rows: the columns it needs, mutable, nothing else ----------------------------
class _Level:
    __slots__ = ("allocated", "backordered", "on_hand", "pk", "product_id", "warehouse_id")

    def __init__(self, pk, product_id, warehouse_id, on_hand, allocated, backordered):
        self.pk = pk
        self.product_id = product_id
        self.warehouse_id = warehouse_id
        self.on_hand = on_hand
        self.allocated = allocated
        self.backordered = backordered


class _Line:
    __slots__ = (
        "backorder_level_id",
        "order_id",
        "pk",
        "product_id",
        "qty_allocated",
        "qty_backordered",
        "qty_open",
    )

    def __init__(
        self, pk, order_id, product_id, quantity, shipped, cancelled, allocated, bo, bo_at
    ):
        self.pk = pk
        self.order_id = order_id
        self.product_id = product_id
        self.qty_open = quantity - shipped - cancelled
        self.qty_allocated = allocated
        self.qty_backordered = bo
        self.backorder_level_id = bo_at


class _Order:
    __slots__ = (
        "client_id",
        "expedite",
        "key",
        "number",
        "pk",
        "placed_at",
        "priority_score",
        "segment",
        "ship_by",
        "status",
    )

    def __init__(self, pk, client_id, number, status, score, ship_by, placed_at, expedite):
        self.pk = pk
        self.client_id = client_id
        self.number = number
        self.status = status
        self.segment = None
        self.priority_score = score
        self.ship_by = ship_by
        self.placed_at = placed_at
        self.expedite = expedite
        self.key = (-score, ship_by, placed_at, pk)


class _Alloc:
    __slots__ = ("level", "line_id", "pk", "quantity")

    def __init__(self, pk, line_id, level, quantity):
        self.pk = pk
        self.line_id = line_id
        self.level = level
        self.quantity = quantity


class _Run:
    """The in-memory state of one allocation transaction."""

    def __init__(self, levels: list[_Level], user, active: dict[int, bool]) -> None:
        self.user_id = user.pk if user is not None else None
        self.now = timezone.now()
        self.clients: dict[int, Client] = {}
        self._skus: dict[int, str] | None = None
        self.levels = {lv.pk: lv for lv in levels}
        self.levels_by_product: dict[int, list[_Level]] = defaultdict(list)
        self.active_by_product: dict[int, list[_Level]] = defaultdict(list)
        self.level_at: dict[tuple[int, int], _Level] = {}
        for lv in levels:
            self.levels_by_product[lv.product_id].append(lv)
            if active[lv.warehouse_id]:
                self.active_by_product[lv.product_id].append(lv)
            self.level_at[(lv.product_id, lv.warehouse_id)] = lv
        self.active = active  # warehouse id → active
        self.allocations: dict[tuple[int, int], _Alloc] = {}
        self.allocs_by_line: dict[int, list[_Alloc]] = defaultdict(list)
        self.lines: dict[int, _Line] = {}
        self.lines_by_order: dict[int, list[_Line]] = defaultdict(list)
        self.orders: dict[int, _Order] = {}
        self.dirty_levels: set[int] = set()
        self.dirty_lines: set[int] = set()
        self.dirty_orders: set[int] = set()
        self.events: list[tuple] = []
        self.victims: dict[int, list[_Alloc]] | None = None
        self.report = AllocationReport()

    # -- small helpers ------------------------------------------------------------------------
    def add_allocation(self, alloc: _Alloc) -> _Alloc:
        key = (alloc.line_id, alloc.level.pk)
        if key not in self.allocations:
            self.allocations[key] = alloc
            self.allocs_by_line[alloc.line_id].append(alloc)
        return self.allocations[key]

    def sku(self, product_id: int) -> str:
        if self._skus is None:  # only messages need SKUs: one query, on first use
            ids = {lv.product_id for lv in self.levels.values()}
            self._skus = dict(Product.objects.filter(pk__anyof=list(ids)).values_list("pk", "sku"))
        return self._skus[product_id]

    def available(self, level: _Level) -> int:
        if not self.active[level.warehouse_id]:
            return 0
        return level.on_hand - level.allocated

    def reserve(self, line: _Line, level: _Level, qty: int) -> None:
        level.allocated += qty
        line.qty_allocated += qty
        key = (line.pk, level.pk)
        alloc = self.allocations.get(key)
        if alloc is None:
            alloc = _Alloc(None, line.pk, level, qty)
            self.allocations[key] = alloc
            self.allocs_by_line[line.pk].append(alloc)
        else:
            alloc.quantity += qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def unreserve(self, alloc: _Alloc, qty: int) -> None:
        level = alloc.level
        line = self.lines[alloc.line_id]
        level.allocated -= qty
        line.qty_allocated -= qty
        alloc.quantity -= qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def set_backorder(self, line: _Line, qty: int, level: _Level) -> None:
        if line.qty_backordered:
            old = self.levels[line.backorder_level_id]
            old.backordered -= line.qty_backordered
            self.dirty_levels.add(old.pk)
        line.qty_backordered = qty
        line.backorder_level_id = level.pk if qty else None
        if qty:
            level.backordered += qty
            self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def event(self, order: _Order, message: str, from_status: str = "", to_status: str = ""):
        self.events.append((order.pk, ALLOCATION, from_status, to_status, message, self.user_id))


def _load_lines(run: _Run, order_ids: list[int]) -> None:
    rows = (
        OrderLine.objects.filter(order_id__anyof=order_ids)
        .order_by("order_id", "line_no")
        .values_list(*_LINE_COLUMNS)
    )
    held = []
    for row in rows:
        line = _Line(*row)
        run.lines[line.pk] = line
        run.lines_by_order[line.order_id].append(line)
        if line.qty_allocated:
            held.append(line.pk)
    # Only lines with units allocated have allocation rows (qty_allocated is their sum): new
    # orders need no query, and PostgreSQL scanned the whole allocation table for one.
    if not held:
        return
    # Lines of products outside this run (a fill limited to some products) keep their
    # reservations untouched; their levels are not locked, only their warehouse is read (the
    # plan prefers a warehouse that already holds part of the order).
    others: dict[int, _Level] = {}
    rows = Allocation.objects.filter(line_id__anyof=held).values_list(
        "pk", "line_id", "stock_level_id", "quantity", "stock_level__warehouse_id"
    )
    for pk, line_id, level_id, quantity, warehouse_id in rows:
        level = run.levels.get(level_id)
        if level is None:
            level = others.get(level_id) or _Level(level_id, None, warehouse_id, 0, 0, 0)
            others[level_id] = level
        run.add_allocation(_Alloc(pk, line_id, level, quantity))


def _less_urgent_than(order: _Order, prefix: str = "") -> Q:
    """SQL for ``priority_key(other) > priority_key(order)`` (``prefix`` reaches the order)."""
    s, ship_by, placed_at = order.priority_score, order.ship_by, order.placed_at
    p = prefix
    return (
        Q(**{f"{p}priority_score__lt": s})
        | Q(**{f"{p}priority_score": s, f"{p}ship_by__gt": ship_by})
        | Q(**{f"{p}priority_score": s, f"{p}ship_by": ship_by, f"{p}placed_at__gt": placed_at})
        | Q(
            **{
                f"{p}priority_score": s,
                f"{p}ship_by": ship_by,
                f"{p}placed_at": placed_at,
                f"{p}id__gt": order.key[3],
            }
        )
    )


def _load_victims(
    run: _Run, shortages: dict[int, int], batch_order_ids: set[int], most_urgent: _Order
) -> None:
    """Reservations held by not-yet-picked orders outside this batch, least urgent first.

    Only orders less urgent than the batch's most urgent order are candidates: ``_preempt``
    never takes from an order at least as urgent as the one it allocates, so the others cannot
    lose anything. And per short product only the ``shortage`` least urgent reservations are
    loaded: the batch cannot take more units than it is short, and every reservation holds at
    least one. The database ranks them (``ROW_NUMBER() OVER (PARTITION BY product …)``), so
    the cost no longer grows with the backlog's size in Python (imports allocate chunk after
    chunk against a backlog that holds most of the stock).
    """
    run.victims = defaultdict(list)
    # The candidate orders first, through the partial index ``order_preemptable_idx``: a batch
    # allocated in priority order finds none and stops here. (In the one joined query below,
    # PostgreSQL reads every reservation of the short products on each call, a cost that
    # grows with the backlog; given the candidates' ids it goes through the indexes.)
    clients = sorted({o.client_id for o in run.orders.values()})
    candidates = list(
        Order.objects.filter(
            _less_urgent_than(most_urgent),
            priority_score__lte=most_urgent.priority_score,  # implied; the index's range
            status__in=PREEMPTABLE,
            client_id__in=clients,  # stock belongs to one client: no one else's orders
        )
        .exclude(pk__anyof=list(batch_order_ids) or [0])
        .order_by()
        .values_list("pk", "priority_score", "ship_by", "placed_at")[: _VICTIM_IDS_MAX + 1]
    )
    if not candidates:
        return
    if len(candidates) <= _VICTIM_IDS_MAX:
        # Few candidates: their reservations of the short products by index (line, then
        # allocation), ranked here. The window query below would join every reservation.
        less_urgent = {
            pk: (-score, ship_by, placed_at, pk) for pk, score, ship_by, placed_at in candidates
        }
        rows = list(
            Allocation.objects.filter(
                line__order_id__anyof=list(less_urgent),
                line__product_id__anyof=list(shortages),
            ).values_list(
                "pk", "line_id", "stock_level_id", "quantity", "line__order_id", "line__product_id"
            )
        )
        rows.sort(key=lambda r: less_urgent[r[4]], reverse=True)  # least urgent first
        taken: dict[int, int] = defaultdict(int)
        ranked = []
        for r in rows:
            taken[r[5]] += 1
            ranked.append((*r, taken[r[5]]))
    else:
        ranked = _ranked_reservations(shortages, batch_order_ids, most_urgent)
    ranked = [r for r in ranked if r[6] <= shortages[r[5]]]
    if not ranked:
        return
    locked = {
        row[0]: _Order(*row)
        for row in Order.objects.select_for_update()
        .filter(
            _less_urgent_than(most_urgent),
            pk__anyof=sorted({r[4] for r in ranked}),
            status__in=PREEMPTABLE,
        )
        .order_by("pk")
        .values_list(*_ORDER_COLUMNS)
    }
    missing = {r[1] for r in ranked if r[1] not in run.lines}
    if missing:
        for row in OrderLine.objects.filter(pk__anyof=list(missing)).values_list(*_LINE_COLUMNS):
            run.lines[row[0]] = _Line(*row)
    for pk, line_id, level_id, quantity, order_id, product_id, _rank in ranked:
        order = locked.get(order_id)
        if order is None:
            continue
        order = run.orders.setdefault(order.pk, order)
        alloc = run.add_allocation(_Alloc(pk, line_id, run.levels[level_id], quantity))
        run.victims[product_id].append(alloc)
    for items in run.victims.values():
        # Sorted most urgent first, so popping from the end takes the least urgent first.
        items.sort(key=lambda a: run.orders[run.lines[a.line_id].order_id].key)


def _ranked_reservations(
    shortages: dict[int, int], batch_order_ids: set[int], most_urgent: _Order
) -> list[tuple]:
    """Many candidates: the database ranks the reservations of the short products per product,
    least urgent first, at most the largest shortage each."""
    less_urgent_first = [
        F("line__order__priority_score").asc(),
        F("line__order__ship_by").desc(),
        F("line__order__placed_at").desc(),
        F("line__order_id").desc(),
    ]
    return list(
        Allocation.objects.filter(
            _less_urgent_than(most_urgent, "line__order__"),
            stock_level__product_id__anyof=list(shortages),
            line__order__status__in=PREEMPTABLE,
        )
        .exclude(line__order_id__anyof=list(batch_order_ids) or [0])
        .annotate(
            product_id=F("stock_level__product_id"),
            rank=Window(
                RowNumber(),
                partition_by=[F("stock_level__product_id")],
                order_by=less_urgent_first,
            ),
        )
        .filter(rank__lte=max(shortages.values()))
        .values_list(
            "pk", "line_id", "stock_level_id", "quantity", "line__order_id", "product_id", "rank"
        )
    )


def _plan_warehouses(run: _Run, order: _Order, need: dict[int, int]) -> list[int]:
    """Warehouse ids to draw from, best first: one that covers everything, else fewest."""
    cover: dict[int, int] = defaultdict(int)
    complete: dict[int, int] = defaultdict(int)  # products fully covered there
    for product_id, qty in need.items():
        for lv in run.active_by_product[product_id]:
            avail = lv.on_hand - lv.allocated
            wh = lv.warehouse_id
            if avail >= qty:
                cover[wh] += qty
                complete[wh] += 1
            else:
                cover[wh] += max(avail, 0)
    whole = [wh for wh, n in complete.items() if n == len(need)]
    held = {
        a.level.warehouse_id
        for line in run.lines_by_order[order.pk]
        for a in run.allocs_by_line.get(line.pk, ())
        if a.quantity > 0
    }
    if whole:
        return [min(whole, key=lambda wh: (wh not in held, wh))]
    return sorted(cover, key=lambda wh: (-cover[wh], wh not in held, wh))


def _allocate_order(run: _Run, order: _Order, lines: list[_Line], preempt: bool) -> None:
    need_lines = [ln for ln in lines if ln.qty_open - ln.qty_allocated > 0]
    before_allocated = sum(ln.qty_allocated for ln in need_lines)
    need: dict[int, int] = defaultdict(int)
    for line in need_lines:
        need[line.product_id] += line.qty_open - line.qty_allocated
    plan = _plan_warehouses(run, order, need) if need else []
    for line in need_lines:
        level_at = run.level_at
        for wh in plan:
            level = level_at.get((line.product_id, wh))
            remaining = line.qty_open - line.qty_allocated
            if level is None or remaining <= 0:
                continue
            take = min(remaining, run.available(level))
            if take > 0:
                run.reserve(line, level, take)
        if preempt and line.qty_open - line.qty_allocated > 0:
            _preempt(run, order, line)
        remaining = line.qty_open - line.qty_allocated
        if remaining or line.qty_backordered:
            home = run.levels.get(line.backorder_level_id) if line.backorder_level_id else None
            if home is None:
                home = run.level_at.get((line.product_id, plan[0])) if plan else None
                home = home or run.levels_by_product[line.product_id][0]
            run.set_backorder(line, remaining, home)
    run.report.units_allocated += sum(ln.qty_allocated for ln in need_lines) - before_allocated
    _settle_status(run, order, run.lines_by_order[order.pk], message_prefix="Allocation")


def _preempt(run: _Run, order: _Order, line: _Line) -> None:
    if run.victims is None:
        return
    items = run.victims.get(line.product_id, [])
    while items and line.qty_open - line.qty_allocated > 0:
        alloc = items[-1]
        victim_line = run.lines[alloc.line_id]
        victim = run.orders[victim_line.order_id]
        if victim.key <= order.key:
            break  # everyone left is at least as urgent as this order
        if alloc.quantity <= 0:
            items.pop()
            continue
        level = alloc.level
        take = min(alloc.quantity, line.qty_open - line.qty_allocated)
        run.unreserve(alloc, take)
        run.set_backorder(victim_line, victim_line.qty_backordered + take, level)
        run.reserve(line, level, take)
        run.report.preempted_orders.add(victim.pk)
        run.event(
            victim,
            f"{take} × {run.sku(level.product_id)} re-assigned to more urgent order "
            f"{order.number} (priority {order.priority_score} vs {victim.priority_score}).",
        )
        if alloc.quantity == 0:
            items.pop()
        _settle_status(run, victim, [victim_line], message_prefix="Stock re-assigned")


def _settle_status(run: _Run, order: _Order, lines: list[_Line], *, message_prefix: str) -> None:
    """Ready when nothing of ``lines`` is backordered (callers pass all lines, or for a
    pre-empted order the line that just lost units, which alone makes it backordered).

    The move follows the status machine (``orders.services.status.TRANSITIONS``): the engine
    only loads ``new``/``ready``/``backordered`` orders, and every move between them towards
    ``ready`` or ``backordered`` is allowed; the assertion guards that table."""
    backordered = 0
    allocated = 0
    for ln in lines:
        backordered += ln.qty_backordered
        allocated += ln.qty_allocated
    target = BACKORDERED if backordered else READY
    if order.status == target:
        return
    assert target in TRANSITIONS[order.status], (order.status, target)
    run.event(
        order,
        f"{message_prefix}: {allocated} reserved, {backordered} backordered.",
        order.status,
        target,
    )
    order.status = target
    order.segment = str(
        compute_segment(
            status=target,
            ship_by=order.ship_by,
            expedite=order.expedite,
            client=run.clients[order.client_id],
            now=run.now,
        )
    )
    run.dirty_orders.add(order.pk)


def allocation_write(
    run: _Run, *, order_ids: dict[int, int] | None = None, line_ids: dict[int, int] | None = None
) -> None:
    """Step 4: write what :func:`allocation_plan` decided. ``order_ids``/``line_ids`` map the
    fresh orders' and lines' temporary ids to the ids they got when the caller inserted them
    (the fresh rows themselves are the caller's to insert; only their allocations and
    timeline rows are written here)."""
    order_ids = order_ids or {}
    line_ids = line_ids or {}
    levels = [run.levels[pk] for pk in sorted(run.dirty_levels)]
    for lv in levels:
        if lv.allocated > lv.on_hand or lv.allocated < 0 or lv.backordered < 0:
            raise InsufficientStock(
                f"Stock level {lv.pk}: cannot reserve {lv.allocated} with {lv.on_hand} on hand."
            )
    update_rows(
        StockLevel,
        ("allocated", "backordered"),
        [(lv.pk, lv.allocated, lv.backordered) for lv in levels],
    )
    new, changed, gone = [], [], []
    for alloc in run.allocations.values():
        if alloc.pk is None:
            if alloc.quantity > 0:
                line_id = alloc.line_id if alloc.line_id > 0 else line_ids[alloc.line_id]
                new.append((line_id, alloc.level.pk, alloc.quantity))
        elif alloc.quantity == 0:
            gone.append(alloc.pk)
        else:
            changed.append((alloc.pk, alloc.quantity))
    if gone:
        Allocation.objects.filter(pk__in=gone).delete()
    update_rows(Allocation, ("quantity",), changed)
    insert_rows(Allocation, ("line_id", "stock_level_id", "quantity"), new, return_ids=False)
    update_rows(
        OrderLine,
        ("qty_allocated", "qty_backordered", "backorder_level_id"),
        [
            (ln.pk, ln.qty_allocated, ln.qty_backordered, ln.backorder_level_id)
            for ln in (run.lines[pk] for pk in run.dirty_lines if pk > 0)
        ],
    )
    update_rows(
        Order,
        ("status", "segment", "updated_at"),
        [
            (o.pk, o.status, o.segment, run.now)
            for o in (run.orders[pk] for pk in run.dirty_orders if pk > 0)
        ],  # (fresh orders, pk < 0, are inserted by the caller with their outcome)
    )
    events = (
        [(e[0] if e[0] > 0 else order_ids[e[0]], *e[1:]) for e in run.events]
        if order_ids
        else run.events
    )
    insert_rows(
        OrderEvent,
        ("order_id", "kind", "from_status", "to_status", "message", "user_id"),
        events,
        return_ids=False,
    )
    status_changes_announce([(e[0], e[2], e[3]) for e in events if e[3]])


def _lock_levels(product_ids: set[int]) -> list[_Level]:
    rows = inventory.stock_levels_lock(product_ids=product_ids, columns=_LEVEL_COLUMNS)
    return [_Level(*row) for row in rows]


@atomic_with_retry
def orders_allocate(
    *,
    order_ids: list[int],
    product_ids: list[int] | None = None,
    user=None,
    preempt: bool = True,
) -> AllocationReport:
    """Reserve stock for these orders, most urgent first; see the module docstring.

    ``product_ids`` limits the work to lines of those products (filling backorders after a
    receipt). Locks: the stock levels of the products involved, then the orders, then (only
    when short) the less urgent orders whose reservations it takes. Orders that are not
    ``new``/``backordered``/``ready`` are skipped untouched.
    """
    run = allocation_plan(order_ids=order_ids, product_ids=product_ids, user=user, preempt=preempt)
    allocation_write(run)
    return run.report


# Orders not in the database yet (``orders_create_batch``): planned with temporary negative
# ids, inserted by the caller with the outcome, then ``allocation_write`` binds the real ids.
def fresh_order(
    temp_id: int, client_id, number, score, ship_by, placed_at, expedite, segment
) -> _Order:
    """The engine's row for an order not saved yet (``temp_id`` < 0, unique in the batch)."""
    fresh = _Order(temp_id, client_id, number, NEW, score, ship_by, placed_at, expedite)
    fresh.segment = segment
    # Ties are broken by id, and a fresh order will get a higher id than every existing one.
    fresh.key = (*fresh.key[:3], _FRESH_ID_BASE - temp_id)
    return fresh


def fresh_line(temp_id: int, temp_order_id: int, product_id: int, quantity: int) -> _Line:
    return _Line(temp_id, temp_order_id, product_id, quantity, 0, 0, 0, 0, None)


def allocation_plan(
    *,
    order_ids: list[int] = (),
    product_ids: list[int] | None = None,
    user=None,
    preempt: bool = True,
    fresh_orders: list[_Order] = (),
    fresh_lines: list[_Line] = (),
) -> _Run:
    """Lock, load and decide (steps 1–3 of the module docstring); nothing is written.

    Must run inside a transaction, followed by :func:`allocation_write`. ``fresh_orders``/
    ``fresh_lines`` are orders being created in this transaction, not yet inserted: they
    are allocated with the others, in the same priority order, and may pre-empt less urgent
    orders; afterwards their ``status``/``segment`` and line quantities hold the outcome.
    """
    order_ids = list(order_ids)
    products: set[int] = {ln.product_id for ln in fresh_lines}
    if order_ids:
        # (Products of orders that turn out not to be allocatable are locked too: harmless,
        # and cheaper than joining the orders' status here.)
        lines_qs = OrderLine.objects.filter(order_id__anyof=order_ids)
        if product_ids is not None:
            lines_qs = lines_qs.filter(product_id__anyof=list(product_ids))
        products |= set(lines_qs.order_by().values_list("product_id", flat=True).distinct())
    levels = _lock_levels(products)
    missing = products - {lv.product_id for lv in levels}
    if missing:  # demand needs somewhere to be counted: a level in the default warehouse
        inventory.stock_levels_ensure(products=Product.objects.filter(pk__anyof=sorted(missing)))
        levels = _lock_levels(products)
    active = dict(Warehouse.objects.order_by().values_list("pk", "active"))
    run = _Run(levels, user, active)
    orders = (
        [
            _Order(*row)
            for row in Order.objects.select_for_update()
            .filter(pk__anyof=order_ids, status__in=ALLOCATABLE)
            .order_by("pk")
            .values_list(*_ORDER_COLUMNS)
        ]
        if order_ids
        else []
    )
    existing = [o.pk for o in orders]
    orders += fresh_orders
    if not orders:
        return run
    run.clients = Client.objects.in_bulk()
    for order in orders:
        run.orders[order.pk] = order
    if existing:
        _load_lines(run, existing)
    for line in fresh_lines:
        run.lines[line.pk] = line
        run.lines_by_order[line.order_id].append(line)
    if preempt:
        short = _short_products(run, orders, products)
        if short:
            _load_victims(run, short, set(existing), min(orders, key=_key))
    wanted = set(product_ids) if product_ids is not None else None
    for order in sorted(orders, key=_key):
        lines = run.lines_by_order[order.pk]
        if wanted is not None:
            lines = [ln for ln in lines if ln.product_id in wanted]
        _allocate_order(run, order, lines, preempt)
        run.report.orders += 1
    for order in orders:
        if order.status == S.READY:
            run.report.ready += 1
        elif order.status == S.BACKORDERED:
            run.report.backordered += 1
    # The batch's own lines only: run.orders also holds the pre-empted orders.
    batch = {order.pk for order in orders}
    run.report.units_backordered = sum(
        run.lines[pk].qty_backordered for pk in run.dirty_lines if run.lines[pk].order_id in batch
    )
    return run


def _short_products(run: _Run, orders: list[_Order], products: set[int]) -> dict[int, int]:
    """Products the batch wants more of than is available, with the units it is short: only
    those can need preemption, and never more units than that."""
    want: dict[int, int] = defaultdict(int)
    for order in orders:
        for line in run.lines_by_order[order.pk]:
            if line.product_id in products:
                want[line.product_id] += max(line.qty_open - line.qty_allocated, 0)
    shortages = {
        pid: qty - sum(run.available(lv) for lv in run.levels_by_product[pid])
        for pid, qty in want.items()
    }
    return {pid: short for pid, short in shortages.items() if short > 0}


def orders_allocate_in_priority_order(
    *, order_ids: list[int], chunk: int = 2000, user=None
) -> AllocationReport:
    """Allocate many orders, each chunk in its own transaction, most urgent chunk first."""
    ordered = list(
        Order.objects.filter(pk__anyof=list(order_ids), status__in=ALLOCATABLE)
        .order_by("-priority_score", "ship_by", "placed_at", "id")
        .values_list("id", flat=True)
    )
    report = AllocationReport()
    for start in range(0, len(ordered), chunk):
        report.merge(orders_allocate(order_ids=ordered[start : start + chunk], user=user))
    return report


def backorders_fill(*, product_ids: list[int], user=None) -> AllocationReport:
    """Give newly available units of these products to waiting orders, most urgent first.

    Runs inside the transaction that made the stock available (receipt, return, adjustment,
    transfer, cancellation), so nothing less urgent can take the units in between.
    """
    waiting = list(
        Order.objects.filter(
            status=S.BACKORDERED,
            lines__product_id__in=product_ids,
            lines__qty_backordered__gt=0,
        )
        .values_list("id", flat=True)
        .distinct()
    )
    if not waiting:
        return AllocationReport()
    return orders_allocate(
        order_ids=waiting, product_ids=list(product_ids), user=user, preempt=False
    )
