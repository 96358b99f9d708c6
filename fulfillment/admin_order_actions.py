"""Fulfillment's actions on the order changelist and order page (wave, pack, ship, slips,
clear exception), registered through ``orders.admin_actions`` (orders never imports this app).
When each applies is decided by statuses and ``fulfillment.selectors``."""

from __future__ import annotations

from fulfillment import selectors, services
from orders import services as order_services
from orders.admin_actions import OrderAction, register_order_action
from orders.models import Order

S = Order.Status

# -- order changelist and order page actions ----------------------------------------------------
for _action in (
    OrderAction(
        "create_wave",
        "Create pick wave…",
        "Waved",
        None,
        redirect_to="admin:fulfillment_pickwave_from_orders",
        permission="fulfillment.add_pickwave",
        applies=lambda o: o.status == S.READY,
    ),
    OrderAction(
        "pack",
        "Confirm packed",
        "Packed",
        lambda o, u, d: services.order_pack(order=o, user=u),
        permission="fulfillment.pack_orders",
        applies=lambda o: o.status == S.PICKING,
        supersedes=("move_to_packed",),  # same move, plus the wave's bookkeeping
    ),
    OrderAction(
        "ship",
        "Ship…",
        "Shipped",
        None,
        redirect_to="admin:fulfillment_shipment_ship",
        permission="fulfillment.add_shipment",
        applies=selectors.order_is_shippable,
    ),
    OrderAction(
        "packing_slips",
        "Print packing slips",
        "Printed",
        None,
        redirect_to="admin:fulfillment_shipment_packing_slips",
        permission="fulfillment.view_shipment",
        applies=lambda o: o.status in (S.PICKING, S.PACKED, S.SHIPPED, S.DELIVERED),
    ),
    OrderAction(
        "clear_exception",
        "Clear carrier exception",
        "Exception cleared",
        lambda o, u, d: order_services.order_clear_exception(order=o, user=u),
        applies=lambda o: o.exception_flag,
    ),
):
    register_order_action(_action)
