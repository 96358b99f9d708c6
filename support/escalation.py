"""Escalation: the periodic SLA/escalation scan, acknowledging, the inbox.

Levels: 1 agent (the assignee, else the client's agents), 2 the client's supervisors, 3 the
client's account owner (``SupportSettings.account_owner``; its supervisors when unset).
Each trigger escalates to one level (:data:`TRIGGER_LEVEL`). The database allows one
escalation per ticket × trigger × level (``escalation_once``), and the scan only looks at
tickets without one, so re-running it escalates nothing twice; on resolution the ticket
services de-escalate (``support.tickets.escalations_close``).

The scan reads indexed stored columns only (due and risk moments were computed in business
hours when the clock started or resumed): a handful of set-based queries, whatever the size
of the backlog.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from clients.models import Membership
from clients.scoping import can_access_client, is_supervisor_for
from core.db import atomic_with_retry
from core.tasks import enqueue_many
from orders import services as order_services
from orders.models import CLOSED_STATUSES, Customer, OrderEvent
from support import sla
from support.exceptions import TicketPermissionDenied
from support.models import Escalation, InboxEntry, SupportSettings, Ticket

log = logging.getLogger(__name__)
T = Escalation.Trigger
L = Escalation.Level
TRIGGER_LEVEL: dict[str, int] = {
    T.FIRST_RESPONSE_AT_RISK: L.AGENT,
    T.RESOLUTION_AT_RISK: L.AGENT,
    T.REPEAT_CONTACT: L.AGENT,
    T.FIRST_RESPONSE_BREACHED: L.SUPERVISOR,
    T.LATE_ORDER_COMPLAINT: L.SUPERVISOR,
    T.VIP: L.SUPERVISOR,
    T.RESOLUTION_BREACHED: L.ACCOUNT_OWNER,
}
EMAIL_TASK = "support.tasks.send_escalation_emails"


def _settings_by_client() -> dict[int, SupportSettings]:
    return {s.client_id: s for s in SupportSettings.objects.all()}


# Triggers that fire when a ticket arrives (VIP, repeat contact) are evaluated once per
# ticket: the scan takes the tickets not yet checked (a partial index holds only those) and
# marks them checked in the transaction that stores their escalations.


def _candidates(now: datetime, arrived_ids: list[int]) -> dict[str, list[tuple[int, str]]]:
    """``{trigger: [(ticket_id, why), …]}`` of tickets that meet a trigger and have no
    escalation for it yet. Each query runs on a partial index of active tickets (see
    ``Ticket.Meta.indexes``), so its cost follows the tickets near a threshold, not the
    backlog."""
    active = Ticket.objects.filter(status__in=sla.ACTIVE_STATUSES)
    not_paused = Q(paused_at__isnull=True) & ~Q(status=Ticket.Status.PENDING_CUSTOMER)

    def fresh(qs, trigger):
        return qs.exclude(
            Exists(Escalation.objects.filter(ticket_id=OuterRef("pk"), trigger=trigger))
        )

    def ids(qs, trigger, why):
        return [(pk, why) for pk in fresh(qs, trigger).values_list("pk", flat=True)]

    out: dict[str, list[tuple[int, str]]] = {}
    out[T.FIRST_RESPONSE_BREACHED] = ids(
        active.filter(first_response_breached=True),
        T.FIRST_RESPONSE_BREACHED,
        "No first reply by the due time.",
    )
    out[T.RESOLUTION_BREACHED] = ids(
        active.filter(resolution_breached=True),
        T.RESOLUTION_BREACHED,
        "Not resolved by the due time.",
    )
    out[T.FIRST_RESPONSE_AT_RISK] = ids(
        active.filter(
            not_paused,
            first_responded_at__isnull=True,
            first_response_breached=False,
            first_response_risk_at__lte=now,
        ),
        T.FIRST_RESPONSE_AT_RISK,
        "Most of the first-response time is used.",
    )
    out[T.RESOLUTION_AT_RISK] = ids(
        active.filter(not_paused, resolution_breached=False, resolution_risk_at__lte=now),
        T.RESOLUTION_AT_RISK,
        "Most of the resolution time is used.",
    )
    arrived = active.filter(pk__in=arrived_ids)
    out[T.VIP] = ids(arrived.filter(customer__tier=Customer.Tier.VIP), T.VIP, "VIP customer.")
    # A complaint (a delay complaint, or a ticket about a late order: counted on the order)
    # about an order late by more than the client's N days.
    settings_ = _settings_by_client()
    late: list[tuple[int, str]] = []
    default_days = SupportSettings._meta.get_field("late_complaint_days").default
    rows = fresh(
        active.filter(complaint_counted=True, order__ship_by__lt=now).exclude(
            order__status__in=CLOSED_STATUSES
        ),
        T.LATE_ORDER_COMPLAINT,
    ).values_list("pk", "client_id", "order__ship_by", "order__number")
    for pk, client_id, ship_by, number in rows:
        s = settings_.get(client_id)
        days = s.late_complaint_days if s else default_days
        if now - ship_by > timedelta(days=days):
            late.append((pk, f"Order {number} is {(now - ship_by).days} days late."))
    out[T.LATE_ORDER_COMPLAINT] = late
    # Repeat contact: the same customer opened another ticket shortly before this one (one
    # set-based query per distinct "N days" setting, on the (customer, created_at) index).
    default_repeat = SupportSettings._meta.get_field("repeat_contact_days").default
    repeat: list[tuple[int, str]] = []
    days_by_client = {cid: s.repeat_contact_days for cid, s in settings_.items()}
    for days in sorted({default_repeat, *days_by_client.values()}):
        same = [cid for cid, d in days_by_client.items() if d == days]
        scope = Q(client_id__in=same)
        if days == default_repeat:
            scope |= ~Q(client_id__in=list(days_by_client))
        earlier = Ticket.objects.filter(
            customer_id=OuterRef("customer_id"),
            created_at__lt=OuterRef("created_at"),
            created_at__gte=OuterRef("created_at") - timedelta(days=days),
        )
        repeat += ids(
            arrived.filter(scope, customer__isnull=False).filter(Exists(earlier)),
            T.REPEAT_CONTACT,
            f"The customer wrote before within {days} days.",
        )
    out[T.REPEAT_CONTACT] = repeat
    return out


def _mark_breaches(now: datetime) -> int:
    """Set the breached flags whose due time passed (first reply missing; not resolved and
    the clock running) and the agreement status they imply (failed)."""
    active = Ticket.objects.filter(status__in=sla.ACTIVE_STATUSES)
    n = active.filter(
        first_responded_at__isnull=True,
        first_response_breached=False,
        first_response_due__lt=now,
    ).update(first_response_breached=True, agreement_status=Ticket.Agreement.FAILED)
    n += (
        active.filter(resolution_breached=False, resolution_due__lt=now, paused_at__isnull=True)
        .exclude(status=Ticket.Status.PENDING_CUSTOMER)
        .update(resolution_breached=True, agreement_status=Ticket.Agreement.FAILED)
    )
    return n


class Recipients:
    """Who each level reaches, read once per scan (members by client and role)."""

    def __init__(self, settings_: dict[int, SupportSettings]) -> None:
        self.settings = settings_
        self.members: dict[tuple[int, str], list[int]] = {}
        for client_id, role, user_id in Membership.objects.filter(client__active=True).values_list(
            "client_id", "role", "user_id"
        ):
            self.members.setdefault((client_id, role), []).append(user_id)

    def __call__(self, client_id: int, assignee_id: int | None, level: int) -> list[int]:
        if level == L.AGENT:
            if assignee_id:
                return [assignee_id]
            return self.members.get((client_id, Membership.Role.AGENT), [])
        s = self.settings.get(client_id)
        if level == L.ACCOUNT_OWNER and s and s.account_owner_id:
            return [s.account_owner_id]
        return self.members.get((client_id, Membership.Role.SUPERVISOR), [])


EMAIL_BATCH = 200
ARRIVAL_BATCH = 50_000  # tickets evaluated for arrival triggers per run (the rest next run)


def escalations_scan(*, now: datetime | None = None) -> dict[str, int]:
    """Mark breaches, then create the escalations that are due — idempotent (re-running it
    creates nothing new) — each with inbox entries for its level's people, an order timeline
    row, and an e-mail task (sent once per escalation). Returns counts per trigger."""
    now = now or timezone.now()
    breaches = _mark_breaches(now)
    arrived_ids = list(
        Ticket.objects.filter(arrival_checked=False)
        .order_by("pk")
        .values_list("pk", flat=True)[:ARRIVAL_BATCH]
    )
    candidates = _candidates(now, arrived_ids)
    settings_ = _settings_by_client()
    recipients = Recipients(settings_)
    created: list[Escalation] = []
    with transaction.atomic():
        ids = sorted({pk for rows in candidates.values() for pk, _ in rows})
        tickets = {
            t.pk: t
            for t in Ticket.objects.filter(pk__in=ids).only(
                "pk", "client_id", "assignee_id", "escalation_level", "order_id"
            )
        }
        rows = []
        for trigger, items in candidates.items():
            level = TRIGGER_LEVEL[trigger]
            for pk, why in items:
                t = tickets[pk]
                rows.append(
                    Escalation(
                        ticket_id=pk,
                        client_id=t.client_id,
                        trigger=trigger,
                        from_level=t.escalation_level,
                        to_level=level,
                        why=why,
                        created_at=now,
                    )
                )
        last_before = Escalation.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        Escalation.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
        # this run's rows: new ids with this run's moment (a concurrent run's conflicting rows
        # were skipped by the constraint; an earlier run at the same moment is not ours)
        created = (
            list(Escalation.objects.filter(pk__gt=last_before, created_at=now).order_by("pk"))
            if rows
            else []
        )
        created = [e for e in created if e.ticket_id in tickets]
        inbox, timeline = [], []
        for e in created:
            t = tickets[e.ticket_id]
            for user_id in recipients(t.client_id, t.assignee_id, e.to_level):
                inbox.append(InboxEntry(user_id=user_id, escalation=e, created_at=now))
            if t.order_id:
                timeline.append(
                    (
                        t.order_id,
                        f"Ticket T-{t.pk} escalated to level {e.to_level} "
                        f"({e.get_to_level_display()}): {e.why}",
                    )
                )
        InboxEntry.objects.bulk_create(inbox, ignore_conflicts=True, batch_size=2000)
        for start in range(0, len(arrived_ids), 5000):
            Ticket.objects.filter(pk__in=arrived_ids[start : start + 5000]).update(
                arrival_checked=True
            )
        for level in (L.AGENT, L.SUPERVISOR, L.ACCOUNT_OWNER):
            Ticket.objects.filter(
                pk__in=[e.ticket_id for e in created if e.to_level == level],
                escalation_level__lt=level,
            ).update(escalation_level=level)
        if timeline:
            order_services.order_events_record(entries=timeline, kind=OrderEvent.Kind.SUPPORT)
        if created:
            ids = [e.pk for e in created]
            batches = [(ids[i : i + EMAIL_BATCH],) for i in range(0, len(ids), EMAIL_BATCH)]
            transaction.on_commit(lambda: enqueue_many(EMAIL_TASK, batches, group="tickets"))
    counts = {trigger: 0 for trigger in T.values}
    for e in created:
        counts[e.trigger] += 1
    counts["breaches_marked"] = breaches
    return counts


@atomic_with_retry
def escalation_email_send(*, escalation_id: int) -> bool:
    """E-mail the escalation's inbox people once (``emailed_at`` under the row lock)."""
    e = (
        Escalation.objects.select_for_update()
        .filter(pk=escalation_id, emailed_at__isnull=True)
        .first()
    )
    if e is None:
        return False
    addresses = sorted(
        {
            a
            for a in InboxEntry.objects.filter(escalation=e).values_list("user__email", flat=True)
            if a
        }
    )
    if addresses:
        send_mail(
            subject=f"[T-{e.ticket_id}] escalated to level {e.to_level}: {e.get_trigger_display()}",
            message=f"{e.why}\n\nTicket T-{e.ticket_id} needs you; acknowledge it in the "
            "back office to take it over.",
            from_email=None,
            recipient_list=addresses,
        )
    e.emailed_at = timezone.now()
    e.save(update_fields=["emailed_at"])
    return True


