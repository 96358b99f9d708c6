"""The ticket workstation through the test client: scoping, queues, search, take next, the
ticket page (order facts, constant queries), replies and moves, bulk actions with
permissions, the inbox count and acknowledging, the order page's tickets panel."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from clients.models import Membership
from support import tickets as svc
from support.escalation import escalations_scan
from support.models import Escalation, Macro, SLAPolicy, SupportSettings, Ticket

S = Ticket.Status


@pytest.fixture
def desk(shop, make_user, make_order, make_client, make_product):
    SupportSettings.objects.create(client=shop.client, inbound_address="help@shop.test")
    SLAPolicy.objects.create(
        client=shop.client,
        priority="normal",
        first_response_hours=Decimal("2"),
        resolution_hours=Decimal("8"),
    )
    shop.order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    shop.agent = make_user("agent", clients=[shop.client], is_staff=True)
    shop.supervisor = make_user(
        "sup", clients=[shop.client], role=Membership.Role.SUPERVISOR, is_staff=True
    )
    shop.other = make_client()
    shop.other_ticket = svc.ticket_create(
        client=shop.other,
        channel="email",
        subject="Other client's",
        body="secret",
        requester_email="x@other.test",
    )
    return shop


def make_ticket(desk, **kw):
    kw.setdefault("channel", "email")
    kw.setdefault("subject", "Where is it?")
    kw.setdefault("body", f"Order {desk.order.number} please")
    kw.setdefault("requester_email", "ada@example.com")
    return svc.ticket_create(client=desk.client, **kw)


def test_queue_is_scoped_and_searchable(client, desk):
    t = make_ticket(desk)
    client.force_login(desk.agent)
    url = reverse("admin:support_ticket_changelist")
    page = client.get(url).content.decode()
    assert t.ref in page and "Other client" not in page
    assert "Take next ticket" in page
    for term in (t.ref, desk.order.number, "ada@example.com", "Ada"):
        found = client.get(url, {"q": term}).content.decode()
        assert t.ref in found, term
    foreign = client.get(url, {"q": desk.other_ticket.ref}).content.decode()
    assert "Other client&#x27;s" not in foreign and "Other client's" not in foreign
    for queue in ("mine", "unassigned", "at_risk", "breached", "escalated", "open"):
        assert client.get(url, {"queue": queue}).status_code == 200
    assert t.ref in client.get(url, {"queue": "unassigned"}).content.decode()
    assert t.ref not in client.get(url, {"queue": "mine"}).content.decode()


def test_another_clients_ticket_is_a_404(client, desk):
    client.force_login(desk.agent)
    change = reverse("admin:support_ticket_change", args=[desk.other_ticket.pk])
    assert client.get(change).status_code == 404
    work = reverse("admin:support_ticket_work", args=[desk.other_ticket.pk])
    assert client.post(work, {"do": "take"}).status_code == 404
    desk.other_ticket.refresh_from_db()
    assert desk.other_ticket.assignee is None


def test_take_next_then_ticket_page_shows_the_order_with_constant_queries(client, desk, make_order):
    t = make_ticket(desk)
    client.force_login(desk.agent)
    response = client.post(reverse("admin:support_ticket_take_next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:support_ticket_change", args=[t.pk])
    t.refresh_from_db()
    assert t.assignee == desk.agent
    url = reverse("admin:support_ticket_change", args=[t.pk])
    page = client.get(url).content.decode()
    assert desk.order.number in page and desk.stocked.sku in page and "Conversation" in page
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    # more messages and lines cost no more queries
    for i in range(5):
        svc.ticket_customer_message(ticket=t, body=f"again {i}")
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)


def test_reply_with_canned_reply_and_pending_customer(client, desk, run_commit, mailoutbox):
    t = make_ticket(desk)
    macro = Macro.objects.create(
        client=desk.client,
        name="Status",
        body="Order {{ order_number }} is {{ order_status }}.",
        set_status=S.PENDING_CUSTOMER,
    )
    client.force_login(desk.agent)
    work = reverse("admin:support_ticket_work", args=[t.pk])
    with run_commit():
        response = client.post(work, {"do": "macro", "macro": macro.pk})
    assert response.status_code == 302
    t.refresh_from_db()
    assert t.status == S.PENDING_CUSTOMER and t.paused_at is not None
    assert len(mailoutbox) == 1 and desk.order.number in mailoutbox[0].body
    # an illegal move is a message, not a 500
    svc.ticket_transition(ticket=t, to_status=S.CLOSED)
    response = client.post(work, {"do": "move", "to": S.OPEN}, follow=True)
    assert response.status_code == 200
    assert "cannot go from Closed" in response.content.decode()


def test_phone_call_is_logged_as_a_ticket(client, desk):
    client.force_login(desk.agent)
    response = client.post(
        reverse("admin:support_ticket_add"),
        {
            "client": desk.client.pk,
            "order": desk.order.pk,
            "subject": "Called about delivery",
            "category": "where",
            "priority": "normal",
            "body": "Customer asks when it ships.",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    t = Ticket.objects.get(channel="phone")
    assert t.order == desk.order and t.assignee == desk.agent
    assert t.messages.get().body == "Customer asks when it ships."


def test_bulk_close_only_for_supervisors_of_the_client(client, desk):
    t = make_ticket(desk)
    url = reverse("admin:support_ticket_changelist")
    client.force_login(desk.agent)
    page = client.get(url).content.decode()
    assert "close_tickets" not in page  # the action is not offered to an agent
    client.post(url, {"action": "close_tickets", "_selected_action": [t.pk]})
    t.refresh_from_db()
    assert t.status == S.NEW
    client.post(url, {"action": "assign_to_me", "_selected_action": [t.pk]})
    t.refresh_from_db()
    assert t.assignee == desk.agent
    client.force_login(desk.supervisor)
    client.post(url, {"action": "close_tickets", "_selected_action": [t.pk]})
    t.refresh_from_db()
    assert t.status == S.CLOSED


def test_inbox_count_in_the_header_and_acknowledge(client, desk):
    t = make_ticket(desk, now=timezone.now() - timedelta(days=10))
    escalations_scan()
    client.force_login(desk.supervisor)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="escalation-inbox-count"' in page
    inbox = client.get(reverse("admin:support_escalation_changelist"), {"inbox": "mine"})
    assert t.ref in inbox.content.decode()
    e = Escalation.objects.get(ticket=t, to_level=2)
    client.post(
        reverse("admin:support_escalation_changelist"),
        {"action": "acknowledge", "_selected_action": [e.pk]},
    )
    e.refresh_from_db()
    t.refresh_from_db()
    assert e.acknowledged_by == desk.supervisor and t.assignee == desk.supervisor


def test_order_page_lists_its_tickets(client, desk):
    t = make_ticket(desk)
    client.force_login(desk.agent)
    page = client.get(reverse("admin:orders_order_change", args=[desk.order.pk])).content.decode()
    assert "Support tickets" in page and t.ref in page
