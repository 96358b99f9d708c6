"""Carriers (3PL), pick waves, shipments and what the carriers report about them.

Every client-owned row (waves, shipments, their events, a client's carrier accounts and
negotiated rates) carries ``client`` directly, so scoping is one indexed
``WHERE client_id IN (...)``. Carriers, their services and the service-level rules are shared
configuration, like warehouses: only admins (superusers) change them, because a carrier's
webhook secret and tracking URL act on every client's shipments.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clients.models import Client
from inventory.models import StockLevel, Warehouse
from orders.models import Order, OrderLine

TRACKING_PLACEHOLDER = "{tracking_number}"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


def validate_tracking_template(value: str) -> None:
    if not value.startswith(("https://", "http://")):
        raise ValidationError("The tracking URL must start with https:// (or http://).")
    if TRACKING_PLACEHOLDER not in value:
        raise ValidationError(f"Put {TRACKING_PLACEHOLDER} where the tracking number goes.")


class Carrier(models.Model):
    """A 3PL or parcel carrier shipments are handed to."""

    name = models.CharField(max_length=100)
    code = models.CharField(
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_-]+$", "Use upper-case letters, digits, - and _.")],
        help_text="Short code used in webhook URLs (/webhooks/carriers/<code>/) and files.",
    )
    tracking_url_template = models.CharField(
        "tracking URL template",
        max_length=300,
        validators=[validate_tracking_template],
        help_text=f"The carrier's tracking page, with {TRACKING_PLACEHOLDER} where the number "
        "goes, e.g. https://track.example.com/?n={tracking_number}",
    )
    active = models.BooleanField(default=True)
    # Write-only: the admin never shows it (only "set on …"); rotate it through
    # services.carrier_webhook_secret_rotate, which keeps the previous one valid for a while.
    webhook_secret = models.CharField(
        max_length=128,
        default=new_webhook_secret,
        help_text="Shared with the carrier: it signs every webhook call with HMAC-SHA256 of it.",
    )
    webhook_secret_set_at = models.DateTimeField("webhook secret set on", null=True, blank=True)
    previous_webhook_secret = models.CharField(max_length=128, blank=True, default="")
    previous_webhook_secret_valid_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def valid_webhook_secrets(self, now=None) -> list[str]:
        """The secrets a webhook call may be signed with now: the current one, plus the
        previous one during the overlap after a rotation (so no event is dropped)."""
        secrets_ = [self.webhook_secret] if self.webhook_secret else []
        until = self.previous_webhook_secret_valid_until
        if self.previous_webhook_secret and until and (now or timezone.now()) < until:
            secrets_.append(self.previous_webhook_secret)
        return secrets_

    def tracking_url(self, tracking_number: str) -> str:
        return self.tracking_url_template.replace(
            TRACKING_PLACEHOLDER, quote(tracking_number, safe="")
        )


class CarrierService(models.Model):
    """One service of a carrier (ground, express …) with its transit time and price: the rate
    table service selection reads."""

    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="services")
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=100)
    transit_days = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(60)], help_text="Calendar days from hand-over to delivery."
    )
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0)], help_text="Per parcel."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["carrier__name", "transit_days", "price"]
        constraints = [
            models.UniqueConstraint(fields=["carrier", "code"], name="carrierservice_unique_code"),
            models.CheckConstraint(condition=Q(price__gte=0), name="carrierservice_price_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code} {self.name} ({self.transit_days} d, {self.price})"


class CarrierAccount(models.Model):
    """A client's own contract with a shared carrier: its account number and, in ``rates``,
    the prices it negotiated. Set by the client's supervisors; scoped by ``client``."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="carrier_accounts")
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="accounts")
    account_number = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(
        default=True, help_text="Inactive: the client's negotiated rates are not used."
    )

    class Meta:
        ordering = ["client__code", "carrier__name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "carrier"], name="carrieraccount_unique")
        ]

    def __str__(self) -> str:
        return f"{self.client.code} @ {self.carrier.code}"


