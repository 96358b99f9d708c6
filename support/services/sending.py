"""Sending: one task per notification sends it at most once through Django's e-mail backend, with
back-off on transient failures; the flush re-enqueues held or lost ones.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, models, transaction
from django.utils import timezone

from core.db import atomic_with_retry
from core.tasks import enqueue_many
from orders import services as order_services
from orders.models import OrderEvent
from support.exceptions import SupportError
from support.models import (
    Event,
    Notification,
)
from support.selectors import (
    policies_for,
)

log = logging.getLogger(__name__)

SEND_TASK = "support.tasks.send_notification"
MAX_ATTEMPTS = 5
Q = Notification.Status


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
