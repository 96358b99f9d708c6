"""Customer communication: every write (queue, send, cancel by link, contact message,
templates, link revocation) goes through here.

Flow: a signal from a lower app (status changed, shipment created, carrier event) or the
periodic delay scan asks :func:`notifications_queue` for notifications → each is rendered
from the client's template (sandboxed) and stored once (unique order × event × announces) →
one django-q2 task per notification runs :func:`notification_send`, which sends it at most
once through Django's e-mail backend.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, models, transaction
from django.utils import timezone

from core.db import atomic_with_retry
from core.tasks import enqueue_many
from orders import services as order_services
from orders.models import Order, OrderEvent
from support import links
from support.defaults import DEFAULT_LANGUAGE, DEFAULTS
from support.exceptions import SupportError, TemplateInvalid
from support.models import (
    TRANSACTIONAL_EVENTS,
    URGENT_EVENTS,
    Event,
    Notification,
    NotificationTemplate,
    TrackingLink,
)
from support.rendering import TemplateRefused, compile_template, freeze, render
from support.selectors import (
    CHUNK,
    DelayFinding,
    OrderFacts,
    client_zones,
    delay_scan,
    first_name,
    order_facts,
    policies_for,
)

log = logging.getLogger(__name__)

SEND_TASK = "support.tasks.send_notification"
MAX_ATTEMPTS = 5
Q = Notification.Status


# -- tracking links -----------------------------------------------------------------------------
def tracking_links_ensure(*, order_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """``{order_id: (public_id, version)}``, creating the missing links (one insert).

    Locks nothing: two callers racing for the same order both insert, the unique order key
    keeps one row, and both read it back.
    """
    ids = sorted(set(order_ids))
    found: dict[int, tuple[str, int]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (o, (p, v))
            for o, p, v in TrackingLink.objects.filter(order_id__in=chunk).values_list(
                "order_id", "public_id", "version"
            )
        )
        missing = [i for i in chunk if i not in found]
        if missing:
            clients = dict(Order.objects.filter(pk__in=missing).values_list("pk", "client_id"))
            TrackingLink.objects.bulk_create(
                [TrackingLink(order_id=i, client_id=clients[i]) for i in missing if i in clients],
                ignore_conflicts=True,
            )
            found.update(
                (o, (p, v))
                for o, p, v in TrackingLink.objects.filter(order_id__in=missing).values_list(
                    "order_id", "public_id", "version"
                )
            )
    return found


def tracking_token(*, order: Order) -> str:
    """A fresh signed token for the order's public pages (creates its link if needed)."""
    public_id, version = tracking_links_ensure(order_ids=[order.pk])[order.pk]
    return links.make_token(public_id, version)


@atomic_with_retry
def tracking_link_revoke(*, order: Order, user=None) -> TrackingLink:
    """Revoke every link sent so far for the order (the version goes up; new notifications
    carry a new link). Locks the order's link row. Writes a timeline row."""
    tracking_links_ensure(order_ids=[order.pk])
    link = TrackingLink.objects.select_for_update().get(order_id=order.pk)
    link.version += 1
    link.revoked_at = timezone.now()
    link.save(update_fields=["version", "revoked_at"])
    order_services.order_events_record(
        entries=[(order.pk, "Tracking links revoked: links sent so far no longer open.")],
        kind=OrderEvent.Kind.NOTIFICATION,
        user=user,
    )
    return link


# -- templates ------------------------------------------------------------------------------------
def template_check(*, subject: str, body_text: str, body_html: str) -> None:
    """Raise :class:`TemplateInvalid` (each part's line and error) unless all three compile."""
    errors = []
    for part, source, html in (
        ("Subject", subject, False),
        ("Plain-text body", body_text, False),
        ("HTML body", body_html, True),
    ):
        try:
            compile_template(source or "", html=html, part=part)
        except TemplateRefused as exc:
            errors.append(str(exc))
    if errors:
        raise TemplateInvalid(errors)


