"""Allocation entry points: plan (lock, load, decide), and the services built on it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from clients.models import Client
from core.db import atomic_with_retry
from inventory import services as inventory
from inventory.models import Product, Warehouse
from orders.models import Allocation, Order, OrderLine
from orders.services.allocation.decide import allocate_order
from orders.services.allocation.plan import AllocationPlan, AllocationReport
from orders.services.allocation.rows import (
    LEVEL_COLUMNS,
    LINE_COLUMNS,
    ORDER_COLUMNS,
    NewOrderDemand,
    PlanLevel,
    PlanLine,
    PlanOrder,
    PlanReservation,
    new_order_row,
)
from orders.services.allocation.victims import load_victims

S = Order.Status
NEW = S.NEW.value
ALLOCATABLE = (S.NEW, S.BACKORDERED, S.READY)


def _key(order: PlanOrder) -> tuple:
    return order.key


def _lock_levels(product_ids: set[int]) -> list[PlanLevel]:
    rows = inventory.stock_levels_lock(product_ids=product_ids, columns=LEVEL_COLUMNS)
    return [PlanLevel(*row) for row in rows]


def _load_lines(plan: AllocationPlan, order_ids: list[int]) -> None:
    rows = (
        OrderLine.objects.filter(order_id__anyof=order_ids)
        .order_by("order_id", "line_no")
        .values_list(*LINE_COLUMNS)
    )
    held = []
    for row in rows:
        line = PlanLine(*row)
        plan.lines[line.pk] = line
        plan.lines_by_order[line.order_id].append(line)
        if line.qty_allocated:
            held.append(line.pk)
    # Only lines with units allocated have allocation rows (qty_allocated is their sum): new
    # orders need no query, and PostgreSQL scanned the whole allocation table for one.
    if not held:
        return
    # Lines of products outside this run (a fill limited to some products) keep their
    # reservations untouched; their levels are not locked, only their warehouse is read (the
    # plan prefers a warehouse that already holds part of the order).
    others: dict[int, PlanLevel] = {}
    rows = Allocation.objects.filter(line_id__anyof=held).values_list(
        "pk", "line_id", "stock_level_id", "quantity", "stock_level__warehouse_id"
    )
    for pk, line_id, level_id, quantity, warehouse_id in rows:
        level = plan.levels.get(level_id)
        if level is None:
            level = others.get(level_id) or PlanLevel(level_id, None, warehouse_id, 0, 0, 0)
            others[level_id] = level
        plan.add_reservation(PlanReservation(pk, plan.lines[line_id], level, quantity))


def _new_rows(new_orders: Sequence[NewOrderDemand]) -> tuple[list[PlanOrder], list[PlanLine]]:
    orders, lines = [], []
    for position, demand in enumerate(new_orders, start=1):
        order = new_order_row(position, demand, NEW)
        orders.append(order)
        for product_id, quantity in demand.lines:
            lines.append(
                PlanLine(-len(lines) - 1, order.pk, product_id, quantity, 0, 0, 0, 0, None)
            )
    return orders, lines


def _short_products(
    plan: AllocationPlan, orders: list[PlanOrder], products: set[int]
) -> dict[int, int]:
    """Products the batch wants more of than is available, with the units it is short: only
    those can need preemption, and never more units than that."""
    want: dict[int, int] = defaultdict(int)
    for order in orders:
        for line in plan.lines_by_order[order.pk]:
            if line.product_id in products:
                want[line.product_id] += max(line.qty_open - line.qty_allocated, 0)
    shortages = {
        pid: qty - sum(plan.available(lv) for lv in plan.levels_by_product[pid])
        for pid, qty in want.items()
    }
    return {pid: short for pid, short in shortages.items() if short > 0}


def allocation_plan(
    *,
    order_ids: Sequence[int] = (),
    product_ids: Sequence[int] | None = None,
    user=None,
    preempt: bool = True,
    new_orders: Sequence[NewOrderDemand] = (),
) -> AllocationPlan:
    """Lock, load and decide (steps 1–3 of the package docstring); nothing is written.

    Must run inside a transaction, followed by :meth:`AllocationPlan.write`. ``new_orders``
    are orders being created in this transaction, not inserted yet: they are allocated with
    the others, in the same priority order, and may pre-empt less urgent orders. Afterwards
    ``plan.new_orders`` (one per demand, same order) hold their ``status``/``segment`` and
    ``plan.new_lines`` (every demand's lines in turn) their ``qty_allocated``/
    ``qty_backordered``/``backorder_level_id``: insert them with those values, then call
    :meth:`AllocationPlan.bind_inserted` with the ids they got.
    """
    order_ids = list(order_ids)
    fresh_orders, fresh_lines = _new_rows(new_orders)
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
    plan = AllocationPlan(levels, user, active)
    orders = (
        [
            PlanOrder(*row)
            for row in Order.objects.select_for_update()
            .filter(pk__anyof=order_ids, status__in=ALLOCATABLE)
            .order_by("pk")
            .values_list(*ORDER_COLUMNS)
        ]
        if order_ids
        else []
    )
    existing = [o.pk for o in orders]
    orders += fresh_orders
    plan.add_new(fresh_orders, fresh_lines)
    if not orders:
        return plan
    plan.clients = Client.objects.in_bulk()
    for order in orders:
        plan.orders[order.pk] = order
    if existing:
        _load_lines(plan, existing)
    if preempt:
        short = _short_products(plan, orders, products)
        if short:
            load_victims(plan, short, set(existing), min(orders, key=_key))
    wanted = set(product_ids) if product_ids is not None else None
    for order in sorted(orders, key=_key):
        lines = plan.lines_by_order[order.pk]
        if wanted is not None:
            lines = [ln for ln in lines if ln.product_id in wanted]
        allocate_order(plan, order, lines, preempt)
        plan.report.orders += 1
    for order in orders:
        if order.status == S.READY:
            plan.report.ready += 1
        elif order.status == S.BACKORDERED:
            plan.report.backordered += 1
    # The batch's own lines only: plan.orders also holds the pre-empted orders.
    batch = {order.pk for order in orders}
    plan.report.units_backordered = sum(
        plan.lines[pk].qty_backordered
        for pk in plan.dirty_lines
        if plan.lines[pk].order_id in batch
    )
    return plan


@atomic_with_retry
def orders_allocate(
    *,
    order_ids: list[int],
    product_ids: list[int] | None = None,
    user=None,
    preempt: bool = True,
) -> AllocationReport:
    """Reserve stock for these orders, most urgent first; see the package docstring.

    ``product_ids`` limits the work to lines of those products (filling backorders after a
    receipt). Locks: the stock levels of the products involved, then the orders, then (only
    when short) the less urgent orders whose reservations it takes. Orders that are not
    ``new``/``backordered``/``ready`` are skipped untouched. Writes stock levels (through
    ``inventory.services``), allocations, lines, orders and timeline rows.
    """
    plan = allocation_plan(order_ids=order_ids, product_ids=product_ids, user=user, preempt=preempt)
    plan.write()
    return plan.report


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
