from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clients.models import Client
from inventory.models import Product, StockLevel


class Customer(models.Model):
    class Tier(models.TextChoices):
        STANDARD = "standard", "Standard"
        SILVER = "silver", "Silver"
        GOLD = "gold", "Gold"
        VIP = "vip", "VIP"

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="customers")
    external_id = models.CharField(max_length=100, blank=True)
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=50, blank=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD)
    notifications_opt_out = models.BooleanField(
        "opted out of e-mails",
        default=False,
        help_text="The customer asked for no status e-mails. Transactional ones (confirmation, "
        "delay notice, cancellation, shipped) still go unless the client's policy says otherwise.",
    )
    # Credit: released orders not paid yet may not exceed this (None: no limit); terms override
    # the client's net days for this customer's invoices.
    credit_limit = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms override (net days)", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "external_id"],
                condition=~Q(external_id=""),
                name="customer_unique_client_external_id",
            ),
        ]
        indexes = [models.Index(fields=["client", "email"], name="customer_email_idx")]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.email else self.name


# Open orders that have not left the building (on-hold ones are parked by an agent): what a
# customer may be told is late. The condition of order_unshipped_due_idx.
UNSHIPPED_STATUSES = ("new", "backordered", "ready", "picking", "packed")

# Orders still in the backlog, as a condition for partial indexes: the complement of
# CLOSED_STATUSES below (which needs Order.Status, so cannot be used in Order.Meta).
OPEN_ORDERS = ~Q(status__in=["cancelled", "delivered", "shipped"])