@atomic_with_retry
def template_save(*, template: NotificationTemplate, user=None) -> NotificationTemplate:
    """Check that the template compiles in the sandbox, then save it. Raises
    :class:`TemplateInvalid` with the line and the error (nothing saved)."""
    template_check(
        subject=template.subject, body_text=template.body_text, body_html=template.body_html
    )
    template.updated_by = user
    template.save()
    return template


@dataclass(frozen=True, slots=True)
class Compiled:
    language: str
    active: bool
    subject: object
    body_text: object
    body_html: object | None


class TemplateBook:
    """Compiled templates per (client, event), resolved with the language fallback: the
    requested language, then the client's default language, then the shipped default."""

    def __init__(self, client_ids: Iterable[int]) -> None:
        self.policies = policies_for(client_ids)
        self.rows: dict[tuple[int, str, str], NotificationTemplate] = {
            (t.client_id, t.event, t.language): t
            for t in NotificationTemplate.objects.filter(client_id__in=set(client_ids))
        }
        self.cache: dict[tuple[int, str, str], Compiled] = {}

    def get(self, client_id: int, event: str, language: str | None = None) -> Compiled:
        default_language = self.policies[client_id].default_language or DEFAULT_LANGUAGE
        language = language or default_language
        key = (client_id, event, language)
        if key not in self.cache:
            row = self.rows.get(key) or self.rows.get((client_id, event, default_language))
            self.cache[key] = compile_row(row, event)
        return self.cache[key]


def compile_row(row: NotificationTemplate | None, event: str) -> Compiled:
    source = row or DEFAULTS[event]
    return Compiled(
        language=row.language if row else DEFAULT_LANGUAGE,
        active=row.active if row else True,
        subject=compile_template(source.subject, html=False),
        body_text=compile_template(source.body_text, html=False),
        body_html=compile_template(source.body_html, html=True) if source.body_html else None,
    )


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


def order_context(facts: OrderFacts, tz, values: dict | None = None) -> dict:
    """The context a template sees: plain values only (frozen before rendering)."""
    token = links.make_token(facts.public_id, facts.link_version) if facts.public_id else ""
    context = {
        "customer_first_name": first_name(facts.customer_name),
        "order_number": facts.number,
        "status": facts.status_label,
        "placed_on": facts.placed_at.astimezone(tz).date(),
        "ship_by": facts.ship_by.astimezone(tz).date(),
        "lines": facts.lines,
        "tracking_url": links.tracking_url(token) if token else "",
        "cancel_url": links.cancel_url(token) if token else "",
    }
    if values:
        context.update(values)
    return context


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


