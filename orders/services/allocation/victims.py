"""Pre-emption candidates: the reservations a short batch may take from less urgent orders.

Step 3c of the algorithm (see the package docstring) needs, per short product, the
reservations of orders that are less urgent than the batch and not yet on the floor
(``ready``/``backordered``), least urgent first. This module finds and locks them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber

from orders.models import Allocation, Order, OrderLine
from orders.services.allocation.plan import AllocationPlan
from orders.services.allocation.rows import (
    LINE_COLUMNS,
    ORDER_COLUMNS,
    RESERVATION_COLUMNS,
    PlanLine,
    PlanOrder,
    PlanReservation,
)

S = Order.Status
PREEMPTABLE = (S.READY, S.BACKORDERED)
_VICTIM_IDS_MAX = 5_000  # candidate orders passed by id to the pre-emption query, at most


class _Ranked(NamedTuple):
    """A reservation of a short product, ranked per product (1 = least urgent holder)."""

    pk: int
    line_id: int
    level_id: int
    quantity: int
    order_id: int
    product_id: int
    rank: int


def less_urgent_than(order: PlanOrder, prefix: str = "") -> Q:
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
                f"{p}id__gt": order.tie_break_id,
            }
        )
    )


def load_victims(
    plan: AllocationPlan,
    shortages: dict[int, int],
    batch_order_ids: set[int],
    most_urgent: PlanOrder,
) -> None:
    """Reservations held by not-yet-picked orders outside this batch, least urgent first.

    Only orders less urgent than the batch's most urgent order are candidates: pre-emption
    never takes from an order at least as urgent as the one it allocates, so the others cannot
    lose anything. And per short product only the ``shortage`` least urgent reservations are
    loaded: the batch cannot take more units than it is short, and every reservation holds at
    least one. The database ranks them (``ROW_NUMBER() OVER (PARTITION BY product …)``), so
    the cost no longer grows with the backlog's size in Python (imports allocate chunk after
    chunk against a backlog that holds most of the stock).
    """
    plan.victims = defaultdict(list)
    # The candidate orders first, through the partial index ``order_preemptable_idx``: a batch
    # allocated in priority order finds none and stops here. (In the one joined query below,
    # PostgreSQL reads every reservation of the short products on each call, a cost that
    # grows with the backlog; given the candidates' ids it goes through the indexes.)
    clients = sorted({o.client_id for o in plan.orders.values()})
    candidates = list(
        Order.objects.filter(
            less_urgent_than(most_urgent),
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
        held = [
            _Ranked(*row, 0)
            for row in Allocation.objects.filter(
                line__order_id__anyof=list(less_urgent),
                line__product_id__anyof=list(shortages),
            ).values_list(*RESERVATION_COLUMNS, "line__product_id")
        ]
        held.sort(key=lambda r: less_urgent[r.order_id], reverse=True)  # least urgent first
        taken: dict[int, int] = defaultdict(int)
        ranked = []
        for r in held:
            taken[r.product_id] += 1
            ranked.append(r._replace(rank=taken[r.product_id]))
    else:
        ranked = _ranked_reservations(shortages, batch_order_ids, most_urgent)
    ranked = [r for r in ranked if r.rank <= shortages[r.product_id]]
    if not ranked:
        return
    locked = {
        row[0]: PlanOrder(*row)
        for row in Order.objects.select_for_update()
        .filter(
            less_urgent_than(most_urgent),
            pk__anyof=sorted({r.order_id for r in ranked}),
            status__in=PREEMPTABLE,
        )
        .order_by("pk")
        .values_list(*ORDER_COLUMNS)
    }
    missing = {r.line_id for r in ranked if r.line_id not in plan.lines}
    if missing:
        for row in OrderLine.objects.filter(pk__anyof=list(missing)).values_list(*LINE_COLUMNS):
            plan.lines[row[0]] = PlanLine(*row)
    for r in ranked:
        order = locked.get(r.order_id)
        if order is None:
            continue
        plan.orders.setdefault(order.pk, order)
        reservation = plan.add_reservation(
            PlanReservation(r.pk, plan.lines[r.line_id], plan.levels[r.level_id], r.quantity)
        )
        plan.victims[r.product_id].append(reservation)
    for items in plan.victims.values():
        # Sorted most urgent first, so popping from the end takes the least urgent first.
        items.sort(key=lambda res: plan.orders[res.line.order_id].key)


def _ranked_reservations(
    shortages: dict[int, int], batch_order_ids: set[int], most_urgent: PlanOrder
) -> list[_Ranked]:
    """Many candidates: the database ranks the reservations of the short products per product,
    least urgent first, at most the largest shortage each."""
    less_urgent_first = [
        F("line__order__priority_score").asc(),
        F("line__order__ship_by").desc(),
        F("line__order__placed_at").desc(),
        F("line__order_id").desc(),
    ]
    rows = (
        Allocation.objects.filter(
            less_urgent_than(most_urgent, "line__order__"),
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
        .values_list(*RESERVATION_COLUMNS, "product_id", "rank")
    )
    return [_Ranked._make(row) for row in rows]
