"""Expected availability of backorders: when will the waiting units arrive, from which PO.

For every product × warehouse, the backordered lines are served in the order the receipt
will serve them (most urgent first: priority, promise, age — ``priority_key``) from the open
purchase order lines, earliest expected first. A line's date is the expected date of the PO
that covers its last unit; the line stores it (``expected_available_on``) and where it comes
from (``expected_source``: "PO-0042", or "no purchase order covers 12 units"). Lines no
longer backordered are cleared. Recomputed when supply changes (the receiver of
``inventory.signals.expected_supply_changed`` enqueues it after commit) and by a periodic task
(new backorders appear all the time).
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction
from django.db.models import Q

from core.bulk import update_rows
from inventory.selectors import open_supply
from orders.models import Order, OrderLine
from orders.signals import expected_availability_changed


def backorders_expected_refresh(*, product_ids: list[int] | None = None) -> int:
    """Recompute the expected date of every backordered line (of ``product_ids``, or all).

    Reads only (no locks): a plain reader of lines and PO lines; writes the two fields in
    bulk, only for lines whose values changed. Returns the number of lines written.
    """
    waiting = OrderLine.objects.filter(
        qty_backordered__gt=0, order__status=Order.Status.BACKORDERED
    ).exclude(backorder_level__isnull=True)
    stale = OrderLine.objects.filter(
        Q(expected_available_on__isnull=False) | ~Q(expected_source="")
    )
    if product_ids is not None:
        ids = list(product_ids)
        waiting = waiting.filter(product_id__anyof=ids)
        stale = stale.filter(product_id__anyof=ids)
    rows = list(
        waiting.order_by(
            "product_id",
            "backorder_level__warehouse_id",
            "-order__priority_score",
            "order__ship_by",
            "order__placed_at",
            "order_id",
            "id",
        ).values_list(
            "pk",
            "product_id",
            "backorder_level__warehouse_id",
            "qty_backordered",
            "expected_available_on",
            "expected_source",
        )
    )
    supply: dict[tuple[int, int], list] = defaultdict(list)
    for s in open_supply(None if product_ids is None else {r[1] for r in rows}):
        supply[(s.product_id, s.warehouse_id)].append([s.expected_on, s.number, s.quantity_open])
    changes = []
    seen = set()
    for pk, product_id, warehouse_id, qty, old_date, old_source in rows:
        seen.add(pk)
        queue = supply.get((product_id, warehouse_id), [])
        need, date, source = qty, None, ""
        while need and queue:
            take = min(need, queue[0][2])
            need -= take
            queue[0][2] -= take
            date, source = queue[0][0], queue[0][1]
            if not queue[0][2]:
                queue.pop(0)
        if need:
            date = None
            source = f"no purchase order covers {need} unit{'s' if need != 1 else ''}"
        if (date, source) != (old_date, old_source):
            changes.append((pk, date, source))
    for pk in stale.values_list("pk", flat=True):
        if pk not in seen:
            changes.append((pk, None, ""))
    with transaction.atomic():
        update_rows(OrderLine, ["expected_available_on", "expected_source"], changes)
        if changes:
            changed_ids = [pk for pk, _date, _source in changes]
            products = sorted(
                set(
                    OrderLine.objects.filter(pk__in=changed_ids)
                    .order_by()
                    .values_list("product_id", flat=True)
                    .distinct()
                )
            )
            expected_availability_changed.send(sender=OrderLine, product_ids=products)
    return len(changes)
