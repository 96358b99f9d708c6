from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clients.models import Client


class Warehouse(models.Model):
    """A physical site stock is kept in. Shared by clients (a 3PL site serves many retailers)."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class Product(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="products")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=255)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["client", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["client", "sku"], name="product_unique_client_sku")
        ]

    def __str__(self) -> str:
        return f"{self.sku} – {self.name}"


class StockLevel(models.Model):
    """One product in one warehouse (ERPNext's "Bin").

    ``available = on_hand − allocated``; ``projected = on_hand + on_order − allocated −
    backordered`` drives replenishment. The CHECK constraints make overselling impossible at
    the database, whatever a code path does.
    """

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    bin_location = models.CharField(max_length=32, blank=True)
    on_hand = models.IntegerField(default=0)
    allocated = models.IntegerField(default=0, help_text="Reserved for orders, still on the shelf.")
    backordered = models.IntegerField(default=0, help_text="Demand not covered by stock.")
    on_order = models.IntegerField(default=0, help_text="On open purchase orders.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product__sku", "warehouse__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"], name="stocklevel_unique_product_warehouse"
            ),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stocklevel_on_hand_gte_0"),
            models.CheckConstraint(
                condition=Q(allocated__gte=0), name="stocklevel_allocated_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(allocated__lte=F("on_hand")), name="stocklevel_allocated_lte_on_hand"
            ),
            models.CheckConstraint(
                condition=Q(backordered__gte=0), name="stocklevel_backordered_gte_0"
            ),
            models.CheckConstraint(condition=Q(on_order__gte=0), name="stocklevel_on_order_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=["client", "product"],
                name="stocklevel_short_idx",
                condition=Q(backordered__gt=0),
            ),
        ]
        permissions = [
            ("receive_stock", "Can receive stock"),
            ("adjust_stock", "Can adjust stock"),
            ("transfer_stock", "Can transfer stock between warehouses"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.allocated

    @property
    def projected(self) -> int:
        return self.on_hand + self.on_order - self.allocated - self.backordered


class StockMovement(models.Model):
    """Append-only ledger: one row for every change of a stock level's ``on_hand``."""

    class Kind(models.TextChoices):
        RECEIPT = "receipt", "Receipt"  # goods in from a supplier or the client
        ADJUSTMENT = "adjustment", "Adjustment"  # stock count correction, damage, loss
        SHIPMENT = "shipment", "Shipment"  # goods out to a customer
        RETURN = "return", "Return"  # goods back from a customer
        TRANSFER_OUT = "transfer_out", "Transfer out"  # to another warehouse
        TRANSFER_IN = "transfer_in", "Transfer in"  # from another warehouse

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    stock_level = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="movements")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="Signed change of on-hand.")
    balance_after = models.IntegerField()
    reference = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stock_level", "id"], name="movement_level_idx")]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.quantity:+d} {self.product_id}@{self.warehouse_id}"
