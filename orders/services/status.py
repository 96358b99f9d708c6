"""The order status machine: one table, one function that enforces it and writes the timeline."""

from __future__ import annotations

from django.utils import timezone

from orders.exceptions import InvalidOrderStatus
from orders.models import Order, OrderEvent
from orders.services.priority import compute_segment
from orders.signals import order_status_changed

S = Order.Status

# {from: allowed next}. on_hold → (the status it came from) is the release; cancelled is
# reachable from every open status. Partial shipment keeps the order where it is (lines show
# it) until nothing is left open.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.READY, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    S.BACKORDERED: frozenset({S.READY, S.ON_HOLD, S.CANCELLED}),
    S.READY: frozenset({S.PICKING, S.BACKORDERED, S.ON_HOLD, S.CANCELLED}),
    S.PICKING: frozenset({S.PACKED, S.READY, S.ON_HOLD, S.CANCELLED}),
    S.PACKED: frozenset({S.SHIPPED, S.PICKING, S.ON_HOLD, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.ON_HOLD: frozenset({S.NEW, S.BACKORDERED, S.READY, S.PICKING, S.PACKED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}


def check_transition(order: Order, to_status: str) -> None:
    """Raise :class:`InvalidOrderStatus` with a message an agent understands."""
    if to_status not in TRANSITIONS:
        raise InvalidOrderStatus(f"'{to_status}' is not an order status.")
    current = order.status
    if to_status == current:
        raise InvalidOrderStatus(f"Order {order.number} is already {order.get_status_display()}.")
    if current == S.ON_HOLD and to_status not in (S.CANCELLED, order.hold_from_status):
        raise InvalidOrderStatus(
            f"Order {order.number} is on hold; release it first (it goes back to "
            f"'{Order.Status(order.hold_from_status).label}')."
        )
    if to_status not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(Order.Status(s).label for s in TRANSITIONS[current])) or "none"
        raise InvalidOrderStatus(
            f"Order {order.number} cannot go from '{order.get_status_display()}' to "
            f"'{Order.Status(to_status).label}' (allowed: {allowed})."
        )


def set_status(
    order: Order,
    to_status: str,
    *,
    user=None,
    kind: str = OrderEvent.Kind.STATUS,
    message: str = "",
    save: bool = True,
) -> OrderEvent:
    """Move a *locked* order to ``to_status`` and write its timeline row.

    With ``save=False`` the caller saves the order and the returned (unsaved) event in bulk.
    """
    check_transition(order, to_status)
    from_status = order.status
    order.status = to_status
    order.segment = compute_segment(
        status=to_status,
        ship_by=order.ship_by,
        expedite=order.expedite,
        client=order.client,
        now=timezone.now(),
    )
    event = OrderEvent(
        order=order,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        message=message,
        user=user,
    )
    if save:
        order.save(
            update_fields=[
                "status",
                "segment",
                "hold_type",
                "hold_reason",
                "hold_from_status",
                "updated_at",
            ]
        )
        event.save()
        status_changes_announce([(order.pk, from_status, to_status)])
    return event


def status_events_save(events: list[OrderEvent]) -> None:
    """Write the timeline rows that ``set_status(..., save=False)`` returned (the caller has
    saved the orders) and announce the moves in one :data:`order_status_changed` send."""
    if not events:
        return
    OrderEvent.objects.bulk_create(events)
    status_changes_announce([(e.order_id, e.from_status, e.to_status) for e in events])


def status_changes_announce(changes: list[tuple[int, str, str]]) -> None:
    """Tell higher apps (support: customer notifications) which orders moved, once per batch.

    Every status move is written by :func:`set_status`/:func:`status_events_save` or, for the
    allocation engine's bulk moves, by ``allocation_write``; each calls this once."""
    changes = [c for c in changes if c[1] != c[2]]
    if changes:
        order_status_changed.send(sender=Order, changes=changes)
