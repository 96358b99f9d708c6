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
from django.utils import timezone

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
    TICKET_REPLY = "ticket_reply", "Ticket reply"


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
        Order,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
        db_index=False,
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
            ),
            # Ticket replies (``announces`` = "msg:<TicketMessage id>") may have no order.
            models.UniqueConstraint(
                fields=["client", "event", "announces"],
                condition=Q(order__isnull=True),
                name="notification_idempotency_no_order",
            ),
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


# ---------------------------------------------------------------------------------------------
# Support tickets (issue #16): tickets linked to orders, SLA clocks, escalation.
# ---------------------------------------------------------------------------------------------


class SupportSettings(models.Model):
    """A client's support desk: where its customers write, its calendar, escalation rules.
    A client without a row gets the defaults (Monday–Friday 09:00–17:00, client's zone)."""

    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, primary_key=True, related_name="support_settings"
    )
    inbound_address = models.EmailField(
        blank=True,
        help_text="E-mails to this address become tickets of this client (unique).",
    )
    account_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Escalation level 3: the admin user who owns the client's account.",
    )
    working_hours = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per weekday (0 = Monday): {"0": ["09:00", "17:00"], …, "5": null}. '
        "Empty: Monday–Friday 09:00–17:00.",
    )
    holidays = models.JSONField(default=list, blank=True, help_text="ISO dates: no working time.")
    at_risk_share = models.PositiveSmallIntegerField(
        default=80,
        validators=[MinValueValidator(10), MaxValueValidator(99)],
        help_text="An SLA target is at risk once this share (%) of it is used.",
    )
    late_complaint_days = models.PositiveSmallIntegerField(
        default=2, help_text="A complaint about an order late by more than this escalates."
    )
    repeat_contact_days = models.PositiveSmallIntegerField(
        default=7, help_text="A customer writing again within this many days escalates."
    )

    class Meta:
        verbose_name_plural = "support settings"
        constraints = [
            models.UniqueConstraint(
                fields=["inbound_address"],
                condition=~Q(inbound_address=""),
                name="supportsettings_inbound_unique",
            )
        ]

    def __str__(self) -> str:
        return f"Support settings of {self.client.code}"


class TicketPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class SLAPolicy(models.Model):
    """Targets for one client × ticket priority, in business hours of the client's calendar."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="sla_policies")
    priority = models.CharField(max_length=10, choices=TicketPriority.choices)
    first_response_hours = models.DecimalField(
        max_digits=6, decimal_places=2, validators=[MinValueValidator(0.1)]
    )
    resolution_hours = models.DecimalField(
        max_digits=7, decimal_places=2, validators=[MinValueValidator(0.1)]
    )

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(fields=["client", "priority"], name="slapolicy_unique")
        ]

    def __str__(self) -> str:
        targets = f"{self.first_response_hours} h / {self.resolution_hours} h"
        return f"{self.client.code} {self.priority}: {targets}"


# Tickets not resolved or closed (the scan's partial indexes; Ticket.Status needs the class).
ACTIVE = ["new", "open", "pending_customer", "pending_internal"]


class Ticket(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        PHONE = "phone", "Phone"
        WEB = "web", "Web form"
        TRACKING = "tracking", "Tracking page"

    class Category(models.TextChoices):
        WHERE = "where", "Where is my order"
        DELAY = "delay", "Delay complaint"
        DAMAGED = "damaged", "Damaged"
        WRONG_ITEM = "wrong_item", "Wrong item"
        CANCEL = "cancel", "Cancel request"
        ADDRESS = "address", "Address change"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        NEW = "new", "New"  # nobody has answered yet
        OPEN = "open", "Open"  # being worked
        PENDING_CUSTOMER = "pending_customer", "Pending customer"  # SLA clock paused
        PENDING_INTERNAL = "pending_internal", "Pending internal"  # waiting on a colleague
        RESOLVED = "resolved", "Resolved"  # answered; reopens on a customer reply
        CLOSED = "closed", "Closed"  # final

    class Agreement(models.TextChoices):
        FIRST_RESPONSE_DUE = "first_response_due", "First response due"
        RESOLUTION_DUE = "resolution_due", "Resolution due"
        PAUSED = "paused", "Paused"
        FULFILLED = "fulfilled", "Fulfilled"
        FAILED = "failed", "Failed"

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="tickets")
    customer = models.ForeignKey(
        "orders.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    order = models.ForeignKey(
        Order,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
        db_index=False,
    )
    requester_email = models.EmailField(blank=True)
    requester_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=255)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.OTHER)
    priority = models.CharField(
        max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="support_tickets",
    )
    queue = models.CharField(max_length=50, blank=True, default="general")
    complaint_counted = models.BooleanField(
        default=False, help_text="Counted in the order's open complaints (priority factor)."
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    arrival_checked = models.BooleanField(
        default=False, help_text="The scan has evaluated the arrival triggers (VIP, repeat)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # SLA, stored so the queue sorts and the scan filters on indexed columns
    first_response_due = models.DateTimeField(null=True, blank=True)
    first_response_risk_at = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    resolution_risk_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    first_response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    on_hold_seconds = models.PositiveIntegerField(default=0, help_text="Business seconds paused.")
    agreement_status = models.CharField(
        max_length=20, choices=Agreement.choices, default=Agreement.FIRST_RESPONSE_DUE
    )
    # Zendesk's measures (calendar seconds)
    first_reply_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_reply_seconds = models.PositiveIntegerField(null=True, blank=True)
    awaiting_reply_since = models.DateTimeField(null=True, blank=True)
    requester_wait_seconds = models.PositiveIntegerField(default=0)
    agent_work_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The agent's queues, due soonest first (the changelist appends id).
            models.Index(fields=["client", "resolution_due", "id"], name="ticket_all_idx"),
            models.Index(
                fields=["client", "resolution_due", "id"],
                name="ticket_queue_idx",
                condition=Q(status__in=["new", "open", "pending_customer", "pending_internal"]),
            ),
            models.Index(
                fields=["client", "resolution_due", "id"],
                name="ticket_unassigned_idx",
                condition=Q(
                    assignee__isnull=True,
                    status__in=["new", "open", "pending_customer", "pending_internal"],
                ),
            ),
            models.Index(
                fields=["client", "resolution_due", "id"],
                name="ticket_breached_idx",
                condition=Q(status__in=["new", "open", "pending_customer", "pending_internal"])
                & (Q(first_response_breached=True) | Q(resolution_breached=True)),
            ),
            models.Index(
                fields=["client", "resolution_due", "id"],
                name="ticket_escalated_idx",
                condition=Q(
                    status__in=["new", "open", "pending_customer", "pending_internal"],
                    escalation_level__gt=0,
                ),
            ),
            models.Index(
                fields=["assignee", "resolution_due", "id"],
                name="ticket_mine_idx",
                condition=Q(status__in=["new", "open", "pending_customer", "pending_internal"]),
            ),
            models.Index(fields=["order"], name="ticket_order_idx"),
            models.Index(fields=["customer", "created_at"], name="ticket_customer_idx"),
            models.Index(fields=["requester_email"], name="ticket_email_idx"),
            # The SLA/escalation scan: each of its queries reads one of these (active
            # tickets near a threshold), whatever the size of the backlog.
            models.Index(
                fields=["first_response_due"],
                name="ticket_fr_due_scan_idx",
                condition=Q(status__in=ACTIVE, first_responded_at__isnull=True)
                & Q(first_response_breached=False),
            ),
            models.Index(
                fields=["first_response_risk_at"],
                name="ticket_fr_risk_scan_idx",
                condition=Q(status__in=ACTIVE, first_responded_at__isnull=True)
                & Q(first_response_breached=False),
            ),
            models.Index(
                fields=["resolution_due"],
                name="ticket_res_due_scan_idx",
                condition=Q(status__in=ACTIVE, resolution_breached=False),
            ),
            models.Index(
                fields=["resolution_risk_at"],
                name="ticket_res_risk_scan_idx",
                condition=Q(status__in=ACTIVE, resolution_breached=False),
            ),
            models.Index(
                fields=["id"],
                name="ticket_fr_breached_scan_idx",
                condition=Q(status__in=ACTIVE, first_response_breached=True),
            ),
            models.Index(
                fields=["id"],
                name="ticket_res_breached_scan_idx",
                condition=Q(status__in=ACTIVE, resolution_breached=True),
            ),
            models.Index(
                fields=["id"],
                name="ticket_arrived_scan_idx",
                condition=Q(arrival_checked=False),
            ),
            models.Index(
                fields=["order"],
                name="ticket_complaint_scan_idx",
                condition=Q(status__in=ACTIVE, complaint_counted=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ref} {self.subject}"

    @property
    def ref(self) -> str:
        return f"T-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status not in (self.Status.RESOLVED, self.Status.CLOSED)


ATTACHMENT_MAX_BYTES = 5 * 1024 * 1024
ATTACHMENT_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain", "text/csv"}
)


class TicketMessage(models.Model):
    class Kind(models.TextChoices):
        INBOUND = "inbound", "From the customer"
        OUTBOUND = "outbound", "Reply to the customer"
        NOTE = "note", "Internal note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_email = models.EmailField(blank=True)
    body = models.TextField()
    message_id = models.CharField(max_length=255, blank=True, help_text="E-mail Message-ID.")
    channel = models.CharField(max_length=10, choices=Ticket.Channel.choices, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="ticketmessage_ticket_idx"),
            models.Index(
                fields=["client", "message_id"],
                name="ticketmessage_msgid_idx",
                condition=~Q(message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on T-{self.ticket_id}"


class TicketAttachment(models.Model):
    message = models.ForeignKey(TicketMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    content = models.BinaryField()

    def __str__(self) -> str:
        return self.filename


class Macro(models.Model):
    """A canned reply, rendered by the sandboxed renderer with the linked order's facts
    (``order_number``, ``order_status``, ``expected_date``, ``tracking_url``, ``customer_name``)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="macros")
    name = models.CharField(max_length=100)
    body = models.TextField()
    set_status = models.CharField(
        max_length=20, choices=Ticket.Status.choices, blank=True, help_text="Then move to this."
    )

    class Meta:
        ordering = ["client", "name"]
        constraints = [models.UniqueConstraint(fields=["client", "name"], name="macro_unique")]

    def __str__(self) -> str:
        return self.name