class CarrierAccountRate(models.Model):
    """A client's negotiated price for one service of the carrier (replaces the list price
    in that client's service suggestions)."""

    account = models.ForeignKey(CarrierAccount, on_delete=models.CASCADE, related_name="rates")
    # Copied from the account so that scoping stays one ``WHERE client_id IN (...)``.
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    service = models.ForeignKey(CarrierService, on_delete=models.PROTECT, related_name="+")
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(0)], help_text="Per parcel."
    )

    class Meta:
        ordering = ["account", "service__transit_days"]
        constraints = [
            models.UniqueConstraint(fields=["account", "service"], name="carrierrate_unique"),
            models.CheckConstraint(condition=Q(price__gte=0), name="carrierrate_price_gte_0"),
        ]
        indexes = [models.Index(fields=["client", "service"], name="carrierrate_client_idx")]

    def __str__(self) -> str:
        return f"{self.account}: {self.service.code} {self.price}"

    def clean(self) -> None:
        account = getattr(self, "account", None)
        service = getattr(self, "service", None)
        if account is not None and service is not None and service.carrier_id != account.carrier_id:
            raise ValidationError({"service": "Choose a service of the account's carrier."})


class ServiceLevelRule(models.Model):
    """What an order's service level promises and which carrier services may keep it.

    The delivery promise of an order is its ship-by date plus ``deliver_within_days``; the
    suggested service is the cheapest acceptable one that still arrives by then.
    """

    service_level = models.CharField(max_length=10, choices=Order.ServiceLevel.choices, unique=True)
    deliver_within_days = models.PositiveSmallIntegerField(
        validators=[MaxValueValidator(60)],
        help_text="Days after the promised ship date by which the customer expects the parcel.",
    )
    services = models.ManyToManyField(
        CarrierService, related_name="rules", help_text="Services acceptable for this level."
    )

    class Meta:
        ordering = ["deliver_within_days"]

    def __str__(self) -> str:
        return f"{self.get_service_level_display()}: within {self.deliver_within_days} d"


class PickWave(models.Model):
    """A batch of one client's ready orders picked together in one warehouse."""

    class Status(models.TextChoices):
        PICKING = "picking", "Picking"  # on the floor: some orders are still being picked
        DONE = "done", "Done"  # every order has been packed (or left the wave otherwise)

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="pick_waves")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="pick_waves")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PICKING)
    orders = models.ManyToManyField(Order, through="PickWaveOrder", related_name="pick_waves")
    order_count = models.PositiveIntegerField(default=0)
    unit_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["client", "status", "-id"], name="pickwave_client_idx")]
        permissions = [("pack_orders", "Can confirm orders packed")]

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        return f"WAVE-{self.pk:05d}" if self.pk else "WAVE-(new)"


class PickWaveOrder(models.Model):
    """An order in a wave, with its place in the wave (priority order at creation)."""

    wave = models.ForeignKey(PickWave, on_delete=models.CASCADE, related_name="entries")
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="wave_entries")
    sequence = models.PositiveIntegerField()

    class Meta:
        ordering = ["wave", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["wave", "order"], name="pickwaveorder_unique")
        ]
        indexes = [models.Index(fields=["order", "wave"], name="pickwaveorder_order_idx")]

    def __str__(self) -> str:
        return f"{self.wave} #{self.sequence}: {self.order_id}"


class TrackingStatus(models.TextChoices):
    LABEL_CREATED = "label_created", "Label created"  # the carrier knows the parcel
    PICKED_UP = "picked_up", "Picked up"  # the carrier has it
    IN_TRANSIT = "in_transit", "In transit"  # moving through the network
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"  # on the van today
    DELIVERED = "delivered", "Delivered"  # handed to the customer
    EXCEPTION = "exception", "Exception"  # delay, damage, address problem … (flags the order)
    RETURNED = "returned", "Returned"  # on its way back to the sender (flags the order)


