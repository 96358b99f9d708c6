"""Listens to lower apps (orders). Kept tiny: the work lives in selectors and services."""

from django.dispatch import receiver
from django.urls import reverse

from orders.signals import demo_data_seeded, order_page_panels


@receiver(order_page_panels, dispatch_uid="fulfillment_order_panel")
def order_fulfillment_panel(sender, order, request=None, **kwargs):
    from fulfillment.selectors import order_fulfillment

    data = order_fulfillment(order)
    for shipment in data["shipments"]:
        shipment.late = shipment.is_late()
        events = sorted(shipment.events.all(), key=lambda e: (e.occurred_at, e.pk))
        shipment.latest_event = events[-1] if events else None
    user = getattr(request, "user", None)
    if (
        user is not None
        and user.has_perm("fulfillment.view_shipment")
        and order.status in ("picking", "packed", "shipped", "delivered")
    ):
        data["slip_url"] = reverse("admin:fulfillment_shipment_packing_slips") + f"?ids={order.pk}"
    if not data["shipments"] and not data["waves"] and "slip_url" not in data:
        return None
    return {
        "id": "order-fulfillment",
        "title": "Picking, packing and shipments",
        "template": "fulfillment/panels/order_fulfillment.html",
        "context": data,
    }


@receiver(demo_data_seeded, dispatch_uid="fulfillment_demo_data")
def seed_fulfillment_on_demo(sender, rng=None, **kwargs):
    from fulfillment.demo import seed_fulfillment_demo

    return seed_fulfillment_demo()
