"""The decisions of step 3: for one order, which warehouses, what to take from whom, what
waits, and the status it ends in. Pure in-memory work on an :class:`AllocationPlan`."""

from __future__ import annotations

from collections import defaultdict

from orders.models import Order
from orders.services.allocation.plan import AllocationPlan
from orders.services.allocation.rows import PlanLine, PlanOrder
from orders.services.priority import compute_segment
from orders.services.status import TRANSITIONS

S = Order.Status
READY, BACKORDERED = S.READY.value, S.BACKORDERED.value  # plain strings for the bulk writes


def _plan_warehouses(plan: AllocationPlan, order: PlanOrder, need: dict[int, int]) -> list[int]:
    """Warehouse ids to draw from, best first: one that covers everything, else fewest."""
    cover: dict[int, int] = defaultdict(int)
    complete: dict[int, int] = defaultdict(int)  # products fully covered there
    for product_id, qty in need.items():
        for lv in plan.active_by_product[product_id]:
            avail = lv.on_hand - lv.allocated
            wh = lv.warehouse_id
            if avail >= qty:
                cover[wh] += qty
                complete[wh] += 1
            else:
                cover[wh] += max(avail, 0)
    whole = [wh for wh, n in complete.items() if n == len(need)]
    held = {
        r.level.warehouse_id
        for line in plan.lines_by_order[order.pk]
        for r in plan.reservations_by_line.get(line.pk, ())
        if r.quantity > 0
    }
    if whole:
        return [min(whole, key=lambda wh: (wh not in held, wh))]
    return sorted(cover, key=lambda wh: (-cover[wh], wh not in held, wh))


def allocate_order(
    plan: AllocationPlan, order: PlanOrder, lines: list[PlanLine], preempt: bool
) -> None:
    """Steps 3a–3e for one order (``lines``: those of its lines this run works on)."""
    need_lines = [ln for ln in lines if ln.qty_open - ln.qty_allocated > 0]
    before_allocated = sum(ln.qty_allocated for ln in need_lines)
    need: dict[int, int] = defaultdict(int)
    for line in need_lines:
        need[line.product_id] += line.qty_open - line.qty_allocated
    warehouses = _plan_warehouses(plan, order, need) if need else []
    for line in need_lines:
        level_at = plan.level_at
        for wh in warehouses:
            level = level_at.get((line.product_id, wh))
            remaining = line.qty_open - line.qty_allocated
            if level is None or remaining <= 0:
                continue
            take = min(remaining, plan.available(level))
            if take > 0:
                plan.reserve(line, level, take)
        if preempt and line.qty_open - line.qty_allocated > 0:
            _preempt(plan, order, line)
        remaining = line.qty_open - line.qty_allocated
        if remaining or line.qty_backordered:
            home = plan.levels.get(line.backorder_level_id) if line.backorder_level_id else None
            if home is None:
                home = plan.level_at.get((line.product_id, warehouses[0])) if warehouses else None
                home = home or plan.levels_by_product[line.product_id][0]
            plan.set_backorder(line, remaining, home)
    plan.report.units_allocated += sum(ln.qty_allocated for ln in need_lines) - before_allocated
    settle_status(plan, order, plan.lines_by_order[order.pk], message_prefix="Allocation")


def _preempt(plan: AllocationPlan, order: PlanOrder, line: PlanLine) -> None:
    """Step 3c: take units reserved for less urgent orders, least urgent first."""
    if plan.victims is None:
        return
    items = plan.victims.get(line.product_id, [])
    while items and line.qty_open - line.qty_allocated > 0:
        reservation = items[-1]
        victim_line = reservation.line
        victim = plan.orders[victim_line.order_id]
        if victim.key <= order.key:
            break  # everyone left is at least as urgent as this order
        if reservation.quantity <= 0:
            items.pop()
            continue
        level = reservation.level
        take = min(reservation.quantity, line.qty_open - line.qty_allocated)
        plan.unreserve(reservation, take)
        plan.set_backorder(victim_line, victim_line.qty_backordered + take, level)
        plan.reserve(line, level, take)
        plan.report.preempted_orders.add(victim.pk)
        plan.event(
            victim,
            f"{take} × {plan.sku(level.product_id)} re-assigned to more urgent order "
            f"{order.number} (priority {order.priority_score} vs {victim.priority_score}).",
        )
        if reservation.quantity == 0:
            items.pop()
        settle_status(plan, victim, [victim_line], message_prefix="Stock re-assigned")


def settle_status(
    plan: AllocationPlan, order: PlanOrder, lines: list[PlanLine], *, message_prefix: str
) -> None:
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
    plan.event(
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
            client=plan.clients[order.client_id],
            now=plan.now,
        )
    )
    plan.dirty_orders.add(order.pk)
