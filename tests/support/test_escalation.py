"""The SLA/escalation scan: every trigger once and only once, levels and recipients, inbox,
e-mail sent once, acknowledging takes ownership (supervisor role per client), de-escalation."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from clients.models import Membership
from orders.models import Customer, OrderEvent
from support import tickets as svc
from support.escalation import escalation_acknowledge, escalations_scan, inbox_count
from support.exceptions import TicketPermissionDenied
from support.models import Escalation, InboxEntry, SLAPolicy, SupportSettings, Ticket

T = Escalation.Trigger
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 10:00 Berlin


@pytest.fixture
def desk(shop, make_user, make_order, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    shop.owner = make_user("owner", email="owner@bpo.test", is_staff=True)
    SupportSettings.objects.create(
        client=shop.client, inbound_address="help@shop.test", account_owner=shop.owner
    )
    SLAPolicy.objects.create(
        client=shop.client,
        priority="normal",
        first_response_hours=Decimal("2"),
        resolution_hours=Decimal("8"),
    )
    shop.agent = make_user("agent", clients=[shop.client], email="agent@bpo.test")
    shop.supervisor = make_user(
        "sup", clients=[shop.client], role=Membership.Role.SUPERVISOR, email="sup@bpo.test"
    )
    shop.order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    return shop


def ticket(desk, now=TUESDAY_10, **kw):
    kw.setdefault("channel", Ticket.Channel.EMAIL)
    kw.setdefault("subject", "Help")
    kw.setdefault("body", "Hello")
    kw.setdefault("requester_email", "someone@example.com")
    return svc.ticket_create(client=desk.client, now=now, **kw)


def triggers(t):
    return sorted(Escalation.objects.filter(ticket=t).values_list("trigger", flat=True))


def test_at_risk_then_breached_each_once(desk, run_commit):
    t = ticket(desk)
    assert escalations_scan(now=TUESDAY_10 + timedelta(minutes=30))[T.FIRST_RESPONSE_AT_RISK] == 0
    # 80 % of 2 h = 96 min
    with run_commit():
        counts = escalations_scan(now=TUESDAY_10 + timedelta(minutes=100))
    assert counts[T.FIRST_RESPONSE_AT_RISK] == 1
    e = Escalation.objects.get(ticket=t)
    assert (e.from_level, e.to_level) == (0, 1)
    # level 1, nobody assigned: the client's agents
    assert set(InboxEntry.objects.values_list("user__username", flat=True)) == {"agent"}
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["agent@bpo.test"]
    with run_commit():
        again = escalations_scan(now=TUESDAY_10 + timedelta(minutes=110))
    assert sum(v for k, v in again.items() if k != "breaches_marked") == 0
    assert len(mail.outbox) == 1
    # breached: failed, level 2 = supervisors
    with run_commit():
        escalations_scan(now=TUESDAY_10 + timedelta(hours=3))
    t.refresh_from_db()
    assert t.first_response_breached and t.agreement_status == Ticket.Agreement.FAILED
    assert t.escalation_level == 2
    assert triggers(t) == [T.FIRST_RESPONSE_AT_RISK, T.FIRST_RESPONSE_BREACHED]
    assert inbox_count(desk.supervisor) == 1
    # resolution breached (8 business hours → Wednesday 10:00): level 3, the account owner
    escalations_scan(now=TUESDAY_10 + timedelta(days=1, hours=2))
    t.refresh_from_db()
    assert t.resolution_breached and t.escalation_level == 3
    assert inbox_count(desk.owner) == 1
    before = Escalation.objects.count()
    escalations_scan(now=TUESDAY_10 + timedelta(days=3))
    assert Escalation.objects.count() == before


def test_paused_ticket_does_not_breach_resolution(desk):
    t = ticket(desk)
    svc.ticket_reply(
        ticket=t,
        user=desk.agent,
        body="Photo?",
        set_status="pending_customer",
        now=TUESDAY_10 + timedelta(minutes=10),
    )
    escalations_scan(now=TUESDAY_10 + timedelta(days=5))
    t.refresh_from_db()
    assert not t.resolution_breached and t.agreement_status == Ticket.Agreement.PAUSED
    assert triggers(t) == []


def test_vip_customer(desk, make_customer):
    vip = make_customer(desk.client, tier=Customer.Tier.VIP, email="vip@example.com")
    t = ticket(desk, now=timezone.now(), requester_email="vip@example.com")
    assert t.customer == vip
    escalations_scan()
    escalations_scan()
    assert triggers(t) == [T.VIP]
    t.refresh_from_db()
    assert t.escalation_level == 2


def test_complaint_about_an_order_late_by_more_than_n_days(desk, make_order):
    now = timezone.now()
    late = make_order(desk.client, [(desk.stocked, 1)], placed_at=now - timedelta(days=10))
    slightly = make_order(desk.client, [(desk.stocked, 1)], placed_at=now - timedelta(days=4))
    t1 = ticket(desk, now=now, order=late, category=Ticket.Category.DELAY)
    t2 = ticket(desk, now=now, order=slightly, category=Ticket.Category.DELAY)
    escalations_scan(now=now)
    escalations_scan(now=now)
    assert T.LATE_ORDER_COMPLAINT in triggers(t1)
    assert T.LATE_ORDER_COMPLAINT not in triggers(t2)  # 1 day late, N = 2
    # on the order's timeline
    assert OrderEvent.objects.filter(
        order=late, kind="support", message__contains="escalated"
    ).exists()


def test_repeat_contact_within_n_days(desk):
    now = timezone.now()
    first = ticket(desk, now=now - timedelta(days=3), requester_email="ada@example.com")
    second = ticket(desk, now=now, requester_email="ada@example.com")
    escalations_scan(now=now)
    assert T.REPEAT_CONTACT in triggers(second)
    assert T.REPEAT_CONTACT not in triggers(first)


def test_acknowledge_takes_ownership_and_needs_the_role_per_client(desk, make_user, make_client):
    t = ticket(desk)
    escalations_scan(now=TUESDAY_10 + timedelta(hours=3))
    e = Escalation.objects.get(ticket=t, trigger=T.FIRST_RESPONSE_BREACHED)
    with pytest.raises(TicketPermissionDenied):
        escalation_acknowledge(escalation=e, user=desk.agent)
    # supervisor of another client only
    other_sup = make_user(clients=[make_client()], role=Membership.Role.SUPERVISOR)
    with pytest.raises(TicketPermissionDenied):
        escalation_acknowledge(escalation=e, user=other_sup)
    escalation_acknowledge(escalation=e, user=desk.supervisor)
    e.refresh_from_db()
    t.refresh_from_db()
    assert e.acknowledged_by == desk.supervisor and t.assignee == desk.supervisor
    assert inbox_count(desk.supervisor) == 0


def test_resolution_de_escalates(desk):
    t = ticket(desk)
    escalations_scan(now=TUESDAY_10 + timedelta(hours=3))
    assert inbox_count(desk.supervisor) == 1
    svc.ticket_transition(ticket=t, to_status="resolved", now=TUESDAY_10 + timedelta(hours=4))
    t.refresh_from_db()
    assert t.escalation_level == 0
    assert not Escalation.objects.filter(ticket=t, closed_at__isnull=True).exists()
    assert inbox_count(desk.supervisor) == 0
    escalations_scan(now=TUESDAY_10 + timedelta(days=4))
    assert Escalation.objects.filter(ticket=t, closed_at__isnull=True).count() == 0


def test_escalation_email_is_sent_once(desk, run_commit):
    from support.escalation import escalation_email_send

    ticket(desk)
    with run_commit():
        escalations_scan(now=TUESDAY_10 + timedelta(hours=3))
    sent = len(mail.outbox)
    # already breached when first seen: straight to the supervisors (no stale "at risk")
    assert sent == 1 and mail.outbox[0].to == ["sup@bpo.test"]
    for e in Escalation.objects.all():
        assert escalation_email_send(escalation_id=e.pk) is False
    assert len(mail.outbox) == sent


def test_a_rerun_at_the_same_moment_creates_nothing(desk):
    t = ticket(desk)
    moment = TUESDAY_10 + timedelta(hours=3)
    first = escalations_scan(now=moment)
    again = escalations_scan(now=moment)
    assert first[T.FIRST_RESPONSE_BREACHED] == 1
    assert sum(v for k, v in again.items() if k != "breaches_marked") == 0
    assert Escalation.objects.filter(ticket=t).count() == 1
    assert InboxEntry.objects.count() == 1