# -- sending --------------------------------------------------------------------------------------
# Errors worth another try: the server is busy, unreachable or answered 4xx.
TRANSIENT_ERRORS = (
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    socket.timeout,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """4xx SMTP replies and connection trouble are transient; 5xx replies (unknown mailbox,
    refused sender, rejected content) are permanent."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= c < 500 for c in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, TRANSIENT_ERRORS)


def backoff(attempts: int) -> timedelta:
    """2, 4, 8, 16 … minutes after the n-th failed attempt."""
    return timedelta(minutes=2**attempts)


def _mask(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def _message(n: Notification, connection_=None) -> EmailMultiAlternatives:
    from support.selectors import policies_for

    policy = policies_for([n.client_id])[n.client_id]
    message = EmailMultiAlternatives(
        subject=n.subject,
        body=n.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[n.recipient],
        reply_to=[policy.reply_to] if policy.reply_to else None,
        headers={"X-BPO-Notification": str(n.pk), "Auto-Submitted": "auto-generated"},
        connection=connection_,
    )
    if n.body_html:
        message.attach_alternative(n.body_html, "text/html")
    return message


def notification_send(*, notification_id: int, now: datetime | None = None, connection_=None):
    """Send one queued notification, at most once.

    Locks the notification row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker
    with the same task finds nothing to do) and keeps it locked while the e-mail goes out, so
    only one worker can send it; a row that is no longer queued (sent, failed, suppressed) is
    left alone — a retried task or a duplicate is a no-op. A transient SMTP error puts it back
    in the queue with a back-off (``send_after``; the periodic flush re-enqueues it) until
    :data:`MAX_ATTEMPTS`; a permanent error fails it. Writes a timeline row on the outcome.
    Returns the notification, or None when there was nothing to send.
    """
    now = now or timezone.now()
    with transaction.atomic():
        qs = Notification.objects.filter(pk=notification_id, status=Q.QUEUED)
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        else:
            qs = qs.select_for_update()
        n = qs.first()
        if n is None or (n.send_after and n.send_after > now):
            return None
        n.attempts += 1
        label = Event(n.event).label
        try:
            _message(n, connection_).send(fail_silently=False)
        except Exception as exc:
            n.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if is_transient(exc) and n.attempts < MAX_ATTEMPTS:
                n.send_after = now + backoff(n.attempts)
                n.save(update_fields=["attempts", "last_error", "send_after"])
                log.warning("notification %s: transient error, retry later: %s", n.pk, exc)
                return n
            n.status = Q.FAILED
            n.save(update_fields=["attempts", "last_error", "status"])
            text = f"E-mail '{label}' to {_mask(n.recipient)} failed: {n.last_error}"
        else:
            n.status = Q.SENT
            n.sent_at = now
            n.send_after = None
            n.save(update_fields=["attempts", "status", "sent_at", "send_after"])
            text = f"E-mail '{label}' sent to {_mask(n.recipient)}: {n.subject}"
        if n.order_id is not None:  # a ticket reply without an order has no timeline
            order_services.order_events_record(
                entries=[(n.order_id, text)], kind=OrderEvent.Kind.NOTIFICATION
            )
        return n


# A queued notification without a wait whose task has not run after this long is assumed
# lost (a broker without receipts, a crashed worker) and enqueued again.
LOST_AFTER = timedelta(minutes=30)


def notifications_flush(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Enqueue the queued notifications whose wait (quiet hours, retry back-off) is over —
    clearing the wait, so the next flush leaves them to their task — and those whose task
    seems lost. Returns how many were enqueued. Sending stays idempotent: a notification
    enqueued twice is still sent once."""
    now = now or timezone.now()
    due = list(
        Notification.objects.filter(status=Q.QUEUED)
        .filter(
            models.Q(send_after__lte=now)
            | models.Q(send_after__isnull=True, created_at__lt=now - LOST_AFTER)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if due:
        with transaction.atomic():
            Notification.objects.filter(pk__in=due, send_after__lte=now).update(send_after=None)
            transaction.on_commit(
                partial(enqueue_many, SEND_TASK, [(i,) for i in due], group="notifications")
            )
    return len(due)


@atomic_with_retry
def notification_retry(*, notification: Notification, user=None) -> Notification:
    """Put a failed notification back in the queue (a supervisor fixed the address or the
    mail server); it is sent by the next task. Locks the row."""
    n = Notification.objects.select_for_update().get(pk=notification.pk)
    if n.status != Q.FAILED:
        raise SupportError(f"Only failed notifications can be retried (this one is {n.status}).")
    n.status = Q.QUEUED
    n.send_after = None
    n.attempts = 0
    n.save(update_fields=["status", "send_after", "attempts"])
    transaction.on_commit(partial(enqueue_many, SEND_TASK, [(n.pk,)], group="notifications"))
    return n


def template_test_send(
    *,
    client_id: int,
    order: Order,
    subject: str,
    body_text: str,
    body_html: str,
    to: str,
    event: str = Event.CONFIRMED,
) -> None:
    """Render a (possibly unsaved) template against ``order`` and send it to ``to`` (the
    supervisor), now, through the configured backend. Writes nothing. Raises
    :class:`TemplateInvalid` or :class:`SupportError`."""
    if not to:
        raise SupportError("Your user has no e-mail address: add one to receive test e-mails.")
    rendered = template_preview(
        order=order, event=event, subject=subject, body_text=body_text, body_html=body_html
    )
    message = EmailMultiAlternatives(
        subject=f"[TEST] {rendered['subject']}",
        body=rendered["body_text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    if rendered["body_html"]:
        message.attach_alternative(rendered["body_html"], "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        raise SupportError(f"The test e-mail could not be sent: {exc}") from None


def sample_values(event: str, order: Order, tz) -> dict:
    """Event values for a preview: the order's real shipment if it has one, else examples."""
    values: dict = {}
    today = timezone.now().astimezone(tz).date()
    if event in (Event.SHIPPED, Event.OUT_FOR_DELIVERY, Event.EXCEPTION):
        values.update(shipment_values(order.shipments.order_by("-pk").first()))
        values.setdefault("carrier", "Example Carrier")
        values.setdefault("tracking_number", "1Z999AA10123456784")
        values.setdefault(
            "carrier_tracking_url", "https://carrier.example/track/1Z999AA10123456784"
        )
        values.setdefault("eta", today + timedelta(days=2))
        values["exception_reason"] = "address not found"
    if event in (Event.DELAY, Event.BACKORDERED):
        values.update(
            revised_date=today + timedelta(days=7),
            revised_kind="ship",
            delay_reason="An item you ordered is out of stock.",
            expected_date=today + timedelta(days=6),
        )
    return values


def template_preview(
    *, order: Order, event: str, subject: str, body_text: str, body_html: str
) -> dict:
    """Render an unsaved template against a real order (plain values, sandboxed). Raises
    :class:`TemplateInvalid` with each part's line and error. Writes nothing but, for an
    order that has none yet, its tracking link."""
    template_check(subject=subject, body_text=body_text, body_html=body_html)
    tracking_links_ensure(order_ids=[order.pk])
    fact = order_facts([order.pk])[order.pk]
    tz = client_zones([order.client_id])[order.client_id]
    context = order_context(fact, tz, sample_values(event, order, tz))
    context["client_name"] = order.client.name
    frozen = freeze(context)
    return {
        "subject": " ".join(render(compile_template(subject, html=False), frozen).split()),
        "body_text": render(compile_template(body_text, html=False), frozen),
        "body_html": render(compile_template(body_html, html=True), frozen) if body_html else "",
    }


def shipment_values(shipment) -> dict:
    if shipment is None:
        return {}
    return {
        "carrier": shipment.carrier.name,
        "tracking_number": shipment.tracking_number,
        "carrier_tracking_url": shipment.tracking_url,
        "eta": shipment.eta,
    }


# -- what happened → what to send ------------------------------------------------------------
def delay_notices_queue(
    *, now: datetime | None = None, order_ids: Iterable[int] | None = None
) -> QueueReport:
    """Run the delay scan (all open orders, or ``order_ids``) and queue a delay notice with
    the revised date and the cancel link for each order found — once per revised date, at
    most one per order per the client's interval."""
    findings = delay_scan(now=now, order_ids=order_ids)
    return notifications_queue(requests=[delay_request(f) for f in findings], now=now)


def delay_request(f: DelayFinding) -> NotificationRequest:
    return NotificationRequest(
        order_id=f.order_id,
        event=Event.DELAY,
        announces=f.announces,
        values=(
            ("revised_date", f.revised_date),
            ("revised_kind", f.revised_kind),
            ("delay_reason", f.reason),
        ),
    )


def status_changes_handle(*, changes: list[tuple[int, str, str]]) -> QueueReport:
    """Turn order status moves into notifications: confirmed (first allocation), delay notice
    or backordered, delivered, cancelled. (Shipped comes from the shipment, with its carrier.)"""
    S = Order.Status
    requests: list[NotificationRequest] = []
    backordered: list[int] = []
    for order_id, from_status, to_status in changes:
        if from_status == S.NEW and to_status in (S.READY, S.BACKORDERED):
            requests.append(NotificationRequest(order_id, Event.CONFIRMED))
        if to_status == S.BACKORDERED:
            backordered.append(order_id)
        elif to_status == S.DELIVERED:
            requests.append(NotificationRequest(order_id, Event.DELIVERED))
        elif to_status == S.CANCELLED:
            requests.append(NotificationRequest(order_id, Event.CANCELLED))
    if backordered:
        # A backorder that makes the order late gets the delay notice (revised date, cancel
        # link) instead of the plain backorder notice: one e-mail, not two.
        late = delay_scan(order_ids=backordered)
        requests.extend(delay_request(f) for f in late)
        late_ids = {f.order_id for f in late}
        requests.extend(
            NotificationRequest(i, Event.BACKORDERED) for i in backordered if i not in late_ids
        )
    return notifications_queue(requests=requests)


def shipment_created_handle(*, shipment_id: int) -> QueueReport:
    """The shipped e-mail (carrier, tracking number and link, ETA), once per shipment; and a
    delay notice if the carrier's ETA is after the promised delivery."""
    from fulfillment.models import Shipment

    shipment = Shipment.objects.select_related("carrier").filter(pk=shipment_id).first()
    if shipment is None:
        return QueueReport()
    values = shipment_values(shipment)
    report = notifications_queue(
        requests=[
            NotificationRequest(
                shipment.order_id,
                Event.SHIPPED,
                f"shipment:{shipment.pk}",
                tuple(values.items()),
            )
        ]
    )
    late = delay_notices_queue(order_ids=[shipment.order_id])
    report.queued += late.queued
    return report


def tracking_events_handle(*, events: list[tuple[int, int, int, str]]) -> QueueReport:
    """Out for delivery and delivery exceptions (once per shipment and event)."""
    from fulfillment.models import PROBLEM_STATUSES, Shipment, TrackingEvent, TrackingStatus

    relevant = [
        e for e in events if e[3] == TrackingStatus.OUT_FOR_DELIVERY or e[3] in PROBLEM_STATUSES
    ]
    if not relevant:
        return QueueReport()
    shipments = Shipment.objects.select_related("carrier").in_bulk({e[1] for e in relevant})
    descriptions = dict(
        TrackingEvent.objects.filter(pk__in=[e[0] for e in relevant]).values_list(
            "pk", "description"
        )
    )
    requests = []
    for event_id, shipment_id, order_id, status in relevant:
        values = shipment_values(shipments.get(shipment_id))
        if status == TrackingStatus.OUT_FOR_DELIVERY:
            requests.append(
                NotificationRequest(
                    order_id,
                    Event.OUT_FOR_DELIVERY,
                    f"shipment:{shipment_id}",
                    tuple(values.items()),
                )
            )
        else:
            reason = descriptions.get(event_id) or TrackingStatus(status).label.lower()
            values["exception_reason"] = reason
            requests.append(
                NotificationRequest(
                    order_id, Event.EXCEPTION, f"event:{event_id}", tuple(values.items())
                )
            )
    report = notifications_queue(requests=requests)
    # A carrier problem may come with a later ETA: look at these orders now, not in an hour.
    report.queued += delay_notices_queue(order_ids={e[2] for e in relevant}).queued
    return report


def delay_notices_for_products(*, product_ids: Iterable[int]) -> QueueReport:
    """Expected supply of these products moved: re-check the orders waiting for them."""
    from orders.models import OrderLine

    order_ids = set(
        OrderLine.objects.filter(
            product_id__in=list(product_ids),
            qty_backordered__gt=0,
            order__status=Order.Status.BACKORDERED,
        ).values_list("order_id", flat=True)
    )
    return delay_notices_queue(order_ids=order_ids) if order_ids else QueueReport()


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