class Order(models.Model):
    class Status(models.TextChoices):
        NEW = "new", "New"  # received, not yet allocated
        BACKORDERED = "backordered", "Backordered"  # some quantity waits for stock
        READY = "ready", "Ready to pick"  # fully allocated, waiting to be picked
        PICKING = "picking", "Picking"  # in a pick wave on the warehouse floor
        PACKED = "packed", "Packed"  # packed, waiting for the carrier
        SHIPPED = "shipped", "Shipped"  # everything open has left the building
        DELIVERED = "delivered", "Delivered"  # the carrier confirmed delivery
        ON_HOLD = "on_hold", "On hold"  # parked by an agent; remembers where it came from
        CANCELLED = "cancelled", "Cancelled"  # nothing more will ship

    class Segment(models.TextChoices):
        URGENT = "urgent", "Urgent"  # overdue, expedited or due within hours
        AT_RISK = "at_risk", "At risk"  # due within the client's at-risk window
        STANDARD = "standard", "Standard"  # on track
        BACKORDERED = "backordered", "Backordered"  # waiting for stock
        ON_HOLD = "on_hold", "On hold"  # parked
        CLOSED = "closed", "Closed"  # shipped, delivered or cancelled: out of the backlog

    class ServiceLevel(models.TextChoices):
        STANDARD = "standard", "Standard"
        EXPEDITED = "expedited", "Expedited"
        OVERNIGHT = "overnight", "Overnight"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        AUTHORIZED = "authorized", "Authorized"
        PAID = "paid", "Paid"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
        REFUNDED = "refunded", "Refunded"
        VOIDED = "voided", "Voided"
        EXPIRED = "expired", "Expired"

    class HoldType(models.TextChoices):
        # Why an order is parked: queues, reports and customer notices read the type; the
        # free text (hold_reason) is the detail (required for "other").
        PAYMENT = "payment", "Payment"
        CREDIT = "credit", "Credit limit"
        ADDRESS_CHECK = "address_check", "Address to check"
        CUSTOMER_REQUEST = "customer_request", "Customer request"
        FRAUD_CHECK = "fraud_check", "Fraud check"
        AWAITING_STOCK_DECISION = "awaiting_stock_decision", "Awaiting stock decision"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        MANUAL = "manual", "Keyed in"
        CSV = "csv", "CSV import"
        SHOPIFY = "shopify", "Shopify export"
        API = "api", "API"

    # No index of its own: every query by client is served by (client, number) or a queue index.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="orders", db_index=False
    )
    number = models.CharField("order number", max_length=64)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", null=True, blank=True
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    placed_at = models.DateTimeField()
    service_level = models.CharField(
        max_length=10, choices=ServiceLevel.choices, default=ServiceLevel.STANDARD
    )
    ship_by = models.DateTimeField(help_text="Promised ship date.")
    payment_status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PAID
    )

    ship_to_name = models.CharField(max_length=200, blank=True)
    ship_to_address1 = models.CharField(max_length=255, blank=True)
    ship_to_address2 = models.CharField(max_length=255, blank=True)
    ship_to_city = models.CharField(max_length=100, blank=True)
    ship_to_postcode = models.CharField(max_length=20, blank=True)
    ship_to_region = models.CharField(max_length=100, blank=True)
    ship_to_country = models.CharField(max_length=2, blank=True)
    ship_to_phone = models.CharField(max_length=50, blank=True)
    # What the shop's customer wrote for the delivery (Shopify "Notes", the native
    # delivery_notes column, the order entry form): shown on the order page.
    delivery_notes = models.TextField("delivery instructions", blank=True)

    currency = models.CharField(max_length=3)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_orders",
        db_index=False,  # (assigned_to, status) serves it
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.NEW)
    segment = models.CharField(max_length=12, choices=Segment.choices, default=Segment.STANDARD)
    priority_score = models.IntegerField(default=0)
    priority_breakdown = models.JSONField(default=list, blank=True)
    priority_computed_at = models.DateTimeField(null=True, blank=True)
    expedite = models.BooleanField(default=False)
    open_complaints = models.PositiveSmallIntegerField(
        default=0,
        help_text="Open customer complaints (support tickets) about this order: a priority factor.",
    )
    hold_type = models.CharField("hold reason", max_length=24, choices=HoldType.choices, blank=True)
    hold_reason = models.CharField("hold detail", max_length=255, blank=True)
    hold_from_status = models.CharField(max_length=12, choices=Status.choices, blank=True)
    held_at = models.DateTimeField(null=True, blank=True)
    # Derived from the payments (billing), written only by orders.services.payments.
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount_authorised = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    # A supervisor released it despite payment/credit (the reason is on the timeline).
    release_override = models.BooleanField(default=False)
    delay_reason = models.CharField(max_length=255, blank=True)
    # Set by a carrier exception or return (fulfillment), cleared on delivery or by an agent;
    # the "Carrier exceptions" queue lists these orders, delay_reason says what happened.
    exception_flag = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority_score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["client", "number"], name="order_unique_client_number"),
            models.CheckConstraint(
                condition=~Q(status="on_hold") | ~Q(hold_from_status=""),
                name="order_hold_remembers_status",
            ),
        ]
        indexes = [
            models.Index(fields=["-priority_score", "id"], name="order_queue_idx"),
            # The agent's work queues: every query is scoped "client_id IN (…)" and most keep
            # only open orders; these partial indexes give each queue its rows in queue order,
            # so the page and its bounded count read only what they show (docs/benchmarks.md).
            models.Index(
                fields=["client", "-priority_score", "id"],
                name="order_open_queue_idx",
                condition=OPEN_ORDERS,
            ),
            models.Index(
                fields=["assigned_to", "client", "-priority_score", "id"],
                name="order_open_assignee_idx",
                condition=OPEN_ORDERS,
            ),
            models.Index(
                fields=["client", "segment", "-priority_score", "id"],
                name="order_open_segment_idx",
                condition=OPEN_ORDERS,
            ),
            models.Index(
                fields=["client", "-priority_score", "id"],
                name="order_open_expedite_idx",
                condition=OPEN_ORDERS & Q(expedite=True),
            ),
            models.Index(
                fields=["client", "ship_by"], name="order_open_due_idx", condition=OPEN_ORDERS
            ),
            models.Index(fields=["client", "status"], name="order_client_status_idx"),
            models.Index(
                fields=["client", "id"],
                name="order_exception_idx",
                condition=Q(exception_flag=True),
            ),
            models.Index(fields=["ship_by", "id"], name="order_ship_by_idx"),
            # The delay scan (support: customer delay notices) reads every unshipped order's
            # promise: an index-only scan of this instead of the whole table (docs/benchmarks.md).
            models.Index(
                fields=["ship_by"],
                include=["id", "client", "status"],
                name="order_unshipped_due_idx",
                condition=Q(status__in=UNSHIPPED_STATUSES),
            ),
            models.Index(fields=["assigned_to", "status"], name="order_assignee_idx"),
            # Allocation looks for less urgent orders still holding stock, to pre-empt: small,
            # and the lookup costs what it finds instead of a scan of the whole backlog.
            models.Index(
                fields=["priority_score"],
                name="order_preemptable_idx",
                condition=Q(status__in=["ready", "backordered"]),
            ),
        ]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("import_orders", "Can import orders from files"),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES


