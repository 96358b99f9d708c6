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
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from bpo_backoffice.db import atomic_with_retry, bulk_update_columns
from clients.models import Client
from inventory import services as inventory
from inventory.models import Product, StockLevel, Warehouse
from orders.models import Allocation, Order, OrderEvent, OrderLine
from orders.services.status import set_status

S = Order.Status
ALLOCATABLE = (S.NEW, S.BACKORDERED, S.READY)
PREEMPTABLE = (S.READY, S.BACKORDERED)
_VICTIM_IDS_MAX = 5_000  # candidate orders passed by id to the pre-emption query, at most
# Order columns allocation and the status change never read: batches load thousands of orders,
# and decoding JSON, decimals and timestamps nobody looks at was a good part of the time.
# (Reading one anyway would cost a query per order, not a wrong result.)
_ORDER_FIELDS_NOT_READ = (
    "priority_breakdown",
    "priority_computed_at",
    "ship_to_name",
    "ship_to_address1",
    "ship_to_address2",
    "ship_to_city",
    "ship_to_postcode",
    "ship_to_region",
    "ship_to_country",
    "ship_to_phone",
    "subtotal",
    "shipping_total",
    "tax_total",
    "total",
    "created_at",
    "updated_at",
)


def priority_key(order: Order) -> tuple:
    """Sort key: smaller is more urgent."""
    return (-order.priority_score, order.ship_by, order.placed_at, order.id)


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


class _Run:
    """The in-memory state of one allocation transaction."""

    def __init__(self, levels: list[StockLevel], user, active: dict[int, bool]) -> None:
        self.user = user
        self.active = active  # warehouse id → active (levels are locked without their joins)
        self._skus: dict[int, str] | None = None
        self.levels = {lv.pk: lv for lv in levels}
        self.levels_by_product: dict[int, list[StockLevel]] = defaultdict(list)
        self.level_at: dict[tuple[int, int], StockLevel] = {}
        for lv in levels:
            self.levels_by_product[lv.product_id].append(lv)
            self.level_at[(lv.product_id, lv.warehouse_id)] = lv
        self.allocations: dict[tuple[int, int], Allocation] = {}
        self.allocs_by_line: dict[int, list[Allocation]] = defaultdict(list)
        self.lines: dict[int, OrderLine] = {}
        self.lines_by_order: dict[int, list[OrderLine]] = defaultdict(list)
        self.orders: dict[int, Order] = {}
        self.dirty_levels: set[int] = set()
        self.dirty_lines: set[int] = set()
        self.dirty_orders: set[int] = set()
        self.events: list[OrderEvent] = []
        self.victims: dict[int, list[Allocation]] | None = None
        self.report = AllocationReport()

    # -- small helpers ------------------------------------------------------------------------
    def add_allocation(self, alloc: Allocation) -> Allocation:
        key = (alloc.line_id, alloc.stock_level_id)
        if key not in self.allocations:
            self.allocations[key] = alloc
            self.allocs_by_line[alloc.line_id].append(alloc)
        return self.allocations[key]

    def sku(self, product_id: int) -> str:
        if self._skus is None:  # only messages need SKUs: one query, on first use
            ids = {lv.product_id for lv in self.levels.values()}
            self._skus = dict(Product.objects.filter(pk__in=ids).values_list("pk", "sku"))
        return self._skus[product_id]

    def available(self, level: StockLevel) -> int:
        if not self.active[level.warehouse_id]:
            return 0
        return level.on_hand - level.allocated

    def reserve(self, line: OrderLine, level: StockLevel, qty: int) -> None:
        level.allocated += qty
        line.qty_allocated += qty
        key = (line.pk, level.pk)
        alloc = self.allocations.get(key)
        if alloc is None:
            alloc = Allocation(line_id=line.pk, stock_level_id=level.pk, quantity=qty)
            self.add_allocation(alloc)
        else:
            alloc.quantity += qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def unreserve(self, alloc: Allocation, qty: int) -> None:
        level = self.levels[alloc.stock_level_id]
        line = self.lines[alloc.line_id]
        level.allocated -= qty
        line.qty_allocated -= qty
        alloc.quantity -= qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def set_backorder(self, line: OrderLine, qty: int, level: StockLevel) -> None:
        if line.qty_backordered:
            old = self.levels[line.backorder_level_id]
            old.backordered -= line.qty_backordered
            self.dirty_levels.add(old.pk)
        line.qty_backordered = qty
        line.backorder_level = level if qty else None
        if qty:
            level.backordered += qty
            self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)


