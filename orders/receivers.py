"""Listens to lower apps. Kept tiny: the work lives in services."""

from django.dispatch import receiver

from inventory.signals import (
    expected_supply_changed,
    product_page_panels,
    stock_became_available,
)


@receiver(stock_became_available, dispatch_uid="orders_fill_backorders")
def fill_backorders_on_stock(sender, product_ids, **kwargs):
    # Filled inside the same transaction as the receipt (not deferred to a task): the freed
    # units must reach the most urgent waiting order before any newer, less urgent order can
    # take them, and the receipt and its effect then commit or fail together.
    from orders.services import backorders_fill

    backorders_fill(product_ids=list(product_ids), user=kwargs.get("user"))


@receiver(product_page_panels, dispatch_uid="orders_waiting_panel")
def waiting_orders_panel(sender, product, **kwargs):
    from orders.selectors import orders_waiting_for_product

    return {
        "id": "waiting-orders",
        "title": "Orders waiting for this product (in the order they will be served)",
        "template": "orders/panels/waiting_orders.html",
        "context": {"lines": orders_waiting_for_product(product.pk)},
    }


@receiver(expected_supply_changed, dispatch_uid="orders_expected_availability")
def redate_backorders_on_supply(sender, product_ids, **kwargs):
    # After commit, in a worker: re-dating backorders must not slow or fail the PO change.
    from functools import partial

    from django.db import transaction
    from django_q.tasks import async_task

    transaction.on_commit(
        partial(
            async_task,
            "orders.tasks.refresh_expected_availability",
            list(product_ids),
            group="expected-availability",
        )
    )