CLOSED_STATUSES = frozenset({Order.Status.SHIPPED, Order.Status.DELIVERED, Order.Status.CANCELLED})
OPEN_STATUSES = frozenset(set(Order.Status.values) - CLOSED_STATUSES)


class OrderLine(models.Model):
    """One product on an order. Once allocated: allocated + backordered = open quantity."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField(default=1)
    product = models.ForeignKey(
        Product,
        on_delete=models.PROTECT,
        related_name="order_lines",
        db_index=False,  # line_product_order_idx (product, order) serves it
    )
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    qty_allocated = models.PositiveIntegerField(default=0)
    qty_backordered = models.PositiveIntegerField(default=0)
    qty_shipped = models.PositiveIntegerField(default=0)
    qty_cancelled = models.PositiveIntegerField(default=0)
    # Where the uncovered demand is counted (StockLevel.backordered) until stock arrives.
    backorder_level = models.ForeignKey(
        StockLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the backordered units are expected, from the open purchase orders that will cover
    # them in priority order (orders.services.expected: backorders_expected_refresh), and from
    # where: "PO-0042", or "no purchase order covers 12 units". Empty when nothing is waiting.
    expected_available_on = models.DateField(null=True, blank=True)
    expected_source = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["order", "line_no"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(
                    quantity__gte=models.F("qty_allocated")
                    + models.F("qty_backordered")
                    + models.F("qty_shipped")
                    + models.F("qty_cancelled")
                ),
                name="line_quantities_within_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product", "order"],
                name="line_backordered_idx",
                condition=Q(qty_backordered__gt=0),
            ),
            # Orders containing a SKU (the queue's SKU search) without reading the lines.
            models.Index(fields=["product", "order"], name="line_product_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}#{self.line_no} {self.quantity}×{self.product_id}"

    @property
    def qty_open(self) -> int:
        return self.quantity - self.qty_shipped - self.qty_cancelled

    @property
    def line_total(self):
        return self.unit_price * self.quantity


class Allocation(models.Model):
    """Units of one order line reserved in one warehouse (a line may be split)."""

    # Served by allocation_unique (line, stock_level) and allocation_level_idx (stock_level,
    # line): single-column indexes would only slow every allocation down.
    line = models.ForeignKey(
        OrderLine, on_delete=models.CASCADE, related_name="allocations", db_index=False
    )
    stock_level = models.ForeignKey(
        StockLevel, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["line", "stock_level"], name="allocation_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="allocation_quantity_gt_0"),
        ]
        indexes = [models.Index(fields=["stock_level", "line"], name="allocation_level_idx")]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.line_id} at level {self.stock_level_id}"


class OrderEvent(models.Model):
    """The order's timeline: every status change, hold, note and allocation, with who and when."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status change"
        ALLOCATION = "allocation", "Allocation"
        HOLD = "hold", "Placed on hold"
        RELEASE = "release", "Released"
        CANCEL = "cancel", "Cancelled"
        NOTE = "note", "Note"
        ASSIGN = "assign", "Assignment"
        EXPEDITE = "expedite", "Expedite"
        IMPORT = "import", "Imported"
        SHIPMENT = "shipment", "Shipment"  # units left with a carrier (partial or complete)
        EXCEPTION = "exception", "Carrier exception"  # exception or return reported by a carrier
        RESOLVED = "resolved", "Exception resolved"  # an agent cleared the exception flag
        NOTIFICATION = "notification", "Customer notification"  # e-mail sent/failed/suppressed
        CUSTOMER = "customer", "Customer message"  # written by the customer (tracking page)
        SUPPORT = "support", "Support"  # a ticket or an escalation about the order

    # orderevent_order_idx (order, -id) serves it.
    order = models.ForeignKey(
        Order, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # The status labels (get_from_status_display) are what the timeline shows.
    from_status = models.CharField(max_length=12, choices=Order.Status.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=Order.Status.choices, blank=True)
    message = models.TextField(blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order", "-id"], name="orderevent_order_idx")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


def _import_upload_path(instance, filename: str) -> str:
    return f"imports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.csv"


class ImportJob(models.Model):
    """One uploaded order file: its preview, its import and the report of what happened."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"  # stored, nothing checked yet
        VALIDATING = "validating", "Checking"  # the preview is being computed
        PREVIEWED = "previewed", "Preview ready"  # counts and errors known, awaiting confirm
        IMPORTING = "importing", "Importing"  # confirmed, orders being created
        # The worker importing it died (heartbeat lost); what it created is counted and kept:
        # a supervisor resumes it (orders already created are recognised, never doubled).
        INTERRUPTED = "interrupted", "Interrupted"
        DONE = "done", "Done"  # finished; see the counts
        FAILED = "failed", "Failed"  # the file could not be read at all
        DISCARDED = "discarded", "Discarded"  # the user did not confirm

    class Format(models.TextChoices):
        AUTO = "auto", "Detect from header"
        NATIVE = "native", "Native CSV"
        SHOPIFY = "shopify", "Shopify orders export"

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="import_jobs")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file = models.FileField(upload_to=_import_upload_path)
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField(default=0)
    requested_format = models.CharField(max_length=10, choices=Format.choices, default="auto")
    detected_format = models.CharField(max_length=10, choices=Format.choices, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    background = models.BooleanField(default=False)
    message = models.TextField(blank=True)

    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    # What the preview found (would be created / skipped / rejected) …
    orders_new = models.PositiveIntegerField(default=0)
    lines_new = models.PositiveIntegerField(default=0)
    orders_skipped = models.PositiveIntegerField(default=0)
    orders_conflict = models.PositiveIntegerField(default=0)
    orders_rejected = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    # … and what the confirmed import did.
    orders_created = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="First problems, for display.")
    error_report = models.FileField(upload_to="imports/errors/", blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lease of the process working on the job ("host:pid"), renewed by its heartbeat; a
    # job whose worker is gone (dead pid on this host, or no heartbeat for the lease time) is
    # interrupted (orders.importing.jobs.import_jobs_recover).
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Runs of the import.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "-created_at"], name="importjob_client_idx")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.client.code}, {self.get_status_display()})"

    @property
    def progress_percent(self) -> int:
        """Checking is the whole of a preview; an import checks every row (first half of the
        bar), then creates the new orders, most urgent first (second half)."""
        if not self.total_rows:
            return 100 if self.status in (self.Status.DONE, self.Status.PREVIEWED) else 0
        checked = min(1.0, self.processed_rows / self.total_rows)
        if self.status != self.Status.IMPORTING:
            return round(100 * checked)
        created = min(1.0, self.orders_created / self.orders_new) if self.orders_new else 0.0
        return round(50 * checked + 50 * created)


class ImportedOrder(models.Model):
    """Which import job created which order: written in the same transaction as the order, so
    a job's count of created orders is read from the database (true even after its worker was
    killed) and a resumed job tells its own earlier orders from ones imported before."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="created_orders")
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"order {self.order_id} by import {self.job_id}"


def _export_path(instance, filename: str) -> str:
    return f"exports/{timezone.now():%Y/%m}/{uuid.uuid4().hex}-{filename}"


class ExportJob(models.Model):
    """A large export of the queue, written by a worker (orders.services.exports); the user
    who asked for it follows its progress on its page and downloads the file there."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Writing"
        DONE = "done", "Ready to download"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        ORDERS = "orders", "Orders (one row per order)"
        LINES = "lines", "Order lines (one row per line)"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (XLSX)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.ORDERS)
    file_format = models.CharField(max_length=4, choices=Format.choices, default=Format.CSV)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    # The orders of the filtered queue when the export was asked for (already scoped to the
    # user's clients by the admin): the worker exports exactly these.
    order_ids = models.JSONField(default=list)
    total_orders = models.PositiveIntegerField(default=0)
    done_orders = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to=_export_path, blank=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} ({self.get_kind_display()}, {self.get_status_display()})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_orders:
            return 0
        return min(100, round(100 * self.done_orders / self.total_orders))
