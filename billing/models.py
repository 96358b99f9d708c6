"""Invoices, credit notes, their number series, and payments.

Its own app between fulfillment and support (not in ``orders`` as DESIGN.md first put it):
invoices are issued per *shipment*, which lives in fulfillment, and orders may not import
fulfillment. Billing reads orders and shipments (below it) and tells orders about money
through ``orders.services.payments`` (the release gate and the derived payment status).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from clients.models import Client
from orders.models import Customer, Order, OrderLine


class DocumentSeries(models.Model):
    """The counter of one gap-free number series: client × kind × year. The issuing
    transaction locks this row (``SELECT … FOR UPDATE``) and takes ``last_number + 1``; a
    rolled-back issue rolls the counter back too, so numbers have no gaps and no duplicates."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=12)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "kind", "year"], name="series_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}/{self.kind}/{self.year}: {self.last_number}"


class Invoice(models.Model):
    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"  # corrects an issued invoice (amounts > 0)

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # no number yet, may change
        ISSUED = "issued", "Issued"  # numbered; immutable from now on
        VOID = "void", "Void"  # never used for issued documents: those get credit notes

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="invoices")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="invoices")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    # The shipment it bills (per-shipment mode); fulfillment's id, kept as a plain number so
    # an invoice can be made for an order without shipments too (prepaid, per order).
    shipment_id = models.BigIntegerField(null=True, blank=True)
    credited_invoice = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INVOICE)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    number = models.CharField(max_length=40, blank=True)
    currency = models.CharField(max_length=3)
    rounding = models.CharField(max_length=12, choices=Client.Rounding.choices)
    issued_at = models.DateTimeField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    reason = models.CharField(max_length=255, blank=True)
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "number"], condition=~Q(number=""), name="invoice_unique_number"
            ),
            models.UniqueConstraint(
                fields=["shipment_id", "kind"],
                condition=Q(shipment_id__isnull=False, kind="invoice"),
                name="invoice_one_per_shipment",
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | ~Q(number=""), name="invoice_issued_has_number"
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status", "due_on"], name="invoice_open_idx"),
            models.Index(fields=["customer", "status"], name="invoice_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.number or f"draft {self.get_kind_display().lower()} #{self.pk}"

    @property
    def balance(self):
        return self.total - self.amount_paid


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        OrderLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(max_length=255)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    net_amount = models.DecimalField(max_digits=12, decimal_places=2)
    # Per-line rounding: rounded to cents; per-invoice rounding: kept at 4 places, rounded once.
    tax_amount = models.DecimalField(max_digits=14, decimal_places=4)

    class Meta:
        ordering = ["invoice", "id"]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.description}"


class PaymentProvider(models.Model):
    """A payment provider account of a client, with the secret its webhook is signed with."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    webhook_secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.client.code})"


class Payment(models.Model):
    class Status(models.TextChoices):
        AUTHORISED = "authorised", "Authorised"  # reserved on the card, counts for release
        CAPTURED = "captured", "Captured"  # money received
        REFUNDED = "refunded", "Refunded"  # money given back (reduces what is paid)
        FAILED = "failed", "Failed"  # counts for nothing

    class Method(models.TextChoices):
        CARD = "card", "Card"
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CASH = "cash", "Cash on delivery"
        OTHER = "other", "Other"

    class Source(models.TextChoices):
        MANUAL = "manual", "Entered by hand"
        REMITTANCE = "remittance", "Remittance file"
        WEBHOOK = "webhook", "Provider webhook"

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="payments")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.OTHER)
    provider = models.CharField(max_length=40, blank=True)
    provider_reference = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CAPTURED)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    received_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # A provider's event is stored once, however often it is delivered.
            models.UniqueConstraint(
                fields=["client", "provider", "provider_reference", "status"],
                condition=~Q(provider_reference=""),
                name="payment_unique_provider_event",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_gt_0"),
        ]
        indexes = [models.Index(fields=["client", "received_at"], name="payment_client_idx")]

    def __str__(self) -> str:
        return f"{self.get_status_display()} {self.amount} {self.currency} ({self.order})"
