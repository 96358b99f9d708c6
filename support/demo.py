"""Demo notifications for ``seed_demo``: a few e-mails on real demo orders (sent through the
in-memory backend, so the console stays quiet) and a working tracking link to print."""

from __future__ import annotations

from django.core.mail import get_connection

from orders.models import Order
from support import links
from support.models import Event, Notification
from support.services import (
    NotificationRequest,
    delay_notices_queue,
    notification_send,
    notifications_queue,
    tracking_token,
)


def seed_support_demo() -> str:
    """Idempotent: notifications are unique per order × event × what they announce."""
    late = list(
        Order.objects.filter(status=Order.Status.BACKORDERED)
        .order_by("client_id", "ship_by", "pk")
        .values_list("pk", flat=True)[:5]
    )
    delay_notices_queue(order_ids=late)
    confirmed = list(
        Order.objects.filter(status=Order.Status.READY)
        .order_by("pk")
        .values_list("pk", flat=True)[:3]
    )
    notifications_queue(requests=[NotificationRequest(pk, Event.CONFIRMED) for pk in confirmed])
    outbox = get_connection("django.core.mail.backends.locmem.EmailBackend")
    for pk, send_after in Notification.objects.filter(
        order_id__in=late + confirmed, status=Notification.Status.QUEUED
    ).values_list("pk", "send_after"):
        # The demo does not wait for the end of quiet hours.
        notification_send(notification_id=pk, connection_=outbox, now=send_after)
    if not late:
        return "Customer notifications: no backordered demo order to notify."
    order = Order.objects.get(pk=late[0])
    url = links.tracking_url(tracking_token(order=order))
    sent = Notification.objects.filter(status=Notification.Status.SENT).count()
    return (
        f"Customer notifications: {sent} sent. Tracking page of delayed order {order.number} "
        f"(no login): {url}"
    )
