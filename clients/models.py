from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known time zone (e.g. Europe/Berlin).")


class Client(models.Model):
    """A retailer whose order backlog the BPO works. Every client-owned row points here."""

    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_-]+$", "Use upper-case letters, digits, - and _.")],
        help_text="Short unique code, e.g. ACME. Used in files, reports and the command line.",
    )
    timezone = models.CharField(
        "time zone",
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="Where the client works, e.g. Europe/Berlin: promised dates, exports and "
        "the order page show times in this zone.",
    )
    currency = models.CharField(
        max_length=3,
        default="USD",
        validators=[RegexValidator(r"^[A-Z]{3}$", "An ISO 4217 code such as USD or EUR.")],
        help_text="Three-letter code (USD, EUR); every imported order must be in it.",
    )
    active = models.BooleanField(
        default=True, help_text="Inactive clients take no imports and leave the pick lists."
    )

    # Promise to ship, in hours after the order was placed, per service level.
    sla_standard_hours = models.PositiveIntegerField(
        "ship within (hours), standard service",
        default=72,
        validators=[MinValueValidator(1)],
        help_text="Hours from the order being placed to the promised ship time, e.g. 72 = "
        "three days.",
    )
    sla_expedited_hours = models.PositiveIntegerField(
        "ship within (hours), expedited service",
        default=24,
        validators=[MinValueValidator(1)],
        help_text="Hours from order to promised ship time for expedited orders.",
    )
    sla_overnight_hours = models.PositiveIntegerField(
        "ship within (hours), overnight service",
        default=8,
        validators=[MinValueValidator(1)],
        help_text="Hours from order to promised ship time for overnight orders.",
    )
    at_risk_hours = models.PositiveIntegerField(
        "at risk when due within (hours)",
        default=12,
        help_text="An open order whose promised ship time is this close goes to the "
        "'At risk' queue.",
    )

    # Priority weights: how much each factor counts for this client (0 switches it off).
    # Score = sum of weight × factor × 10, each factor between 0 and 1 (orders.services.priority).
    weight_due = models.PositiveSmallIntegerField(
        "weight: time to promise (points)",
        default=40,
        help_text="How much a near or missed promise counts: up to weight × 10 points within a "
        "week of the ship-by time, up to weight × 15 once two days overdue. 0 switches it off.",
    )
    weight_service = models.PositiveSmallIntegerField(
        "weight: service level (points)",
        default=20,
        help_text="Overnight orders get weight × 10 points, expedited 60 % of that, standard 0.",
    )
    weight_tier = models.PositiveSmallIntegerField(
        "weight: customer tier (points)",
        default=15,
        help_text="VIP customers get weight × 10 points, gold 66 %, silver 33 %, standard 0.",
    )
    weight_value = models.PositiveSmallIntegerField(
        "weight: order value (points)",
        default=10,
        help_text="Bigger orders first: up to weight × 10 points at an order total of 10,000 "
        "(any currency; grows with the logarithm of the value).",
    )
    weight_age = models.PositiveSmallIntegerField(
        "weight: age (points)",
        default=10,
        help_text="Older orders first: up to weight × 10 points after 14 days in the backlog.",
    )
    weight_expedite = models.PositiveSmallIntegerField(
        "weight: manual expedite (points)",
        default=30,
        help_text="Points (weight × 10) added when an agent presses Expedite on an order.",
    )

    class PaymentPolicy(models.TextChoices):
        PREPAID = "prepaid", "Prepaid"  # released to picking only when paid or authorised
        TERMS = "terms", "Invoice terms (net N days)"  # released at once, invoiced, due later
        COD = "cod", "Cash on delivery"  # released at once, paid to the carrier

    class InvoiceMode(models.TextChoices):
        PER_SHIPMENT = "per_shipment", "One invoice per shipment"  # partial shipments too
        PER_ORDER = "per_order", "One invoice per order, at release"  # usual for prepaid

    class Rounding(models.TextChoices):
        PER_LINE = "per_line", "Round tax per line"  # each line's tax rounded, then summed
        PER_INVOICE = "per_invoice", "Round tax per invoice"  # tax summed unrounded, rounded once

    # Payments and invoices (billing; the release gate in orders.services.payments).
    payment_policy = models.CharField(
        max_length=10, choices=PaymentPolicy.choices, default=PaymentPolicy.TERMS
    )
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms (net days)",
        default=30,
        help_text="Invoices are due this many days after issue.",
    )
    payment_hold_hours = models.PositiveIntegerField(
        default=48,
        help_text="An order held for payment or credit keeps its stock this many hours; then "
        "the stock goes to the next orders by priority (re-reserved when it is released).",
    )
    invoice_mode = models.CharField(
        max_length=12, choices=InvoiceMode.choices, default=InvoiceMode.PER_SHIPMENT
    )
    invoice_rounding = models.CharField(
        max_length=12, choices=Rounding.choices, default=Rounding.PER_LINE
    )
    invoice_tax_rate = models.DecimalField(
        "tax rate (%)",
        max_digits=5,
        decimal_places=2,
        default=0,
        help_text="Tax rate on invoice lines, e.g. 19.00.",
    )
    invoice_legal_lines = models.TextField(
        blank=True, help_text="Company name, address, tax id … printed at the foot of invoices."
    )

    class Meta:
        ordering = ["name"]
        permissions = [("change_priority_weights", "Can change a client's priority weights")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def sla_hours(self, service_level: str) -> int:
        return {
            "standard": self.sla_standard_hours,
            "expedited": self.sla_expedited_hours,
            "overnight": self.sla_overnight_hours,
        }.get(service_level, self.sla_standard_hours)


class Membership(models.Model):
    """Gives a user access to one client's data, as an agent or a supervisor."""

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"  # works the queue of the client
        SUPERVISOR = "supervisor", "Supervisor"  # also imports, cancels, changes stock, reports

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.AGENT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="membership_unique_user_client")
        ]
        ordering = ["client__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} → {self.client.code} ({self.get_role_display()})"
