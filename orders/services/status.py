"""The order status machine: one table, one function that enforces it and writes the timeline."""

from __future__ import annotations

from django.utils import timezone

from orders.exceptions import InvalidOrderStatus
from orders.models import Order, OrderEvent
from orders.services.priority import compute_segment

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
            update_fields=["status", "segment", "hold_reason", "hold_from_status", "updated_at"]
        )
        event.save()
    return event
