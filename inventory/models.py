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


# -- Replenishment: suppliers, reorder rules, purchase orders, runs ----------------------------
class ReplenishmentPolicy(models.Model):
    """A client's replenishment settings (one row per client; defaults apply without one)."""

    class ServiceLevel(models.TextChoices):
        # value = target cycle service level in per cent; z from the normal distribution
        P90 = "90", "90 % (z = 1.282)"
        P95 = "95", "95 % (z = 1.645)"
        P975 = "97.5", "97.5 % (z = 1.960)"
        P98 = "98", "98 % (z = 2.054)"
        P99 = "99", "99 % (z = 2.326)"

    client = models.OneToOneField(
        Client, on_delete=models.CASCADE, related_name="replenishment_policy"
    )
    service_level = models.CharField(
        "target service level",
        max_length=5,
        choices=ServiceLevel.choices,
        default=ServiceLevel.P95,
        help_text="Chance of not running out during a lead time; sets the safety stock.",
    )
    auto_approve_below = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=0,
        help_text="Draft POs worth less than this are approved by the run (0: never).",
    )
    over_receipt_tolerance_percent = models.PositiveSmallIntegerField(
        default=0,
        help_text="How much more than ordered a receipt may book, in per cent of the line.",
    )

    class Meta:
        verbose_name_plural = "replenishment policies"

    def __str__(self) -> str:
        return f"Replenishment policy of {self.client}"


class Supplier(models.Model):
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="suppliers")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    email = models.EmailField("contact e-mail", blank=True)
    currency = models.CharField(max_length=3, default="USD")
    lead_time_days = models.PositiveSmallIntegerField(
        "default lead time (days)",
        default=7,
        help_text="Used until enough receipts have taught us the real lead time.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["client", "code"]
        constraints = [
            models.UniqueConstraint(fields=["client", "code"], name="supplier_unique_client_code")
        ]

    def __str__(self) -> str:
        return f"{self.code} – {self.name}"


class SupplierProduct(models.Model):
    """What a supplier sells us of one product, and on which terms."""

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="products")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="supplier_products")
    supplier_sku = models.CharField("supplier SKU", max_length=64)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    lead_time_days = models.PositiveSmallIntegerField(
        "lead time override (days)", null=True, blank=True
    )
    min_order_qty = models.PositiveIntegerField("minimum order quantity", default=1)
    pack_multiple = models.PositiveIntegerField(
        default=1, help_text="Units per case: orders are rounded up to whole cases."
    )
    preferred = models.BooleanField(default=False, help_text="One preferred supplier per product.")

    class Meta:
        ordering = ["supplier", "supplier_sku"]
        constraints = [
            models.UniqueConstraint(
                fields=["supplier", "product"], name="supplierproduct_unique_product"
            ),
            models.UniqueConstraint(
                fields=["supplier", "supplier_sku"], name="supplierproduct_unique_sku"
            ),
            models.UniqueConstraint(
                fields=["product"],
                condition=Q(preferred=True),
                name="supplierproduct_one_preferred",
            ),
            models.CheckConstraint(
                condition=Q(min_order_qty__gte=1), name="supplierproduct_moq_gte_1"
            ),
            models.CheckConstraint(
                condition=Q(pack_multiple__gte=1), name="supplierproduct_pack_gte_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.supplier.code}: {self.supplier_sku}"


class ReorderRule(models.Model):
    """When and how much to buy of one product for one warehouse.

    The plan's last result is stored on the rule (``suggested_qty`` … ``explanation``), so the
    replenishment page sorts 100,000 rules by urgency with an index instead of recomputing.
    """

    class Policy(models.TextChoices):
        MIN_MAX = "min_max", "Min/max"  # below min projected: order up to max
        DEMAND = "demand", "Demand-driven"  # reorder point from demand, lead time and spread

    # Every run rewrites the plan columns of many rules, and each index is one more write per
    # row: product is served by the (product, warehouse) unique index; warehouse and supplier
    # rows are never deleted (PROTECT finds them by a rare scan).
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="reorder_rules", db_index=False
    )
    warehouse = models.ForeignKey(
        Warehouse, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    supplier = models.ForeignKey(
        Supplier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="Empty: the product's preferred supplier.",
    )
    policy = models.CharField(max_length=10, choices=Policy.choices, default=Policy.MIN_MAX)
    min_qty = models.PositiveIntegerField("min", default=0)
    max_qty = models.PositiveIntegerField("max", default=0)
    demand_days = models.PositiveSmallIntegerField(
        "demand window (days)", default=28, help_text="Average demand over this many past days."
    )
    review_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between orders: demand-driven rules order this much extra."
    )
    active = models.BooleanField(default=True)

    # The last plan (written by the replenishment run).
    planned_at = models.DateTimeField("plan changed at", null=True, blank=True)
    projected = models.IntegerField(null=True, blank=True)
    daily_demand = models.FloatField(null=True, blank=True)
    reorder_point = models.FloatField(null=True, blank=True)
    order_up_to = models.FloatField(null=True, blank=True)
    suggested_qty = models.PositiveIntegerField(default=0)
    order_by = models.DateField(null=True, blank=True)
    days_of_cover = models.FloatField(null=True, blank=True)
    explanation = models.TextField(blank=True)

    class Meta:
        ordering = ["client", "product__sku", "warehouse__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "warehouse"], name="reorderrule_unique_product_warehouse"
            ),
            models.CheckConstraint(
                condition=Q(min_qty__lte=F("max_qty")), name="reorderrule_min_lte_max"
            ),
            models.CheckConstraint(condition=Q(demand_days__gte=1), name="reorderrule_days_gte_1"),
        ]
        indexes = [
            models.Index(
                fields=["client", "order_by", "id"],
                name="reorderrule_urgent_idx",
                condition=Q(suggested_qty__gt=0),
            ),
        ]
        permissions = [("run_replenishment", "Can run replenishment")]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"


