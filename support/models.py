"""Customer communication: notification templates and policy per client, the notifications
sent (or not) to customers, and the per-order tracking-link state.

Every client-owned row carries ``client`` directly (scoping is one indexed
``WHERE client_id IN (...)``).
"""

from __future__ import annotations

import secrets
from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from clients.models import Client
from orders.models import Order


class Event(models.TextChoices):
    """What a notification announces. ``announces`` (on the row) says which one of it."""

    CONFIRMED = "confirmed", "Order confirmed"
    BACKORDERED = "backordered", "Backordered"
    DELAY = "delay_notice", "Delay notice"
    SHIPPED = "shipped", "Shipped"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "delivery_exception", "Delivery exception"
    CANCELLED = "cancelled", "Cancelled"


# Transactional: about the contract itself (the FTC rule's delay notice, a cancellation …);
# they go even to customers who opted out, unless the client's policy says otherwise.
TRANSACTIONAL_EVENTS = frozenset(
    {Event.CONFIRMED, Event.BACKORDERED, Event.DELAY, Event.SHIPPED, Event.CANCELLED}
)
# Urgent: worth waking someone for (today's delivery, a parcel problem); the rest waits for the
# end of the client's quiet hours.
URGENT_EVENTS = frozenset({Event.OUT_FOR_DELIVERY, Event.EXCEPTION})


class NotificationPolicy(models.Model):
    """A client's rules for customer e-mails. A client without a row gets the defaults."""

    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, primary_key=True, related_name="notification_policy"
    )
    default_language = models.CharField(
        max_length=10,
        default="en",
        help_text="Language of templates used when none exists in the customer's language.",
    )
    opt_out_covers_transactional = models.BooleanField(
        default=False,
        help_text="If set, customers who opted out get no e-mail at all (not even a delay "
        "notice or a cancellation).",
    )
    delay_notice_interval_hours = models.PositiveIntegerField(
        default=24,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
        help_text="At most one delay notice per order in this many hours.",
    )
    quiet_hours_start = models.TimeField(default=time(21, 0), null=True, blank=True)
    quiet_hours_end = models.TimeField(
        default=time(8, 0),
        null=True,
        blank=True,
        help_text="Non-urgent e-mails queued in quiet hours (client's time zone) wait until "
        "this time. Leave both empty for no quiet hours.",
    )
    unknown_delay_days = models.PositiveSmallIntegerField(
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text="When the new ship date is unknown, announce the promise plus this many days "
        "(a new notice follows, once, for every further step).",
    )
    reply_to = models.EmailField(blank=True, help_text="Reply-To of customer e-mails.")

    class Meta:
        verbose_name_plural = "notification policies"

    def __str__(self) -> str:
        return f"Notification policy of {self.client.code}"


class NotificationTemplate(models.Model):
    """What a client's customers get for one event in one language (Django template syntax,
    rendered in a sandbox: see support/rendering.py). Without a row, the shipped default."""

    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="notification_templates", db_index=False
    )
    event = models.CharField(max_length=20, choices=Event.choices)
    language = models.CharField(max_length=10, default="en")
    active = models.BooleanField(
        default=True, help_text="Switched off: customers get no e-mail for this event."
    )
    subject = models.CharField(max_length=255)
    body_text = models.TextField("plain-text body")
    body_html = models.TextField("HTML body", blank=True, help_text="Empty: plain text only.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["client", "event", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "event", "language"], name="notificationtemplate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.client.code} {self.get_event_display()} [{self.language}]"


class Notification(models.Model):
    """One e-mail to a customer about one thing, exactly once.

    ``(order, event, announces)`` is unique: a retried task, a double signal or two workers
    can create the row once, and only the worker that holds its row lock while it is queued
    sends it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # waiting for a worker (or for quiet hours / a retry)
        SENT = "sent", "Sent"  # handed to the e-mail backend
        FAILED = "failed", "Failed"  # permanent error, or retries exhausted
        SUPPRESSED = "suppressed", "Suppressed"  # not sent on purpose (opt-out, no address)

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    event = models.CharField(max_length=20, choices=Event.choices)
    # What exactly is announced: a shipment id, a revised date ("ship:2026-12-08"), "" for
    # once-per-order events. Part of the idempotency key.
    announces = models.CharField(max_length=64, blank=True)
    recipient = models.EmailField(blank=True)
    language = models.CharField(max_length=10, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    send_after = models.DateTimeField(
        null=True, blank=True, help_text="Held until then (quiet hours, retry back-off)."
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "event", "announces"], name="notification_idempotency"
            )
        ]
        indexes = [
            models.Index(fields=["client", "status", "-id"], name="notification_client_idx"),
            models.Index(
                fields=["send_after"],
                name="notification_waiting_idx",
                condition=Q(status="queued"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} → {self.recipient or '(nobody)'} ({self.status})"


def new_public_id() -> str:
    return secrets.token_urlsafe(12)


class TrackingLink(models.Model):
    """The public face of an order: a random id (never the sequential pk) and the version that
    signed links must carry. Bumping the version revokes every link sent so far."""

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, primary_key=True, related_name="tracking_link"
    )
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    public_id = models.CharField(max_length=32, unique=True, default=new_public_id)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["client", "order"], name="trackinglink_client_idx")]

    def __str__(self) -> str:
        return f"Tracking link of order {self.order_id} (v{self.version})"
