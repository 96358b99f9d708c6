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


MACROS = [
    (
        "Order status",
        "Hello {{ customer_name }},\n\nyour order {{ order_number }} is {{ order_status }}. "
        "We expect it to ship by {{ expected_date }}. You can follow it here: "
        "{{ tracking_url }}\n\nKind regards",
        "",
    ),
    (
        "Delay apology (ask to confirm)",
        "Hello {{ customer_name }},\n\nwe are sorry: order {{ order_number }} is delayed and "
        "now expected by {{ expected_date }}. Would you like to wait, or should we cancel it? "
        "Tracking: {{ tracking_url }}",
        "pending_customer",
    ),
]


def seed_tickets_demo() -> str:
    """Idempotent demo tickets: support settings, SLA policies and canned replies per client;
    for the first client tickets in every status, and one breached and escalated."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clients.models import Client
    from support import tickets as ticket_services
    from support.escalation import escalations_scan
    from support.models import Macro, SLAPolicy, SupportSettings, Ticket
    from support.sla import DEFAULT_TARGETS

    owner = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    clients = list(Client.objects.filter(active=True).order_by("pk"))
    for client in clients:
        SupportSettings.objects.get_or_create(
            client=client,
            defaults={
                "inbound_address": f"support+{client.code.lower()}@bpo-demo.test",
                "account_owner": owner,
            },
        )
        for priority, (first, resolution) in DEFAULT_TARGETS.items():
            SLAPolicy.objects.get_or_create(
                client=client,
                priority=priority,
                defaults={"first_response_hours": first, "resolution_hours": resolution},
            )
        for name, body, status in MACROS:
            Macro.objects.get_or_create(
                client=client, name=name, defaults={"body": body, "set_status": status}
            )
    if not clients or Ticket.objects.filter(client=clients[0]).exists():
        return f"Support tickets: {Ticket.objects.count()} (already seeded)."
    client = clients[0]
    agent = get_user_model().objects.filter(username="agent").first()
    orders = list(
        Order.objects.filter(client=client, customer__isnull=False)
        .exclude(customer__email="")
        .select_related("customer")
        .order_by("status", "pk")[:40]
    )
    by_status: dict[str, list[Order]] = {}
    for order in orders:
        by_status.setdefault(order.status, []).append(order)
    picks = [o for group in by_status.values() for o in group][:8]
    if len(picks) < 7:
        return "Support tickets: not enough demo orders with customers."
    now = timezone.now()
    S = Ticket.Status

    def open_ticket(order, subject, body, category, when=None):
        return ticket_services.ticket_create(
            client=client,
            channel=Ticket.Channel.EMAIL,
            subject=subject,
            body=body,
            requester_email=order.customer.email,
            order=order,
            category=category,
            now=when or now,
        )

    late = open_ticket(
        picks[0],
        f"Still waiting for order {picks[0].number}",
        "It has been more than a week. This is unacceptable.",
        Ticket.Category.DELAY,
        when=now - timedelta(days=10),
    )
    open_ticket(picks[1], f"Where is order {picks[1].number}?", "Any news?", "where")
    t = open_ticket(picks[2], "Wrong colour", "I got a red one, ordered blue.", "wrong_item")
    if agent:
        ticket_services.ticket_reply(
            ticket=t, user=agent, body="Sorry! A replacement is on its way."
        )
        t = open_ticket(picks[3], "Box arrived damaged", "The box was crushed.", "damaged")
        ticket_services.ticket_reply(
            ticket=t, user=agent, body="Could you send a photo?", set_status=S.PENDING_CUSTOMER
        )
        t = open_ticket(picks[4], "Change address", "Please ship to my office.", "address")
        ticket_services.ticket_assign(ticket=t, assignee=agent, user=agent)
        ticket_services.ticket_transition(ticket=t, to_status=S.PENDING_INTERNAL, user=agent)
        t = open_ticket(picks[5], "Cancel please", "I no longer need it.", "cancel")
        ticket_services.ticket_reply(
            ticket=t, user=agent, body="Done, it is cancelled.", set_status=S.RESOLVED
        )
        t = open_ticket(picks[6], "Thanks", "All good now.", "other")
        ticket_services.ticket_reply(
            ticket=t, user=agent, body="Glad to hear!", set_status=S.CLOSED
        )
    escalations_scan()
    # The demo's replies are "sent" at once through the in-memory backend (as above).
    outbox = get_connection("django.core.mail.backends.locmem.EmailBackend")
    for pk in Notification.objects.filter(
        event=Event.TICKET_REPLY, status=Notification.Status.QUEUED
    ).values_list("pk", flat=True):
        notification_send(notification_id=pk, connection_=outbox)
    late.refresh_from_db()
    return (
        f"Support tickets: {Ticket.objects.count()} in every status; {late.ref} is breached and "
        f"escalated to level {late.escalation_level}. Inbound e-mail address of {client.code}: "
        f"support+{client.code.lower()}@bpo-demo.test"
    )