class PurchaseOrder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # written by the planner, still changes with each run
        APPROVED = "approved", "Approved"  # frozen, waiting to be sent
        SENT = "sent", "Sent"  # e-mailed to the supplier: counts in stock levels' on_order
        PARTIALLY_RECEIVED = "partially_received", "Partially received"  # some lines/units in
        RECEIVED = "received", "Received"  # everything in (or within tolerance)
        CANCELLED = "cancelled", "Cancelled"  # nothing more will come

    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="purchase_orders")
    number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    expected_on = models.DateField("expected delivery", null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    total_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    auto_approved = models.BooleanField(default=False)
    created_by_run = models.ForeignKey(
        "ReplenishmentRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_to = models.CharField(max_length=254, blank=True)
    pdf = models.FileField(upload_to="purchase_orders/", blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The database, not only the run's lock, refuses a second open draft for the same
            # supplier × warehouse: a retried or overlapping run can only update the one there.
            models.UniqueConstraint(
                fields=["supplier", "warehouse"],
                condition=Q(status="draft"),
                name="purchaseorder_one_draft_per_supplier_warehouse",
            ),
        ]
        indexes = [
            models.Index(fields=["client", "status", "-id"], name="po_client_status_idx"),
            models.Index(
                fields=["expected_on"],
                name="po_open_expected_idx",
                condition=Q(status__in=["sent", "partially_received"]),
            ),
        ]
        permissions = [
            ("approve_purchaseorder", "Can approve purchase orders"),
            ("send_purchaseorder", "Can send purchase orders"),
            ("receive_purchaseorder", "Can receive purchase orders"),
        ]

    def __str__(self) -> str:
        return self.number or f"PO draft #{self.pk}"


class PurchaseOrderLine(models.Model):
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    supplier_sku = models.CharField(max_length=64, blank=True)
    quantity = models.PositiveIntegerField()
    quantity_received = models.PositiveIntegerField(default=0)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    why = models.CharField(max_length=255, blank=True, help_text="The plan's reasoning.")
    received_at = models.DateTimeField(null=True, blank=True)
    lead_time_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Sent → received, in days (learnt lead time)."
    )

    class Meta:
        ordering = ["purchase_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase_order", "product"], name="purchaseorderline_unique_product"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchaseorderline_qty_gt_0"),
        ]
        indexes = [
            models.Index(
                fields=["product", "purchase_order"],
                name="poline_open_idx",
                condition=Q(quantity__gt=F("quantity_received")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} on {self.purchase_order_id}"

    @property
    def quantity_open(self) -> int:
        return max(self.quantity - self.quantity_received, 0)

    @property
    def line_total(self):
        return self.unit_cost * self.quantity


class ReplenishmentRun(models.Model):
    """One run of the plan: what it looked at, what it wrote, how long it took."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=20, default="schedule")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_ids = models.JSONField(
        default=list, blank=True, help_text="Clients planned (empty: all clients)."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    rules_evaluated = models.PositiveIntegerField(default=0)
    suggestions = models.PositiveIntegerField(default=0)
    pos_created = models.PositiveIntegerField(default=0)
    pos_updated = models.PositiveIntegerField(default=0)
    pos_auto_approved = models.PositiveIntegerField(default=0)
    lines_written = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True)
    timings = models.JSONField(
        default=dict, blank=True, help_text="Seconds per phase (read, demand, plan, write)."
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"Replenishment run {self.pk} ({self.get_status_display()})"
