"""Replenishment fixtures: a client with a supplier, terms and reorder rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inventory.models import ReorderRule, ReplenishmentPolicy, Supplier, SupplierProduct


@pytest.fixture
def make_supplier(db):
    def make(client, code="SUP", **kwargs) -> Supplier:
        kwargs.setdefault("name", f"Supplier {code}")
        kwargs.setdefault("email", f"{code.lower()}@supplier.example")
        kwargs.setdefault("lead_time_days", 5)
        return Supplier.objects.create(client=client, code=code, **kwargs)

    return make


@pytest.fixture
def make_terms(db):
    def make(supplier, product, **kwargs) -> SupplierProduct:
        kwargs.setdefault("supplier_sku", f"S-{product.sku}")
        kwargs.setdefault("unit_cost", Decimal("2.50"))
        kwargs.setdefault("preferred", True)
        return SupplierProduct.objects.create(
            client=product.client, supplier=supplier, product=product, **kwargs
        )

    return make


@pytest.fixture
def make_rule(db):
    def make(product, warehouse, **kwargs) -> ReorderRule:
        return ReorderRule.objects.create(
            client=product.client, product=product, warehouse=warehouse, **kwargs
        )

    return make


@pytest.fixture
def make_policy(db):
    def make(client, **kwargs) -> ReplenishmentPolicy:
        policy, _ = ReplenishmentPolicy.objects.update_or_create(client=client, defaults=kwargs)
        return policy

    return make
