"""The replenishment run: drafts per supplier × warehouse, idempotent, demand from orders."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import purchasing
from inventory.demand import demand_provider, register_demand_provider
from inventory.models import PurchaseOrder, PurchaseOrderLine, ReplenishmentRun
from inventory.replenishment import reorder_rule_explain, replenishment_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(make_client, make_warehouse, make_product, make_supplier, make_terms, make_rule):
    client = make_client("ACME")
    east, west = make_warehouse("EAST"), make_warehouse("WEST")
    supplier = make_supplier(client, "TENTCO", lead_time_days=6)
    lamp = make_product(client, "LAMP", stock={east: 12})
    mug = make_product(client, "MUG", stock={east: 50, west: 5})
    make_terms(supplier, lamp, pack_multiple=24, unit_cost=Decimal("3.00"))
    make_terms(supplier, mug, min_order_qty=40, unit_cost=Decimal("1.00"))
    rules = {
        "lamp_east": make_rule(lamp, east, min_qty=20, max_qty=100),
        "mug_east": make_rule(mug, east, min_qty=10, max_qty=60),  # 50 ≥ 10: nothing
        "mug_west": make_rule(mug, west, min_qty=10, max_qty=30),
    }
    return {
        "client": client,
        "east": east,
        "west": west,
        "supplier": supplier,
        "lamp": lamp,
        "mug": mug,
        "rules": rules,
    }


def _drafts():
    return PurchaseOrder.objects.filter(status="draft")


def test_run_writes_one_draft_per_supplier_and_warehouse(setup):
    run = replenishment_run(trigger="test")
    assert run.status == "done"
    assert run.rules_evaluated == 3 and run.suggestions == 2
    assert run.pos_created == 2 and run.lines_written == 2
    east = PurchaseOrder.objects.get(warehouse=setup["east"])
    west = PurchaseOrder.objects.get(warehouse=setup["west"])
    assert [(ln.product.sku, ln.quantity) for ln in east.lines.all()] == [("LAMP", 96)]
    assert [(ln.product.sku, ln.quantity) for ln in west.lines.all()] == [("MUG", 40)]
    assert east.number == f"PO-{east.pk:04d}"
    assert east.total_value == Decimal("288.00")
    assert east.expected_on == timezone.localdate() + timedelta(days=6)
    rule = setup["rules"]["lamp_east"]
    rule.refresh_from_db()
    assert rule.suggested_qty == 96 and rule.projected == 12
    assert "12 projected → order 96 = 4 cases of 24 (needs 88)" in rule.explanation


def test_running_twice_gives_the_same_pos(setup):
    replenishment_run()
    before = list(
        PurchaseOrderLine.objects.values_list(
            "purchase_order_id", "product_id", "quantity"
        ).order_by("pk")
    )
    run = replenishment_run()
    assert run.pos_created == 0 and run.pos_updated == 0 and run.lines_written == 0
    after = list(
        PurchaseOrderLine.objects.values_list(
            "purchase_order_id", "product_id", "quantity"
        ).order_by("pk")
    )
    assert after == before
    assert _drafts().count() == 2
    assert ReplenishmentRun.objects.filter(status="done").count() == 2


def test_draft_is_updated_not_duplicated_when_need_changes(setup, make_order):
    replenishment_run()
    # Demand takes 10 lamps out of projected stock: 2 projected → 98 needed → still 96? no: 5 cases
    make_order(setup["client"], [(setup["lamp"], 10)])
    run = replenishment_run()
    assert run.pos_created == 0 and run.pos_updated == 1
    line = PurchaseOrderLine.objects.get(product=setup["lamp"])
    assert line.quantity == 120  # 100 − 2 = 98 → 5 cases of 24
    assert _drafts().filter(warehouse=setup["east"]).count() == 1


def test_need_gone_removes_line_and_empty_draft(setup, make_product):
    from inventory import services as stock

    replenishment_run()
    stock.stock_receive(product=setup["mug"], warehouse=setup["west"], quantity=100)
    run = replenishment_run()
    assert run.lines_written == 1
    assert not _drafts().filter(warehouse=setup["west"]).exists()


def test_approved_and_sent_quantities_count_as_on_order(setup):
    replenishment_run()
    east = PurchaseOrder.objects.get(warehouse=setup["east"])
    purchasing.purchase_order_approve(purchase_order=east)
    run = replenishment_run()
    assert run.pos_created == 0  # the approved 96 lamps cover the shortage
    assert not _drafts().filter(warehouse=setup["east"]).exists()
    purchasing.purchase_order_send(purchase_order=east)
    run = replenishment_run()
    assert run.pos_created == 0
    assert not _drafts().filter(warehouse=setup["east"]).exists()


def test_postponed_delivery_moves_the_date_and_creates_nothing(setup):
    replenishment_run()
    east = PurchaseOrder.objects.get(warehouse=setup["east"])
    purchasing.purchase_order_approve(purchase_order=east)
    purchasing.purchase_order_send(purchase_order=east)
    later = timezone.localdate() + timedelta(days=30)
    purchasing.purchase_order_reschedule(purchase_order=east, expected_on=later)
    run = replenishment_run()
    assert run.pos_created == 0
    east.refresh_from_db()
    assert east.expected_on == later
    assert PurchaseOrder.objects.filter(warehouse=setup["east"]).count() == 1


def test_database_refuses_a_second_draft_for_the_same_supplier_and_warehouse(setup):
    replenishment_run()
    with pytest.raises(IntegrityError), transaction.atomic():
        PurchaseOrder.objects.create(
            client=setup["client"], supplier=setup["supplier"], warehouse=setup["east"]
        )


def test_failed_run_is_recorded_and_writes_nothing(setup, monkeypatch):
    from inventory import replenishment

    def boom(*args, **kwargs):
        raise RuntimeError("worker crashed mid-run")

    monkeypatch.setattr(replenishment, "update_rows", boom)
    with pytest.raises(RuntimeError):
        replenishment_run()
    run = ReplenishmentRun.objects.get()
    assert run.status == "failed" and "worker crashed" in run.errors
    assert not PurchaseOrder.objects.exists()
    monkeypatch.undo()
    # The retry after the crash: one draft per supplier × warehouse, as if it ran once.
    replenishment_run()
    assert _drafts().count() == 2


def test_auto_approve_below_threshold(setup, make_policy):
    make_policy(setup["client"], auto_approve_below=Decimal("100.00"))
    run = replenishment_run()
    assert run.pos_auto_approved == 1  # the 40 mugs (40.00); the lamps (288.00) wait
    west = PurchaseOrder.objects.get(warehouse=setup["west"])
    assert west.status == "approved" and west.auto_approved
    assert PurchaseOrder.objects.get(warehouse=setup["east"]).status == "draft"


def test_demand_driven_rule_uses_order_history(
    setup, make_rule, make_order, make_product, make_terms
):
    from inventory.models import ReorderRule

    client, east = setup["client"], setup["east"]
    tent = make_product(client, "TENT", stock={east: 100})
    make_terms(setup["supplier"], tent, unit_cost=Decimal("10.00"))
    rule = make_rule(tent, east, policy=ReorderRule.Policy.DEMAND, demand_days=4, review_days=2)
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    # 4 days of history: 10, 0, 20, 10 units (d̄ 10, σ √50); today's order does not count.
    for days_ago, qty in ((1, 10), (3, 20), (4, 10), (0, 99)):
        make_order(client, [(tent, qty)], placed_at=today - timedelta(days=days_ago))
    replenishment_run()
    rule.refresh_from_db()
    assert rule.daily_demand == pytest.approx(10)
    # L = 6 (supplier default), σ_L = 0: SS = 1.645·√(6·50) = 28.49; ROP = 88.49; OUT = 108.49
    assert rule.reorder_point == pytest.approx(88.4922, abs=1e-3)
    assert rule.order_up_to == pytest.approx(108.4922, abs=1e-3)
    # projected = 100 on hand − 139 reserved/backordered = −39 → ⌈147.49⌉ = 148
    assert rule.projected == -39
    assert rule.suggested_qty == 148


def test_without_demand_provider_demand_is_zero(setup, make_rule, make_product, make_terms):
    from inventory.models import ReorderRule

    tent = make_product(setup["client"], "TENT2", stock={setup["east"]: 10})
    make_terms(setup["supplier"], tent)
    rule = make_rule(tent, setup["east"], policy=ReorderRule.Policy.DEMAND)
    saved = demand_provider()
    register_demand_provider(None)
    try:
        replenishment_run()
        explained = reorder_rule_explain(rule)
    finally:
        register_demand_provider(saved)
    rule.refresh_from_db()
    assert rule.suggested_qty == 0 and rule.explanation == ""  # nothing to order: not stored
    assert explained.startswith("0.0/day over 28 days")
    assert explained.endswith("→ nothing to order")


def test_rule_page_plan_is_the_runs_plan_and_cleared_when_need_goes(setup):
    from inventory import services as stock

    replenishment_run()
    rule = setup["rules"]["lamp_east"]
    rule.refresh_from_db()
    assert reorder_rule_explain(rule) == rule.explanation
    stock.stock_receive(product=setup["lamp"], warehouse=setup["east"], quantity=500)
    replenishment_run()
    rule.refresh_from_db()
    assert (rule.suggested_qty, rule.order_by, rule.explanation) == (0, None, "")
    assert "512 projected, not below 20 → nothing to order" in reorder_rule_explain(rule)


def test_changing_the_rules_supplier_moves_the_line_instead_of_doubling_it(
    setup, make_supplier, make_terms
):
    replenishment_run()
    other = make_supplier(setup["client"], "LAMPCO")
    make_terms(other, setup["lamp"], preferred=False, pack_multiple=1)
    rule = setup["rules"]["lamp_east"]
    rule.supplier = other
    rule.save()
    run = replenishment_run()
    assert run.pos_created == 1
    lamp_lines = PurchaseOrderLine.objects.filter(product=setup["lamp"])
    assert [(ln.purchase_order.supplier.code, ln.quantity) for ln in lamp_lines] == [
        ("LAMPCO", 88)  # 100 − 12, no packs at LAMPCO
    ]
    assert not _drafts().filter(supplier=setup["supplier"], warehouse=setup["east"]).exists()
    assert replenishment_run().lines_written == 0
