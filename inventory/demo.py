"""Replenishment demo data for ``seed_demo``: suppliers, their terms, reorder rules, a policy
and one late purchase order per client. Idempotent (natural keys; the late PO once)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.test import override_settings
from django.utils import timezone

from inventory import purchasing
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderRule,
    ReplenishmentPolicy,
    StockLevel,
    Supplier,
    SupplierProduct,
)

LATE_NOTE = "Demo: the supplier is late with this delivery."


def seed_replenishment(*, client, products, rng) -> str:
    suppliers = [
        Supplier.objects.get_or_create(
            client=client,
            code=f"{client.code}-S{n}",
            defaults={
                "name": name,
                "email": f"orders@{slug}.example.com",
                "currency": client.currency,
                "lead_time_days": lead,
            },
        )[0]
        for n, (name, slug, lead) in enumerate(
            [("Northwind Traders", "northwind", 6), ("Contoso Supply", "contoso", 10)], start=1
        )
    ]
    ReplenishmentPolicy.objects.get_or_create(
        client=client,
        defaults={"auto_approve_below": Decimal("0"), "over_receipt_tolerance_percent": 5},
    )
    for i, product in enumerate(products):
        supplier = suppliers[i % 2]
        SupplierProduct.objects.get_or_create(
            supplier=supplier,
            product=product,
            defaults={
                "client": client,
                "supplier_sku": f"{supplier.code}-{product.sku}",
                "unit_cost": product.unit_cost,
                "pack_multiple": rng.choice([1, 6, 12, 24]),
                "min_order_qty": rng.choice([1, 1, 10, 20]),
                "preferred": True,
            },
        )
    levels = StockLevel.objects.filter(client=client).values_list("product_id", "warehouse_id")
    rules = [
        ReorderRule(
            client=client,
            product_id=product_id,
            warehouse_id=warehouse_id,
            policy=ReorderRule.Policy.DEMAND if product_id % 3 == 0 else ReorderRule.Policy.MIN_MAX,
            min_qty=10,
            max_qty=60,
        )
        for product_id, warehouse_id in levels
    ]
    ReorderRule.objects.bulk_create(rules, ignore_conflicts=True)
    late = _late_po(client=client, supplier=suppliers[1], products=products)
    return f"{client.code}: {len(suppliers)} suppliers, {len(rules)} reorder rules, late {late}"


def _late_po(*, client, supplier, products) -> str:
    existing = PurchaseOrder.objects.filter(client=client, note=LATE_NOTE).first()
    if existing:
        return str(existing)
    level = (
        StockLevel.objects.filter(client=client, product__in=products)
        .exclude(warehouse__code="EAST")
        .order_by("pk")
        .first()
    )
    if level is None:
        return "none"
    po = PurchaseOrder.objects.create(
        client=client,
        supplier=supplier,
        warehouse_id=level.warehouse_id,
        status=PurchaseOrder.Status.APPROVED,
        currency=client.currency,
        note=LATE_NOTE,
    )
    PurchaseOrderLine.objects.create(
        purchase_order=po,
        product_id=level.product_id,
        supplier_sku=f"{supplier.code}-{level.product.sku}",
        quantity=48,
        unit_cost=level.product.unit_cost,
    )
    # Keep the demo quiet: the supplier's copy goes to memory, not the console.
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        purchasing.purchase_order_send(purchase_order=po)
    purchasing.purchase_order_reschedule(
        purchase_order=po, expected_on=timezone.localdate() - timedelta(days=3)
    )
    po.refresh_from_db()
    return str(po)
