"""Ticket services: creation and order linking, the state machine, SLA clock and agreement
status, replies through the notification machinery, canned replies, complaint factor,
take-next, assignment permissions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from clients.models import Membership
from support import tickets as svc
from support.exceptions import (
    AttachmentRefused,
    InvalidTicketStatus,
    TicketError,
    TicketPermissionDenied,
)
from support.models import (
    Event,
    Macro,
    Notification,
    SLAPolicy,
    SupportSettings,
    Ticket,
    TicketMessage,
)

S = Ticket.Status
A = Ticket.Agreement
# Tuesday 2026-12-01 10:00 in Berlin (09:00 UTC): inside the default Mon–Fri 09–17 week.
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def desk(shop, make_order, make_user):
    SupportSettings.objects.create(client=shop.client, inbound_address="help@shop.test")
    SLAPolicy.objects.create(
        client=shop.client,
        priority="normal",
        first_response_hours=Decimal("2"),
        resolution_hours=Decimal("8"),
    )
    shop.order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    shop.agent = make_user("agent", clients=[shop.client], email="agent@bpo.test")
    shop.supervisor = make_user(
        "sup", clients=[shop.client], role=Membership.Role.SUPERVISOR, email="sup@bpo.test"
    )
    return shop


def new_ticket(desk, now=TUESDAY_10, **kw):
    kw.setdefault("channel", Ticket.Channel.EMAIL)
    kw.setdefault("subject", "Where is my parcel?")
    kw.setdefault("body", "Hello, no news yet.")
    kw.setdefault("requester_email", "ada@example.com")
    return svc.ticket_create(client=desk.client, now=now, **kw)


def test_create_links_order_named_in_the_message_and_the_customer(desk):
    t = new_ticket(desk, body=f"My order {desk.order.number} has not arrived.")
    assert t.order == desk.order
    assert t.customer == desk.customer
    assert t.status == S.NEW and t.agreement_status == A.FIRST_RESPONSE_DUE
    # 2 and 8 business hours from Tuesday 10:00 Berlin
    assert t.first_response_due == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert t.resolution_due == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # Wed 10:00 Berlin
    assert t.first_response_risk_at < t.first_response_due
    assert TicketMessage.objects.get(ticket=t).kind == TicketMessage.Kind.INBOUND
    assert desk.order.events.filter(kind="support", message__contains=t.ref).exists()


def test_another_clients_order_number_is_not_linked(desk, make_client, make_order, make_product):
    other = make_client()
    other_order = make_order(other, [(make_product(other), 1)])
    t = new_ticket(desk, body=f"About order {other_order.number}")
    assert t.order is None
    with pytest.raises(TicketError):
        new_ticket(desk, order=other_order)


def test_transition_table_refuses_illegal_moves(desk):
    t = new_ticket(desk)
    svc.ticket_transition(ticket=t, to_status=S.CLOSED)
    with pytest.raises(InvalidTicketStatus):
        svc.ticket_transition(ticket=t, to_status=S.OPEN)
    t.refresh_from_db()
    assert t.status == S.CLOSED
    for src, targets in svc.TRANSITIONS.items():
        assert src not in targets  # no self-moves
    assert svc.TRANSITIONS[S.RESOLVED] == {S.OPEN, S.CLOSED}


def test_pause_and_resume_add_time_on_hold_to_resolution_due(desk):
    t = new_ticket(desk)
    due = t.resolution_due
    svc.ticket_reply(
        ticket=t,
        user=desk.agent,
        body="Could you send a photo?",
        set_status=S.PENDING_CUSTOMER,
        now=TUESDAY_10 + timedelta(minutes=30),
    )
    t.refresh_from_db()
    assert t.status == S.PENDING_CUSTOMER and t.agreement_status == A.PAUSED
    assert t.paused_at is not None
    # the customer answers 3 working hours later: 3 h on hold
    svc.ticket_customer_message(
        ticket=t, body="Here it is.", now=TUESDAY_10 + timedelta(hours=3, minutes=30)
    )
    t.refresh_from_db()
    assert t.status == S.OPEN and t.paused_at is None
    assert t.on_hold_seconds == 3 * 3600
    assert t.resolution_due == due + timedelta(hours=3)
    assert t.agreement_status == A.RESOLUTION_DUE


def test_every_agreement_status(desk):
    t = new_ticket(desk)
    assert t.agreement_status == A.FIRST_RESPONSE_DUE
    svc.ticket_reply(ticket=t, user=desk.agent, body="On it.", now=TUESDAY_10 + timedelta(hours=1))
    assert t.agreement_status == A.RESOLUTION_DUE and not t.first_response_breached
    svc.ticket_transition(
        ticket=t, to_status=S.PENDING_CUSTOMER, now=TUESDAY_10 + timedelta(hours=2)
    )
    assert t.agreement_status == A.PAUSED
    svc.ticket_transition(ticket=t, to_status=S.RESOLVED, now=TUESDAY_10 + timedelta(hours=3))
    assert t.agreement_status == A.FULFILLED
    # a late first reply fails it, and a breached ticket that is paused still shows failed
    late = new_ticket(desk)
    svc.ticket_reply(
        ticket=late,
        user=desk.agent,
        body="Sorry for the wait.",
        set_status=S.PENDING_CUSTOMER,
        now=TUESDAY_10 + timedelta(hours=5),
    )
    assert late.first_response_breached
    assert late.status == S.PENDING_CUSTOMER and late.agreement_status == A.FAILED


def test_zendesk_measures(desk):
    t = new_ticket(desk)
    svc.ticket_reply(ticket=t, user=desk.agent, body="Hi", now=TUESDAY_10 + timedelta(minutes=20))
    assert t.first_reply_seconds == 20 * 60
    svc.ticket_customer_message(ticket=t, body="Still?", now=TUESDAY_10 + timedelta(hours=1))
    svc.ticket_reply(ticket=t, user=desk.agent, body="Yes", now=TUESDAY_10 + timedelta(hours=2))
    assert t.next_reply_seconds == 3600
    svc.ticket_transition(
        ticket=t, to_status=S.PENDING_CUSTOMER, now=TUESDAY_10 + timedelta(hours=3)
    )
    svc.ticket_transition(ticket=t, to_status=S.RESOLVED, now=TUESDAY_10 + timedelta(hours=5))
    t.refresh_from_db()
    # new (20 min) + open (2 h 40 min) = 3 h of work and of waiting; pending customer is neither
    assert t.agent_work_seconds == 3 * 3600
    assert t.requester_wait_seconds == 3 * 3600


def test_reply_emails_the_customer_once_through_the_notification_machinery(
    desk, run_commit, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    t = new_ticket(desk, body=f"Order {desk.order.number}?", now=timezone.now())
    with run_commit():
        msg = svc.ticket_reply(ticket=t, user=desk.agent, body="It ships tomorrow.")
    n = Notification.objects.get(event=Event.TICKET_REPLY)
    assert n.status == Notification.Status.SENT and n.announces == f"msg:{msg.pk}"
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada@example.com"] and f"[{t.ref}]" in sent.subject
    # the same task again sends nothing
    from support.services import notification_send

    assert notification_send(notification_id=n.pk) is None
    assert len(mail.outbox) == 1
    t.refresh_from_db()
    assert t.status == S.OPEN and t.first_responded_at is not None


def test_canned_reply_filled_from_the_linked_order(desk):
    t = new_ticket(desk, body=f"Order {desk.order.number}?", now=timezone.now())
    macro = Macro.objects.create(
        client=desk.client,
        name="Status",
        body="Hi {{ customer_name }}, order {{ order_number }} is {{ order_status }}, "
        "expected {{ expected_date }}. Track: {{ tracking_url }}",
        set_status=S.PENDING_CUSTOMER,
    )
    text = svc.macro_render(macro=macro, ticket=t)
    assert desk.order.number in text and "Ada Lovelace" in text
    assert "/track/" in text and desk.order.get_status_display().lower() in text
    msg = svc.ticket_apply_macro(ticket=t, macro=macro, user=desk.agent)
    assert msg.body == text
    t.refresh_from_db()
    assert t.status == S.PENDING_CUSTOMER


def test_canned_reply_cannot_reach_models(desk):
    t = new_ticket(desk, body=f"Order {desk.order.number}?")
    macro = Macro.objects.create(client=desk.client, name="Evil", body="{{ order.delete }}x")
    assert svc.macro_render(macro=macro, ticket=t) == "x"


def test_delay_complaint_adds_the_complaint_factor_until_resolved(desk):
    order = desk.order
    before = order.priority_score
    t = new_ticket(desk, order=order, category=Ticket.Category.DELAY)
    order.refresh_from_db()
    assert order.open_complaints == 1
    factors = {f["factor"]: f for f in order.priority_breakdown}
    assert factors["complaint"]["points"] == 300
    assert order.priority_score == before + 300
    svc.ticket_transition(ticket=t, to_status=S.RESOLVED)
    order.refresh_from_db()
    assert order.open_complaints == 0 and order.priority_score == before
    assert "complaint" not in {f["factor"] for f in order.priority_breakdown}


def test_a_question_about_an_order_on_time_is_no_complaint(desk):
    new_ticket(desk, order=desk.order, category=Ticket.Category.WHERE)
    desk.order.refresh_from_db()
    assert desk.order.open_complaints == 0


def test_any_ticket_about_a_late_order_is_a_complaint(desk, make_order):
    late = make_order(
        desk.client, [(desk.stocked, 1)], placed_at=timezone.now() - timedelta(days=10)
    )
    assert late.ship_by < timezone.now()
    new_ticket(desk, order=late, category=Ticket.Category.WHERE, now=timezone.now())
    late.refresh_from_db()
    assert late.open_complaints == 1


def test_take_next_gives_the_ticket_due_soonest(desk, make_user):
    later = new_ticket(desk, now=TUESDAY_10 + timedelta(hours=1))
    sooner = new_ticket(desk)
    got = svc.ticket_take_next(user=desk.agent, client_ids=frozenset({desk.client.pk}))
    assert got.pk == sooner.pk and got.assignee == desk.agent
    got2 = svc.ticket_take_next(user=desk.agent, client_ids=frozenset({desk.client.pk}))
    assert got2.pk == later.pk
    assert svc.ticket_take_next(user=desk.agent, client_ids=frozenset()) is None


def test_assignment_permissions(desk, make_user, make_client):
    t = new_ticket(desk)
    other_agent = make_user(clients=[desk.client])
    with pytest.raises(TicketPermissionDenied):
        svc.ticket_assign(ticket=t, assignee=other_agent, user=desk.agent)
    svc.ticket_assign(ticket=t, assignee=desk.agent, user=desk.agent)
    svc.ticket_assign(ticket=t, assignee=other_agent, user=desk.supervisor)
    stranger = make_user(clients=[make_client()])
    with pytest.raises(TicketPermissionDenied):
        svc.ticket_assign(ticket=t, assignee=stranger, user=desk.supervisor)
    with pytest.raises(TicketPermissionDenied):
        svc.ticket_assign(ticket=t, assignee=stranger, user=stranger)


def test_bulk_close_needs_the_supervisor_role_per_client(desk, make_client, make_user):
    t = new_ticket(desk)
    done, errors = svc.tickets_bulk_close(ticket_ids=[t.pk], user=desk.agent)
    assert done == 0 and errors
    done, errors = svc.tickets_bulk_close(ticket_ids=[t.pk], user=desk.supervisor)
    assert done == 1 and not errors
    t.refresh_from_db()
    assert t.status == S.CLOSED


def test_attachment_limits_refuse_and_store_nothing(desk):
    big = svc.Upload("big.pdf", "application/pdf", b"x" * (5 * 1024 * 1024 + 1))
    with pytest.raises(AttachmentRefused):
        new_ticket(desk, uploads=[big])
    exe = svc.Upload("run.exe", "application/x-msdownload", b"MZ")
    with pytest.raises(AttachmentRefused):
        new_ticket(desk, uploads=[exe])
    assert not Ticket.objects.exists()
    ok = svc.Upload("photo.png", "image/png", b"\x89PNG")
    t = new_ticket(desk, uploads=[ok])
    assert t.messages.get().attachments.get().filename == "photo.png"