# Statuses that flag the order for an agent.
PROBLEM_STATUSES = frozenset({TrackingStatus.EXCEPTION, TrackingStatus.RETURNED})


class ShipmentQuerySet(models.QuerySet):
    def late(self, today: date | None = None) -> ShipmentQuerySet:
        """Past their ETA and not delivered (returned parcels are an exception, not late)."""
        today = today or timezone.localdate()
        return self.filter(delivered_at__isnull=True, eta__lt=today).exclude(
            status=TrackingStatus.RETURNED
        )


class Shipment(models.Model):
    """Units of one order handed to a carrier under one tracking number."""

    # Every index is paid on each status update (a status change is never a HOT update), so
    # foreign keys covered by a composite index, or only needed to delete configuration
    # (services, warehouses, users — never deleted in practice), carry no index of their own.
    client = models.ForeignKey(
        Client, on_delete=models.PROTECT, related_name="shipments", db_index=False
    )
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="shipments")
    warehouse = models.ForeignKey(
        Warehouse,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="shipments", db_index=False
    )
    service = models.ForeignKey(
        CarrierService, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    tracking_number = models.CharField(max_length=64)
    status = models.CharField(
        max_length=20, choices=TrackingStatus.choices, default=TrackingStatus.LABEL_CREATED
    )
    shipped_at = models.DateTimeField()
    eta = models.DateField("ETA", help_text="Ship date + the service's transit days.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ShipmentQuerySet.as_manager()

    class Meta:
        ordering = ["-shipped_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"], name="shipment_unique_tracking"
            )
        ]
        indexes = [
            models.Index(fields=["client", "status"], name="shipment_client_status_idx"),
            models.Index(
                fields=["client", "eta"],
                name="shipment_open_eta_idx",
                condition=Q(delivered_at__isnull=True),
            ),
            models.Index(fields=["tracking_number"], name="shipment_tracking_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.carrier.code} {self.tracking_number}"

    @property
    def tracking_url(self) -> str:
        return self.carrier.tracking_url(self.tracking_number)

    def is_late(self, today: date | None = None) -> bool:
        today = today or timezone.localdate()
        return (
            self.delivered_at is None
            and self.status != TrackingStatus.RETURNED
            and self.eta is not None
            and today > self.eta
        )

    @property
    def delivered_late(self) -> bool:
        return bool(self.delivered_at and timezone.localdate(self.delivered_at) > self.eta)


def compute_eta(shipped_at, transit_days: int) -> date:
    return timezone.localdate(shipped_at) + timedelta(days=transit_days)


class ShipmentLine(models.Model):
    """Units of one order line in a shipment, and the stock level they left from."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="+")
    stock_level = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["shipment", "order_line__line_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line", "stock_level"], name="shipmentline_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipmentline_qty_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of line {self.order_line_id}"


class TrackingEvent(models.Model):
    """Something a carrier reported about a shipment (webhook, status file or our label).

    The same event delivered twice is stored once: (shipment, status, time) is unique.
    """

    class Source(models.TextChoices):
        LABEL = "label", "Label printed here"
        WEBHOOK = "webhook", "Carrier webhook"
        CSV = "csv", "Status file upload"

    # Indexed through the composite index and unique constraint below (each extra index would
    # slow the bulk ingestion of status files).
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+", db_index=False)
    shipment = models.ForeignKey(
        Shipment, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    status = models.CharField(max_length=20, choices=TrackingStatus.choices)
    occurred_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    raw_payload = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "status", "occurred_at"], name="trackingevent_unique"
            )
        ]
        indexes = [
            models.Index(fields=["client", "-occurred_at"], name="trackingevent_client_idx"),
        ]
        permissions = [("upload_tracking", "Can upload carrier status files")]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.status} {self.occurred_at:%Y-%m-%d %H:%M}"
