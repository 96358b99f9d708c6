"""Listens to the lower apps: a shipment is invoiced when it is created (per-shipment
clients), an order when it is released (per-order clients), and an order cancelled after
invoicing gets its credit note. Receivers only enqueue work when the transaction commits."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver

from core.tasks import enqueue_many
from fulfillment.signals import shipment_created
from orders.signals import demo_data_seeded, order_page_panels, order_status_changed


def _enqueue_on_commit(func: str, args_list: list[tuple]) -> None:
    transaction.on_commit(partial(enqueue_many, func, args_list, group="billing"))


@receiver(shipment_created, dispatch_uid="billing_shipment_created")
def on_shipment_created(sender, shipment_id, order_id=None, **kwargs):
    _enqueue_on_commit("billing.tasks.invoice_shipments", [([shipment_id],)])


@receiver(order_status_changed, dispatch_uid="billing_status_changed")
def on_status_changed(sender, changes, **kwargs):
    released = [oid for oid, _f, to in changes if to == "ready"]
    cancelled = [oid for oid, _f, to in changes if to == "cancelled"]
    # One cheap query each, so that imports of clients invoicing per shipment (most) and
    # cancellations of orders never invoiced queue no task at all.
    if released:
        from clients.models import Client

        if Client.objects.filter(invoice_mode=Client.InvoiceMode.PER_ORDER).exists():
            _enqueue_on_commit("billing.tasks.invoice_released_orders", [(released,)])
    if cancelled:
        from billing.models import Invoice

        if Invoice.objects.filter(order_id__in=cancelled).exists():
            _enqueue_on_commit("billing.tasks.credit_cancelled_orders", [(cancelled,)])


@receiver(order_page_panels, dispatch_uid="billing_order_panel")
def order_panel(sender, order, request, **kwargs):
    from billing.selectors import order_billing_panel

    return order_billing_panel(order=order, user=request.user)


@receiver(demo_data_seeded, dispatch_uid="billing_demo_data")
def seed_billing_on_demo(sender, rng=None, **kwargs):
    from billing.demo import seed_billing_demo

    return seed_billing_demo()
