"""Queueing notifications: render each from its template with plain values and store it once
(unique order × event × announces), respecting opt-out and quiet hours; enqueue one send task
each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from core.tasks import enqueue_many
from orders import services as order_services
from orders.models import OrderEvent
from support.models import (
    TRANSACTIONAL_EVENTS,
    URGENT_EVENTS,
    Event,
    Notification,
)
from support.rendering import freeze, render
from support.selectors import (
    CHUNK,
    client_zones,
    order_facts,
)
from support.services.links import tracking_links_ensure
from support.services.sending import SEND_TASK
from support.services.templates import TemplateBook, order_context

Q = Notification.Status


# -- queueing -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NotificationRequest:
    """Ask for one notification. ``announces`` identifies what exactly is announced (with
    order and event, the idempotency key); ``values`` adds event values to the context."""

    order_id: int
    event: str
    announces: str = ""
    values: tuple[tuple[str, object], ...] = ()

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.order_id, self.event, self.announces)


@dataclass
class QueueReport:
    queued: int = 0
    held: int = 0  # queued, waiting for the end of quiet hours
    suppressed: int = 0
    skipped: int = 0  # already notified, or rate-limited (a later scan tries again)
    notification_ids: list[int] = field(default_factory=list)


def _in_quiet_hours(policy, local: datetime) -> datetime | None:
    """The end of the quiet period ``local`` falls in (aware), or None."""
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start is None or end is None or start == end:
        return None
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    wake = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if wake <= local:
        wake += timedelta(days=1)
    return wake


def notifications_queue(
    *,
    requests: Iterable[NotificationRequest],
    now: datetime | None = None,
    client_names: dict[int, str] | None = None,
) -> QueueReport:
    """Render and store the requested notifications, then enqueue one send task each.

    Skips what was already notified (the unique key also stops a racing duplicate: inserts
    ignore conflicts) and delay notices within the client's interval. Suppresses — stores
    with status ``suppressed`` and a timeline row — mail to customers without an address or
    who opted out (transactional e-mails still go unless the client's policy says otherwise)
    and events whose template is switched off. Holds non-urgent mail in quiet hours (client's
    time zone) until they end. Locks nothing; a constant number of queries per 2,000 requests.
    Tasks are enqueued when the surrounding transaction commits.
    """
    now = now or timezone.now()
    wanted: dict[tuple[int, str, str], NotificationRequest] = {}
    for req in requests:
        wanted.setdefault(req.key, req)
    report = QueueReport()
    items = list(wanted.values())
    for start in range(0, len(items), CHUNK):
        _queue_chunk(items[start : start + CHUNK], now, report, client_names)
    if report.notification_ids:
        ids = list(report.notification_ids)
        transaction.on_commit(
            partial(enqueue_many, SEND_TASK, [(i,) for i in ids], group="notifications")
        )
    return report


def _queue_chunk(items, now, report: QueueReport, client_names) -> None:
    order_ids = sorted({r.order_id for r in items})
    existing = set(
        Notification.objects.filter(order_id__in=order_ids).values_list(
            "order_id", "event", "announces"
        )
    )
    fresh = [r for r in items if r.key not in existing]
    report.skipped += len(items) - len(fresh)
    items = fresh
    if not items:
        return
    tracking_links_ensure(order_ids=[r.order_id for r in items])
    facts = order_facts(r.order_id for r in items)
    client_ids = {f.client_id for f in facts.values()}
    book = TemplateBook(client_ids)
    zones = client_zones(client_ids)
    names = client_names or {}
    if not names or not client_ids <= set(names):
        from clients.models import Client

        names = dict(Client.objects.filter(pk__in=client_ids).values_list("pk", "name"))
    recent_delay = set()
    delay_orders = [r.order_id for r in items if r.event == Event.DELAY]
    if delay_orders:
        longest = max(p.delay_notice_interval_hours for p in book.policies.values())
        for order_id, client_id, created in Notification.objects.filter(
            order_id__in=delay_orders,
            event=Event.DELAY,
            created_at__gte=now - timedelta(hours=longest),
        ).values_list("order_id", "client_id", "created_at"):
            hours = book.policies[client_id].delay_notice_interval_hours
            if created >= now - timedelta(hours=hours):
                recent_delay.add(order_id)

    rows: list[tuple] = []
    timeline: list[tuple[int, str]] = []
    created = connection.ops.adapt_datetimefield_value(now)
    for req in items:
        fact = facts.get(req.order_id)
        if fact is None:
            report.skipped += 1
            continue
        if req.event == Event.DELAY:
            if req.order_id in recent_delay:
                report.skipped += 1
                continue
            recent_delay.add(req.order_id)
        policy = book.policies[fact.client_id]
        tz = zones[fact.client_id]
        compiled = book.get(fact.client_id, req.event)
        context = order_context(fact, tz, dict(req.values))
        context["client_name"] = names.get(fact.client_id, "")
        frozen = freeze(context)
        suppressed = ""
        if not compiled.active:
            suppressed = "the client switched this e-mail off"
        elif not fact.email:
            suppressed = "the customer has no e-mail address"
        elif fact.opted_out and (
            req.event not in TRANSACTIONAL_EVENTS or policy.opt_out_covers_transactional
        ):
            suppressed = "the customer opted out of these e-mails"
        subject = body_text = body_html = ""
        try:
            subject = " ".join(render(compiled.subject, frozen).split())[:255]
            body_text = render(compiled.body_text, frozen)
            body_html = render(compiled.body_html, frozen) if compiled.body_html else ""
        except Exception as exc:  # a template that compiles can still fail on odd values
            suppressed = suppressed or f"the template could not be rendered ({exc})"
        status, last_error, send_after = Q.QUEUED, "", None
        if suppressed:
            status, last_error = Q.SUPPRESSED, f"Not sent: {suppressed}."
            timeline.append((req.order_id, f"E-mail '{Event(req.event).label}' {last_error}"))
        elif req.event not in URGENT_EVENTS:
            wake = _in_quiet_hours(policy, now.astimezone(tz))
            if wake is not None:
                send_after = connection.ops.adapt_datetimefield_value(wake)
        rows.append(
            (
                fact.client_id,
                req.order_id,
                req.event,
                req.announces,
                fact.email,
                compiled.language,
                subject,
                body_text,
                body_html,
                status,
                0,
                last_error,
                created,
                send_after,
            )
        )
    if not rows:
        return
    for pk, status, send_after in _insert_notifications(rows):
        if status == Q.SUPPRESSED:
            report.suppressed += 1
            continue
        report.queued += 1
        if send_after is None:
            report.notification_ids.append(pk)
        else:
            report.held += 1
    if timeline:
        order_services.order_events_record(entries=timeline, kind=OrderEvent.Kind.NOTIFICATION)


_INSERT_COLUMNS = (
    "client_id",
    "order_id",
    "event",
    "announces",
    "recipient",
    "language",
    "subject",
    "body_text",
    "body_html",
    "status",
    "attempts",
    "last_error",
    "created_at",
    "send_after",
)
_INSERT_BATCH = 500  # 14 parameters a row: well inside SQLite's and PostgreSQL's limits


def _insert_notifications(rows: list[tuple]) -> list[tuple[int, str, object]]:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING``: the rows that were new, as
    ``(id, status, send_after)``. A row whose key (order, event, announces) exists — a
    duplicate, or a racing worker's — is skipped by the database itself. (Plain tuples: model
    instances and ``bulk_create``'s compiler cost a third of queueing a notification, and it
    cannot say which rows were inserted.)"""
    qn = connection.ops.quote_name
    table = qn(Notification._meta.db_table)
    columns = ", ".join(qn(c) for c in _INSERT_COLUMNS)
    one = "(" + ", ".join(["%s"] * len(_INSERT_COLUMNS)) + ")"
    inserted = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_BATCH):
            batch = rows[start : start + _INSERT_BATCH]
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES {', '.join([one] * len(batch))} "
                "ON CONFLICT DO NOTHING RETURNING id, status, send_after",
                [value for row in batch for value in row],
            )
            inserted.extend(cursor.fetchall())
    return inserted
