"""SLA clocks of tickets: targets, stored due times, pause/resume, agreement status, Zendesk's
measures. Pure functions on a ticket instance (the ticket services call them inside their
transaction and save the fields); the calendar arithmetic lives in ``support.business_hours``.

Rules (Frappe Helpdesk's, plus what its users miss):
- first response due = created + first-response target, resolution due = created +
  resolution target, both in business hours of the client's calendar;
- "at risk" moments (``*_risk_at``) = created + the configured share of the target, stored so
  the periodic scan reads an index instead of doing calendar arithmetic on 300,000 rows;
- pending customer pauses the clock; on resume the business time spent paused is added to the
  resolution due time (and its risk moment). The first response target is not paused;
- agreement status: failed once any target is breached (even while paused), else fulfilled
  once resolved/closed, else paused, else first response due until the first reply, else
  resolution due.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from support.business_hours import Calendar, add_business_seconds, business_seconds_between
from support.models import SLAPolicy, SupportSettings, Ticket, TicketPriority

# (first response, resolution) in business hours when a client has no policy for a priority.
DEFAULT_TARGETS: dict[str, tuple[Decimal, Decimal]] = {
    TicketPriority.URGENT: (Decimal(1), Decimal(8)),
    TicketPriority.HIGH: (Decimal(4), Decimal(16)),
    TicketPriority.NORMAL: (Decimal(8), Decimal(40)),
    TicketPriority.LOW: (Decimal(24), Decimal(80)),
}

S = Ticket.Status
OPEN_STATUSES = (S.NEW, S.OPEN, S.PENDING_INTERNAL)  # the clock runs
ACTIVE_STATUSES = (S.NEW, S.OPEN, S.PENDING_CUSTOMER, S.PENDING_INTERNAL)  # not resolved/closed
WORK_STATUSES = (S.NEW, S.OPEN)  # Zendesk agent work time
WAIT_STATUSES = (S.NEW, S.OPEN, S.PENDING_INTERNAL)  # Zendesk requester wait (new+open+on-hold)


def support_settings(client) -> SupportSettings:
    try:
        return client.support_settings
    except SupportSettings.DoesNotExist:
        return SupportSettings(client=client)


def calendar_for(client, settings_: SupportSettings | None = None) -> Calendar:
    s = settings_ or support_settings(client)
    return Calendar.from_settings(tz=client.timezone, week=s.working_hours, holidays=s.holidays)


def targets_for(client_id: int, priority: str) -> tuple[Decimal, Decimal]:
    policy = SLAPolicy.objects.filter(client_id=client_id, priority=priority).first()
    if policy is None:
        return DEFAULT_TARGETS[priority]
    return policy.first_response_hours, policy.resolution_hours


def agreement_of(t: Ticket) -> str:
    A = Ticket.Agreement
    if t.first_response_breached or t.resolution_breached:
        return A.FAILED
    if t.status in (S.RESOLVED, S.CLOSED):
        return A.FULFILLED
    if t.status == S.PENDING_CUSTOMER:
        return A.PAUSED
    if t.first_responded_at is None:
        return A.FIRST_RESPONSE_DUE
    return A.RESOLUTION_DUE


def start_clock(t: Ticket, *, cal: Calendar, share: int) -> None:
    """Set the due times of a new ticket (or of one whose priority changed)."""
    first, resolution = targets_for(t.client_id, t.priority)
    fr, res = float(first) * 3600, float(resolution) * 3600
    t.first_response_due = add_business_seconds(t.created_at, fr, cal)
    t.first_response_risk_at = add_business_seconds(t.created_at, fr * share / 100, cal)
    t.resolution_due = add_business_seconds(t.created_at, res + t.on_hold_seconds, cal)
    t.resolution_risk_at = add_business_seconds(
        t.created_at, res * share / 100 + t.on_hold_seconds, cal
    )
    t.agreement_status = agreement_of(t)


def pause(t: Ticket, now: datetime) -> None:
    if t.paused_at is None:
        t.paused_at = now


def resume(t: Ticket, now: datetime, *, cal: Calendar, share: int) -> None:
    """End a pause: the business time on hold moves the resolution due time out."""
    if t.paused_at is None:
        return
    t.on_hold_seconds += business_seconds_between(t.paused_at, now, cal)
    t.paused_at = None
    start_clock(t, cal=cal, share=share)


def account_status_time(t: Ticket, now: datetime) -> None:
    """Add the time spent in the status being left to Zendesk's measures."""
    spent = max(0, int((now - t.status_changed_at).total_seconds()))
    if t.status in WORK_STATUSES:
        t.agent_work_seconds += spent
    if t.status in WAIT_STATUSES:
        t.requester_wait_seconds += spent
    t.status_changed_at = now


def record_public_reply(t: Ticket, now: datetime) -> None:
    """An agent's reply to the customer: first reply time, next reply time, breach check."""
    if t.first_responded_at is None:
        t.first_responded_at = now
        t.first_reply_seconds = max(0, int((now - t.created_at).total_seconds()))
        if t.first_response_due and now > t.first_response_due:
            t.first_response_breached = True
    elif t.awaiting_reply_since is not None:
        t.next_reply_seconds = max(0, int((now - t.awaiting_reply_since).total_seconds()))
    t.awaiting_reply_since = None


def record_customer_message(t: Ticket, now: datetime) -> None:
    if t.first_responded_at is not None and t.awaiting_reply_since is None:
        t.awaiting_reply_since = now


def check_resolution(t: Ticket, now: datetime) -> None:
    if t.resolution_due and now > t.resolution_due and t.paused_at is None:
        t.resolution_breached = True
