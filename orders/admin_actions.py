"""One table of order actions, shared by the changelist bulk actions and the order page buttons.

Each action names the service it calls, whether it needs a reason or an agent, and which
permission it takes; the admin turns every entry into a bulk action and a page button, so a
rule lives in the service once and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from orders import services
from orders.exceptions import InvalidOrderStatus
from orders.models import Order
from orders.services.status import check_transition

S = Order.Status


def _can_move(to_status: str) -> Callable[[Order], bool]:
    def applies(order: Order) -> bool:
        try:
            check_transition(order, to_status)
        except InvalidOrderStatus:
            return False
        return True

    return applies


def _always(order: Order) -> bool:
    return order.is_open


@dataclass(frozen=True)
class OrderAction:
    name: str
    label: str
    verb: str  # for the result message: "Placed on hold: 3 order(s)"
    call: Callable | None  # (order, user, form_data) -> anything; None with redirect_to
    needs_reason: bool = False
    # Asks for a typed hold reason (Order.HoldType); the text is then required only for "other".
    needs_hold_type: bool = False
    needs_agent: bool = False
    supervisor_only: bool = False
    # Whether the order page offers the button for this order's state (bulk actions still
    # try every selected order and report the ones the state machine refuses).
    applies: Callable[[Order], bool] = _always
    # A page of a higher app that does the work (a form with several fields per order): the
    # admin redirects there with ``?ids=<pk>,<pk>…`` instead of calling ``call``.
    redirect_to: str | None = None  # URL name, e.g. "admin:fulfillment_shipment_ship"
    permission: str | None = None  # a model permission the user needs, e.g. "app.add_model"
    # Backward or destructive: the form page says this (a confirmation) and asks for a reason.
    warning: str = ""
    # Plain moves this action does properly (fulfillment's "Confirm packed" replaces orders'
    # "Move to packed"): the order page never shows both.
    supersedes: tuple[str, ...] = ()


ORDER_ACTIONS: dict[str, OrderAction] = {
    a.name: a
    for a in [
        OrderAction(
            "assign_to_me",
            "Assign to me",
            "Assigned to you",
            lambda o, u, d: services.order_assign(order=o, agent=u, user=u),
        ),
        OrderAction(
            "assign_to_agent",
            "Assign to an agent…",
            "Assigned",
            lambda o, u, d: services.order_assign(order=o, agent=d["agent"], user=u),
            needs_agent=True,
        ),
        OrderAction(
            "expedite",
            "Expedite",
            "Expedited",
            lambda o, u, d: services.order_expedite(order=o, user=u),
            applies=lambda o: o.is_open and not o.expedite,
        ),
        OrderAction(
            "hold",
            "Place on hold…",
            "Placed on hold",
            lambda o, u, d: services.order_hold(
                order=o, hold_type=d["hold_type"], reason=d.get("reason", ""), user=u
            ),
            needs_hold_type=True,
            applies=_can_move(S.ON_HOLD),
        ),
        OrderAction(
            "release",
            "Release from hold",
            "Released",
            lambda o, u, d: services.order_release(order=o, user=u),
            applies=lambda o: o.status == S.ON_HOLD,
        ),
        OrderAction(
            "reallocate",
            "Re-run allocation",
            "Allocation re-run",
            lambda o, u, d: services.order_reallocate(order=o, user=u),
            applies=lambda o: o.status in (S.NEW, S.BACKORDERED, S.READY),
        ),
        OrderAction(
            "move_to_picking",
            "Move to picking",
            "Moved to picking",
            lambda o, u, d: services.order_move(order=o, to_status="picking", user=u),
            applies=lambda o: o.status == S.READY,  # forward only; back is below
        ),
        OrderAction(
            "back_to_picking",
            "Back to picking…",
            "Moved back to picking",
            lambda o, u, d: services.order_move(
                order=o, to_status="picking", user=u, note=d["reason"]
            ),
            needs_reason=True,
            applies=lambda o: o.status == S.PACKED,
            warning="This moves the order back from Packed to Picking: it has to be packed "
            "again. Say why (it goes on the timeline).",
        ),
        OrderAction(
            "back_to_ready",
            "Back to ready to pick…",
            "Moved back to ready to pick",
            lambda o, u, d: services.order_move(
                order=o, to_status="ready", user=u, note=d["reason"]
            ),
            needs_reason=True,
            applies=lambda o: o.status == S.PICKING,
            warning="This takes the order out of picking, back to Ready to pick. Say why "
            "(it goes on the timeline).",
        ),
        OrderAction(
            "move_to_packed",
            "Move to packed",
            "Moved to packed",
            lambda o, u, d: services.order_move(order=o, to_status="packed", user=u),
            applies=_can_move(S.PACKED),
        ),
        OrderAction(
            "cancel",
            "Cancel…",
            "Cancelled",
            lambda o, u, d: services.order_cancel(order=o, reason=d["reason"], user=u),
            needs_reason=True,
            supervisor_only=True,
            applies=_can_move(S.CANCELLED),
            warning="Cancelling cannot be undone: whatever is still open will not ship and its "
            "reserved stock goes to waiting orders.",
        ),
    ]
}


def register_order_action(action: OrderAction) -> None:
    """Add an action to the order changelist and order page from a higher app.

    Higher apps (fulfillment: waves, packing, shipping) call this from their ``admin.py``, so
    orders offers their steps without importing them. Registering the same name again
    replaces the earlier entry (module reloads in tests stay harmless).
    """
    ORDER_ACTIONS[action.name] = action