class Escalation(models.Model):
    class Trigger(models.TextChoices):
        FIRST_RESPONSE_AT_RISK = "fr_at_risk", "First response at risk"
        RESOLUTION_AT_RISK = "res_at_risk", "Resolution at risk"
        FIRST_RESPONSE_BREACHED = "fr_breached", "First response breached"
        RESOLUTION_BREACHED = "res_breached", "Resolution breached"
        LATE_ORDER_COMPLAINT = "late_complaint", "Complaint about a late order"
        VIP = "vip", "VIP customer"
        REPEAT_CONTACT = "repeat_contact", "Repeat contact"

    class Level(models.IntegerChoices):
        AGENT = 1, "Agent"
        SUPERVISOR = 2, "Supervisor"
        ACCOUNT_OWNER = 3, "Account owner"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="escalations")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    from_level = models.PositiveSmallIntegerField()
    to_level = models.PositiveSmallIntegerField(choices=Level.choices)
    why = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="De-escalated.")
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "trigger", "to_level"], name="escalation_once"
            )
        ]
        indexes = [
            models.Index(fields=["client", "closed_at", "-id"], name="escalation_open_idx"),
            models.Index(fields=["created_at"], name="escalation_run_idx"),
        ]

    def __str__(self) -> str:
        return f"T-{self.ticket_id} → level {self.to_level}: {self.get_trigger_display()}"


class InboxEntry(models.Model):
    """An escalation in one person's in-app inbox (the count shows in the admin header)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="inbox")
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "inbox entries"
        constraints = [
            models.UniqueConstraint(fields=["user", "escalation"], name="inboxentry_once")
        ]
        indexes = [
            models.Index(
                fields=["user"], name="inboxentry_open_idx", condition=Q(done_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ← {self.escalation}"
