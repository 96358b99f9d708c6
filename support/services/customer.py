"""The customer's side of the tracking page: cancel by link, leave a message."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from orders import services as order_services
from orders.models import Order, OrderEvent
from support.exceptions import SupportError

# -- the customer's side -------------------------------------------------------------------------
CUSTOMER_CANCEL_REASON = "Cancelled by the customer (customer-initiated, via the tracking link)."


def order_cancel_by_customer(*, order: Order) -> Order:
    """The customer confirmed the cancel link: cancel through the order service (stock
    released, backorders refilled by priority), timeline marked customer-initiated. Raises
    the order service's ``InvalidOrderStatus`` for an order that can no longer be cancelled."""
    return order_services.order_cancel(order=order, reason=CUSTOMER_CANCEL_REASON, user=None)


MAX_MESSAGE_CHARS = 2000


def customer_message_record(*, order: Order, name: str, message: str) -> None:
    """A message from the tracking page's contact form becomes a support ticket (or joins the
    order's open one) and a row on the order's timeline. Raises :class:`SupportError` for an
    empty message."""
    text = (message or "").strip()
    if not text:
        raise SupportError("Please write a message.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise SupportError(f"Please keep your message under {MAX_MESSAGE_CHARS} characters.")
    who = (name or "").strip()[:100] or "The customer"
    from support.tickets import ticket_from_tracking_page

    with transaction.atomic():
        ticket = ticket_from_tracking_page(order=order, name=who, message=text)
        order_services.order_events_record(
            entries=[(order.pk, f"Message from {who} (tracking page, {ticket.ref}): {text}")],
            kind=OrderEvent.Kind.CUSTOMER,
        )


def today_in(tz) -> date:
    return timezone.now().astimezone(tz).date()