@atomic_with_retry
def escalation_acknowledge(*, escalation: Escalation, user) -> Escalation:
    """Acknowledge an escalation: the user takes the ticket over (assignee). Level 1 is for
    anyone of the client; levels 2–3 need the supervisor role for that client (or being the
    account owner). Locks the escalation and the ticket; marks the inbox entries done."""
    e = Escalation.objects.select_for_update().get(pk=escalation.pk)
    if not can_access_client(user, e.client_id):
        raise TicketPermissionDenied("Not your client.")
    owner_id = (
        SupportSettings.objects.filter(client_id=e.client_id)
        .values_list("account_owner_id", flat=True)
        .first()
    )
    if e.to_level >= L.SUPERVISOR and not (
        is_supervisor_for(user, e.client_id) or owner_id == user.pk
    ):
        raise TicketPermissionDenied("Only a supervisor of this client acknowledges this.")
    now = timezone.now()
    if e.acknowledged_at is None:
        e.acknowledged_by, e.acknowledged_at = user, now
        e.save(update_fields=["acknowledged_by", "acknowledged_at"])
    Ticket.objects.filter(pk=e.ticket_id).update(assignee=user, updated_at=now)
    InboxEntry.objects.filter(escalation=e, done_at__isnull=True).update(done_at=now)
    return e


def inbox_count(user) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return InboxEntry.objects.filter(user=user, done_at__isnull=True).count()