def _load_lines(run: _Run, order_ids: list[int]) -> None:
    for line in OrderLine.objects.filter(order_id__in=order_ids).order_by("order_id", "line_no"):
        run.lines[line.pk] = line
        run.lines_by_order[line.order_id].append(line)
    # Only lines with units allocated have allocation rows (qty_allocated is their sum): new
    # orders need no query, and PostgreSQL scanned the whole allocation table for one.
    held = [pk for pk, line in run.lines.items() if line.qty_allocated]
    if not held:
        return
    allocs = Allocation.objects.filter(line_id__in=held).annotate(
        warehouse_id=F("stock_level__warehouse_id")
    )
    for alloc in allocs:
        alloc.line = run.lines[alloc.line_id]
        run.add_allocation(alloc)


def _less_urgent_than(order: Order, prefix: str = "") -> Q:
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
                f"{p}id__gt": order.pk,
            }
        )
    )


def _load_victims(
    run: _Run, shortages: dict[int, int], batch_order_ids: set[int], most_urgent: Order
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
    # The candidate orders first, through the partial index ``order_preemptable_idx``: a batch
    # allocated in priority order finds none and stops here. (In the one joined query below,
    # PostgreSQL reads every reservation of the short products on each call, a cost that
    # grows with the backlog; given the candidates' ids it goes through the indexes.)
    candidates = list(
        Order.objects.filter(
            _less_urgent_than(most_urgent),
            priority_score__lte=most_urgent.priority_score,  # implied; the index's range
            status__in=PREEMPTABLE,
        )
        .exclude(pk__in=batch_order_ids)
        .order_by()
        .values_list("pk", flat=True)[: _VICTIM_IDS_MAX + 1]
    )
    if not candidates:
        run.victims = defaultdict(list)
        return
    by_id = {"line__order_id__in": candidates} if len(candidates) <= _VICTIM_IDS_MAX else {}
    less_urgent_first = [
        F("line__order__priority_score").asc(),
        F("line__order__ship_by").desc(),
        F("line__order__placed_at").desc(),
        F("line__order_id").desc(),
    ]
    ranked = (
        Allocation.objects.filter(
            _less_urgent_than(most_urgent, "line__order__"),
            stock_level__product_id__in=list(shortages),
            line__order__status__in=PREEMPTABLE,
            **by_id,  # the same rows (when there are few candidates), found by index
        )
        .exclude(line__order_id__in=batch_order_ids)
        .annotate(
            product_id=F("stock_level__product_id"),
            rank=Window(
                RowNumber(),
                partition_by=[F("stock_level__product_id")],
                order_by=less_urgent_first,
            ),
        )
        .filter(rank__lte=max(shortages.values()))
        .select_related("line")
    )
    allocs = [a for a in ranked if a.rank <= shortages[a.product_id]]
    order_ids = sorted({a.line.order_id for a in allocs})
    locked = {
        o.pk: o
        for o in Order.objects.select_for_update()
        .defer(*_ORDER_FIELDS_NOT_READ)
        .filter(_less_urgent_than(most_urgent), pk__in=order_ids, status__in=PREEMPTABLE)
        .order_by("pk")
    }
    run.victims = defaultdict(list)
    for alloc in allocs:
        order = locked.get(alloc.line.order_id)
        if order is None:
            continue
        alloc.line = run.lines.setdefault(alloc.line_id, alloc.line)
        run.orders.setdefault(order.pk, order)
        product_id = run.levels[alloc.stock_level_id].product_id
        run.victims[product_id].append(run.add_allocation(alloc))
    for items in run.victims.values():
        # Sorted most urgent first, so popping from the end takes the least urgent first.
        items.sort(key=lambda a: priority_key(run.orders[run.lines[a.line_id].order_id]))


def _plan_warehouses(run: _Run, order: Order, need: dict[int, int]) -> list[int]:
    """Warehouse ids to draw from, best first: one that covers everything, else fewest."""
    warehouses = {
        lv.warehouse_id
        for product_id in need
        for lv in run.levels_by_product[product_id]
        if run.active[lv.warehouse_id]
    }
    cover: dict[int, int] = {}
    whole: set[int] = set()
    for wh in warehouses:
        covered, complete = 0, True
        for product_id, qty in need.items():
            level = run.level_at.get((product_id, wh))
            avail = run.available(level) if level else 0
            covered += min(avail, qty)
            complete = complete and avail >= qty
        cover[wh] = covered
        if complete:
            whole.add(wh)
    held = {
        getattr(a, "warehouse_id", None) or run.levels[a.stock_level_id].warehouse_id
        for line in run.lines_by_order[order.pk]
        for a in run.allocs_by_line[line.pk]
        if a.quantity > 0
    }
    if whole:
        return [min(whole, key=lambda wh: (wh not in held, wh))]
    return sorted(warehouses, key=lambda wh: (-cover[wh], wh not in held, wh))


def _allocate_order(run: _Run, order: Order, lines: list[OrderLine], preempt: bool) -> None:
    key = priority_key(order)
    need_lines = [ln for ln in lines if ln.qty_open - ln.qty_allocated > 0]
    before_allocated = sum(ln.qty_allocated for ln in need_lines)
    need: dict[int, int] = defaultdict(int)
    for line in need_lines:
        need[line.product_id] += line.qty_open - line.qty_allocated
    plan = _plan_warehouses(run, order, need) if need else []
    for line in need_lines:
        by_wh = {lv.warehouse_id: lv for lv in run.levels_by_product[line.product_id]}
        for wh in plan:
            level = by_wh.get(wh)
            remaining = line.qty_open - line.qty_allocated
            if level is None or remaining <= 0:
                continue
            take = min(remaining, run.available(level))
            if take > 0:
                run.reserve(line, level, take)
        if preempt and line.qty_open - line.qty_allocated > 0:
            _preempt(run, order, key, line)
        remaining = line.qty_open - line.qty_allocated
        if remaining or line.qty_backordered:
            home = run.levels.get(line.backorder_level_id) if line.backorder_level_id else None
            if home is None:
                home = run.level_at.get((line.product_id, plan[0])) if plan else None
                home = home or run.levels_by_product[line.product_id][0]
            run.set_backorder(line, remaining, home)
    run.report.units_allocated += sum(ln.qty_allocated for ln in need_lines) - before_allocated
    _settle_status(run, order, run.lines_by_order[order.pk], message_prefix="Allocation")


def _preempt(run: _Run, order: Order, key: tuple, line: OrderLine) -> None:
    if run.victims is None:
        return
    items = run.victims.get(line.product_id, [])
    while items and line.qty_open - line.qty_allocated > 0:
        alloc = items[-1]
        victim_line = run.lines[alloc.line_id]
        victim = run.orders[victim_line.order_id]
        if priority_key(victim) <= key:
            break  # everyone left is at least as urgent as this order
        if alloc.quantity <= 0:
            items.pop()
            continue
        level = run.levels[alloc.stock_level_id]
        take = min(alloc.quantity, line.qty_open - line.qty_allocated)
        run.unreserve(alloc, take)
        run.set_backorder(victim_line, victim_line.qty_backordered + take, level)
        run.reserve(line, level, take)
        run.report.preempted_orders.add(victim.pk)
        run.events.append(
            OrderEvent(
                order=victim,
                kind=OrderEvent.Kind.ALLOCATION,
                message=(
                    f"{take} × {run.sku(level.product_id)} re-assigned to more urgent "
                    f"order {order.number} (priority {order.priority_score} vs "
                    f"{victim.priority_score})."
                ),
                user=run.user,
            )
        )
        if alloc.quantity == 0:
            items.pop()
        _settle_status(run, victim, [victim_line], message_prefix="Stock re-assigned")


def _settle_status(run: _Run, order: Order, lines: list[OrderLine], *, message_prefix: str) -> None:
    """Ready when nothing of ``lines`` is backordered (callers pass all lines, or for a
    pre-empted order the line that just lost units, which alone makes it backordered)."""
    backordered = sum(ln.qty_backordered for ln in lines)
    allocated = sum(ln.qty_allocated for ln in lines)
    target = S.BACKORDERED if backordered else S.READY
    if order.status != target:
        message = f"{message_prefix}: {allocated} reserved, {backordered} backordered."
        run.events.append(
            set_status(
                order,
                target,
                user=run.user,
                kind=OrderEvent.Kind.ALLOCATION,
                message=message,
                save=False,
            )
        )
        run.dirty_orders.add(order.pk)


def _write(run: _Run) -> None:
    inventory.stock_levels_save_reservations(levels=[run.levels[pk] for pk in run.dirty_levels])
    new, changed, gone = [], [], []
    for alloc in run.allocations.values():
        if alloc.pk is None:
            if alloc.quantity > 0:
                new.append(alloc)
        elif alloc.quantity == 0:
            gone.append(alloc.pk)
        else:
            changed.append(alloc)
    if gone:
        Allocation.objects.filter(pk__in=gone).delete()
    if changed:
        bulk_update_columns(Allocation, changed, ["quantity"])
    if new:
        Allocation.objects.bulk_create(new, batch_size=1000)
    if run.dirty_lines:
        bulk_update_columns(
            OrderLine,
            [run.lines[pk] for pk in run.dirty_lines],
            ["qty_allocated", "qty_backordered", "backorder_level"],
        )
    if run.dirty_orders:
        bulk_update_columns(
            Order, [run.orders[pk] for pk in run.dirty_orders], ["status", "segment"]
        )
    if run.events:
        OrderEvent.objects.bulk_create(run.events, batch_size=1000)


def _ensure_levels(product_ids: set[int]) -> None:
    have = set(
        StockLevel.objects.filter(product_id__in=product_ids)
        .order_by()  # no Meta ordering: it joins product and warehouse for nothing
        .values_list("product_id", flat=True)
    )
    missing = product_ids - have
    if missing:
        inventory.stock_levels_ensure(products=Product.objects.filter(pk__in=missing))


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
    # The ids on both sides, so that PostgreSQL reaches lines and orders through their indexes
    # (joined on ``order__status`` it scanned the whole orders table on every call).
    allocatable = Order.objects.filter(pk__in=order_ids, status__in=ALLOCATABLE).values("pk")
    lines_qs = OrderLine.objects.filter(order_id__in=order_ids).filter(order_id__in=allocatable)
    if product_ids is not None:
        lines_qs = lines_qs.filter(product_id__in=product_ids)
    products = set(lines_qs.order_by().values_list("product_id", flat=True).distinct())
    _ensure_levels(products)
    levels = inventory.stock_levels_lock(product_ids=products, related=())
    active = dict(Warehouse.objects.order_by().values_list("pk", "active"))
    run = _Run(levels, user, active)
    orders = list(
        Order.objects.select_for_update()
        .defer(*_ORDER_FIELDS_NOT_READ)
        .filter(pk__in=order_ids, status__in=ALLOCATABLE)
        .order_by("pk")
    )
    if not orders:
        return run.report
    clients = Client.objects.in_bulk()
    for order in orders:
        order.client = clients[order.client_id]
        run.orders[order.pk] = order
    _load_lines(run, [o.pk for o in orders])
    if preempt:
        short = _short_products(run, orders, products)
        if short:
            _load_victims(run, short, set(run.orders), min(orders, key=priority_key))
            for order in run.orders.values():
                order.client = clients[order.client_id]
    for order in sorted(orders, key=priority_key):
        lines = [
            ln
            for ln in run.lines_by_order[order.pk]
            if product_ids is None or ln.product_id in product_ids
        ]
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
    _write(run)
    return run.report


def _short_products(run: _Run, orders: list[Order], products: set[int]) -> dict[int, int]:
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
    *, order_ids: list[int], chunk: int = 500, user=None
) -> AllocationReport:
    """Allocate many orders, each chunk in its own transaction, most urgent chunk first."""
    ordered = list(
        Order.objects.filter(pk__in=order_ids, status__in=ALLOCATABLE)
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
