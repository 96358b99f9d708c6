"""Listens to the lower apps. Receivers stay tiny: they keep the ids that matter and enqueue
one task per batch when the transaction commits (an import of 5,000 orders costs a few list
appends here, never per-order work)."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver

from core.tasks import enqueue_many
from fulfillment.signals import shipment_created, tracking_events_recorded
from orders.signals import (
    demo_data_seeded,
    expected_availability_changed,
    order_page_panels,
    order_status_changed,
)

BATCH = 1000
_NOTIFIED_TARGETS = frozenset({"backordered", "delivered", "cancelled"})


def _enqueue_on_commit(func: str, args_list: list[tuple]) -> None:
    transaction.on_commit(partial(enqueue_many, func, args_list, group="notifications"))


@receiver(order_status_changed, dispatch_uid="support_status_changed")
def on_status_changed(sender, changes, **kwargs):
    relevant = [c for c in changes if c[1] == "new" or c[2] in _NOTIFIED_TARGETS]
    if relevant:
        batches = [(relevant[i : i + BATCH],) for i in range(0, len(relevant), BATCH)]
        _enqueue_on_commit("support.tasks.handle_status_changes", batches)


@receiver(shipment_created, dispatch_uid="support_shipment_created")
def on_shipment_created(sender, shipment_id, order_id, **kwargs):
    _enqueue_on_commit("support.tasks.handle_shipment_created", [(shipment_id,)])


@receiver(tracking_events_recorded, dispatch_uid="support_tracking_events")
def on_tracking_events(sender, events, **kwargs):
    relevant = [e for e in events if e[3] in ("out_for_delivery", "exception", "returned")]
    if relevant:
        batches = [(relevant[i : i + BATCH],) for i in range(0, len(relevant), BATCH)]
        _enqueue_on_commit("support.tasks.handle_tracking_events", batches)


@receiver(expected_availability_changed, dispatch_uid="support_expected_availability_changed")
def on_expected_availability_changed(sender, product_ids=(), **kwargs):
    # After orders re-dated the backorders of these products (inventory's supply change runs
    # that first), so the scan reads the new expected dates.
    if product_ids:
        _enqueue_on_commit("support.tasks.scan_delays_for_products", [(sorted(product_ids),)])


@receiver(order_page_panels, dispatch_uid="support_order_panel")
def order_notifications_panel(sender, order, request=None, **kwargs):
    from support.models import Notification

    rows = list(Notification.objects.filter(order=order).order_by("-id")[:20])
    token_url = None
    user = getattr(request, "user", None)
    if user is not None and user.has_perm("support.view_notification"):
        from support import links
        from support.services import tracking_token

        token_url = links.tracking_url(tracking_token(order=order))
    return {
        "id": "order-notifications",
        "title": "Customer notifications",
        "template": "support/panels/order_notifications.html",
        "context": {"notifications": rows, "tracking_url": token_url},
    }


@receiver(order_page_panels, dispatch_uid="support_order_tickets_panel")
def order_tickets_panel(sender, order, request=None, **kwargs):
    from support.models import Ticket

    rows = list(Ticket.objects.filter(order=order).select_related("assignee").order_by("-id")[:20])
    return {
        "id": "order-tickets",
        "title": "Support tickets",
        "template": "support/panels/order_tickets.html",
        "context": {"tickets": rows},
    }


@receiver(demo_data_seeded, dispatch_uid="support_demo_data")
def seed_support_on_demo(sender, rng=None, **kwargs):
    from support.demo import seed_support_demo, seed_tickets_demo

    return f"{seed_support_demo()}\n{seed_tickets_demo()}"
