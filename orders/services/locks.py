"""Locking orders, shared by the order services (lifecycle, shipping, allocation callers).

The product's lock order (see ``inventory.services``): stock levels first, in primary-key
order, then orders, in primary-key order. These helpers take the order locks; they must run
inside the caller's transaction.
"""

from __future__ import annotations

from clients.models import Client
from inventory import services as inventory
from orders.models import Order, OrderLine


def order_lock(order_id: int) -> Order:
    """Lock one order row (``SELECT … FOR UPDATE``) and return it with its client attached."""
    order = Order.objects.select_for_update().get(pk=order_id)
    order.client = Client.objects.get(pk=order.client_id)
    return order


def order_lock_with_stock(order_id: int) -> Order:
    """Lock the stock levels of the order's products, then the order (the global lock order):
    for changes that will touch its reservations (release, cancel, expedite)."""
    product_ids = OrderLine.objects.filter(order_id=order_id).values_list("product_id", flat=True)
    inventory.stock_levels_lock(product_ids=list(product_ids))
    return order_lock(order_id)
