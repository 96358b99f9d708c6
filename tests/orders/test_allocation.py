"""The allocation engine: warehouse choice, partial and full backorders, preemption by priority."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import StockLevel
from orders.models import Allocation, Order, OrderEvent
from orders.services import (
    order_expedite,
    order_hold,
    order_move,
    orders_allocate,
    priority_key,
)
from tests.invariants import assert_stock_invariants

S = Order.Status


@pytest.fixture
def wh(make_warehouse):
    """Three warehouses, created (and so numbered) A, B, C."""
    return {code: make_warehouse(f"WH-{code}") for code in "ABC"}


def allocations(order: Order) -> dict[tuple[str, str], int]:
    """{(sku, warehouse code): units reserved} for the order, read from the database."""
    return {
        (a.line.product.sku, a.stock_level.warehouse.code): a.quantity
        for a in Allocation.objects.filter(line__order=order).select_related(
            "line__product", "stock_level__warehouse"
        )
    }


def level(product, warehouse) -> StockLevel:
    return StockLevel.objects.get(product=product, warehouse=warehouse)


def line_counts(order: Order) -> list[tuple[int, int]]:
    """[(allocated, backordered)] per line, in line order."""
    return list(order.lines.order_by("line_no").values_list("qty_allocated", "qty_backordered"))


def fresh(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


# -- warehouse choice -------------------------------------------------------------------------


def test_single_warehouse_covers_everything(retailer, wh, make_product, make_order):
    product = make_product(retailer, "TEE", stock={wh["A"]: 5})
    order = make_order(retailer, [(product, 3)], allocate=False)

    report = orders_allocate(order_ids=[order.pk])

    order = fresh(order)
    assert order.status == S.READY
    assert order.segment == Order.Segment.STANDARD
    assert allocations(order) == {("TEE", "WH-A"): 3}
    assert line_counts(order) == [(3, 0)]
    stock = level(product, wh["A"])
    assert (stock.on_hand, stock.allocated, stock.backordered, stock.available) == (5, 3, 0, 2)
    assert (report.orders, report.ready, report.backordered) == (1, 1, 0)
    assert (report.units_allocated, report.units_backordered) == (3, 0)
    event = order.events.get(kind=OrderEvent.Kind.ALLOCATION)
    assert (event.from_status, event.to_status, event.message) == (
        S.NEW,
        S.READY,
        "Allocation: 3 reserved, 0 backordered.",
    )
    assert_stock_invariants()


def test_allocating_a_ready_order_again_changes_nothing(retailer, wh, make_product, make_order):
    product = make_product(retailer, "TEE", stock={wh["A"]: 5})
    order = make_order(retailer, [(product, 3)])
    events = order.events.count()

    report = orders_allocate(order_ids=[order.pk])

    assert report.units_allocated == 0
    assert allocations(order) == {("TEE", "WH-A"): 3}
    assert level(product, wh["A"]).allocated == 3
    assert order.events.count() == events
    assert_stock_invariants()


def test_prefers_one_warehouse_covering_the_line_over_splitting(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "MUG", stock={wh["A"]: 3, wh["B"]: 4})
    order = make_order(retailer, [(product, 4)])

    assert fresh(order).status == S.READY
    assert allocations(order) == {("MUG", "WH-B"): 4}
    assert level(product, wh["A"]).allocated == 0
    assert_stock_invariants()


def test_prefers_one_warehouse_covering_the_whole_order_over_splitting(
    retailer, wh, make_product, make_order
):
    # A has far more of the first product, but only B can ship the whole order at once.
    shirt = make_product(retailer, "SHIRT", stock={wh["A"]: 10, wh["B"]: 3})
    cap = make_product(retailer, "CAP", stock={wh["A"]: 1, wh["B"]: 2})
    order = make_order(retailer, [(shirt, 3), (cap, 2)])

    assert fresh(order).status == S.READY
    assert allocations(order) == {("SHIRT", "WH-B"): 3, ("CAP", "WH-B"): 2}
    assert (level(shirt, wh["A"]).allocated, level(cap, wh["A"]).allocated) == (0, 0)
    assert_stock_invariants()


def test_splits_over_the_fewest_warehouses(retailer, wh, make_product, make_order):
    product = make_product(retailer, "BAG", stock={wh["A"]: 2, wh["B"]: 3, wh["C"]: 4})
    order = make_order(retailer, [(product, 6)])

    assert fresh(order).status == S.READY
    assert allocations(order) == {("BAG", "WH-C"): 4, ("BAG", "WH-B"): 2}
    assert [level(product, w).allocated for w in wh.values()] == [0, 2, 4]
    assert line_counts(order) == [(6, 0)]
    assert_stock_invariants()


def test_split_order_uses_warehouse_covering_most_of_it_first(
    retailer, wh, make_product, make_order
):
    sock = make_product(retailer, "SOCK", stock={wh["A"]: 1, wh["B"]: 2})
    hat = make_product(retailer, "HAT", stock={wh["A"]: 1, wh["B"]: 1})
    order = make_order(retailer, [(sock, 2), (hat, 2)])

    # B covers 3 of the 4 units, A the missing hat.
    assert allocations(order) == {("SOCK", "WH-B"): 2, ("HAT", "WH-B"): 1, ("HAT", "WH-A"): 1}
    assert_stock_invariants()


def test_stock_in_an_inactive_warehouse_is_not_allocated(retailer, wh, make_product, make_order):
    product = make_product(retailer, "LAMP", stock={wh["A"]: 5, wh["B"]: 2})
    wh["A"].active = False
    wh["A"].save()
    order = make_order(retailer, [(product, 3)])

    assert fresh(order).status == S.BACKORDERED
    assert allocations(order) == {("LAMP", "WH-B"): 2}
    assert line_counts(order) == [(2, 1)]
    assert level(product, wh["A"]).allocated == 0
    assert level(product, wh["B"]).backordered == 1
    assert_stock_invariants()


# -- backorders -------------------------------------------------------------------------------


def test_partial_allocation_backorders_the_rest(retailer, wh, make_product, make_order):
    product = make_product(retailer, "PEN", stock={wh["A"]: 3})
    order = make_order(retailer, [(product, 5)], allocate=False)

    report = orders_allocate(order_ids=[order.pk])

    order = fresh(order)
    assert (order.status, order.segment) == (S.BACKORDERED, Order.Segment.BACKORDERED)
    assert allocations(order) == {("PEN", "WH-A"): 3}
    line = order.lines.get()
    assert (line.qty_allocated, line.qty_backordered) == (3, 2)
    assert line.backorder_level == level(product, wh["A"])
    stock = level(product, wh["A"])
    assert (stock.on_hand, stock.allocated, stock.backordered, stock.projected) == (3, 3, 2, -2)
    assert (report.ready, report.backordered) == (0, 1)
    assert (report.units_allocated, report.units_backordered) == (3, 2)
    event = order.events.get(kind=OrderEvent.Kind.ALLOCATION)
    assert (event.from_status, event.to_status, event.message) == (
        S.NEW,
        S.BACKORDERED,
        "Allocation: 3 reserved, 2 backordered.",
    )
    assert_stock_invariants()


def test_partial_order_with_one_short_line(retailer, wh, make_product, make_order):
    plenty = make_product(retailer, "PLENTY", stock={wh["A"]: 10})
    short = make_product(retailer, "SHORT", stock={wh["A"]: 1})
    order = make_order(retailer, [(plenty, 2), (short, 4)])

    assert fresh(order).status == S.BACKORDERED
    assert line_counts(order) == [(2, 0), (1, 3)]
    assert level(short, wh["A"]).backordered == 3
    assert level(plenty, wh["A"]).backordered == 0
    assert_stock_invariants()


def test_full_backorder_when_there_is_no_stock_at_all(retailer, wh, make_product, make_order):
    product = make_product(retailer, "GHOST")  # not even a stock level yet
    order = make_order(retailer, [(product, 5)])

    order = fresh(order)
    assert order.status == S.BACKORDERED
    assert allocations(order) == {}
    assert line_counts(order) == [(0, 5)]
    # The demand waits on a stock level created in the first active warehouse.
    stock = StockLevel.objects.get(product=product)
    assert stock.warehouse == wh["A"]
    assert (stock.on_hand, stock.allocated, stock.backordered) == (0, 0, 5)
    assert order.lines.get().backorder_level == stock
    assert_stock_invariants()


def test_full_backorder_with_empty_stock_levels(retailer, wh, make_product, make_order):
    product = make_product(retailer, "EMPTY")
    for w in wh.values():
        StockLevel.objects.create(client=retailer, product=product, warehouse=w)
    first = make_order(retailer, [(product, 2)])
    second = make_order(retailer, [(product, 1)])

    assert (fresh(first).status, fresh(second).status) == (S.BACKORDERED, S.BACKORDERED)
    assert (
        sum(StockLevel.objects.filter(product=product).values_list("backordered", flat=True)) == 3
    )
    assert Allocation.objects.count() == 0
    assert_stock_invariants()


# -- preemption -------------------------------------------------------------------------------


def test_more_urgent_order_takes_units_from_less_urgent_ready_order(
    retailer, wh, make_product, make_order, make_user
):
    agent = make_user(clients=[retailer])
    product = make_product(retailer, "GPU", stock={wh["A"]: 3})
    relaxed = make_order(retailer, [(product, 3)])
    assert fresh(relaxed).status == S.READY
    urgent = make_order(retailer, [(product, 2)], expedite=True, allocate=False)
    assert priority_key(urgent) < priority_key(fresh(relaxed))

    report = orders_allocate(order_ids=[urgent.pk], user=agent)

    assert report.preempted_orders == {relaxed.pk}
    # The report describes the batch: the urgent order is fully covered. The units the
    # pre-empted order now waits for are its own, not the batch's.
    assert (report.orders, report.ready, report.backordered) == (1, 1, 0)
    assert (report.units_allocated, report.units_backordered) == (2, 0)
    assert fresh(urgent).status == S.READY
    assert allocations(urgent) == {("GPU", "WH-A"): 2}
    relaxed = fresh(relaxed)
    assert (relaxed.status, relaxed.segment) == (S.BACKORDERED, Order.Segment.BACKORDERED)
    assert allocations(relaxed) == {("GPU", "WH-A"): 1}
    assert line_counts(relaxed) == [(1, 2)]
    stock = level(product, wh["A"])
    assert (stock.on_hand, stock.allocated, stock.backordered) == (3, 3, 2)
    reassigned, moved = relaxed.events.filter(kind=OrderEvent.Kind.ALLOCATION).order_by("id")[1:]
    assert reassigned.message == (
        f"2 × GPU re-assigned to more urgent order {urgent.number} "
        f"(priority {urgent.priority_score} vs {relaxed.priority_score})."
    )
    assert reassigned.user == agent
    assert (moved.from_status, moved.to_status, moved.user) == (S.READY, S.BACKORDERED, agent)
    assert moved.message == "Stock re-assigned: 1 reserved, 2 backordered."
    assert_stock_invariants()


def test_preemption_takes_from_the_least_urgent_first(retailer, wh, make_product, make_order):
    product = make_product(retailer, "CPU", stock={wh["A"]: 4})
    now = timezone.now()
    medium = make_order(retailer, [(product, 2)], ship_by=now + timedelta(hours=30))
    low = make_order(retailer, [(product, 2)], ship_by=now + timedelta(hours=100))
    assert priority_key(medium) < priority_key(low)

    urgent = make_order(retailer, [(product, 2)], expedite=True)

    assert fresh(urgent).status == S.READY
    assert fresh(medium).status == S.READY
    assert line_counts(medium) == [(2, 0)]
    assert fresh(low).status == S.BACKORDERED
    assert line_counts(low) == [(0, 2)]
    assert allocations(low) == {}
    assert not medium.events.filter(message__contains="re-assigned").exists()
    assert_stock_invariants()


def test_preemption_takes_from_backordered_order_and_split_allocations(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "RAM", stock={wh["A"]: 1, wh["B"]: 2})
    low = make_order(retailer, [(product, 5)])  # 1 at A, 2 at B, 2 backordered
    assert fresh(low).status == S.BACKORDERED
    assert line_counts(low) == [(3, 2)]

    urgent = make_order(retailer, [(product, 3)], expedite=True)

    assert fresh(urgent).status == S.READY
    assert sum(allocations(urgent).values()) == 3
    assert line_counts(low) == [(0, 5)]
    assert allocations(low) == {}
    assert fresh(low).status == S.BACKORDERED
    assert_stock_invariants()


def test_less_urgent_order_never_takes_from_more_urgent(retailer, wh, make_product, make_order):
    product = make_product(retailer, "SSD", stock={wh["A"]: 3})
    urgent = make_order(retailer, [(product, 3)], expedite=True)
    urgent_events = urgent.events.count()

    relaxed = make_order(retailer, [(product, 1)])

    assert fresh(urgent).status == S.READY
    assert allocations(urgent) == {("SSD", "WH-A"): 3}
    assert urgent.events.count() == urgent_events
    assert fresh(relaxed).status == S.BACKORDERED
    assert line_counts(relaxed) == [(0, 1)]
    assert_stock_invariants()


def test_equal_priority_is_first_come_first_served(retailer, wh, make_product, make_order):
    product = make_product(retailer, "HDD", stock={wh["A"]: 1})
    now = timezone.now()
    kwargs = {"placed_at": now - timedelta(hours=2), "ship_by": now + timedelta(days=10)}
    first = make_order(retailer, [(product, 1)], **kwargs)
    second = make_order(retailer, [(product, 1)], **kwargs)
    assert fresh(first).priority_score == fresh(second).priority_score

    assert (fresh(first).status, fresh(second).status) == (S.READY, S.BACKORDERED)
    assert_stock_invariants()


def test_less_urgent_order_of_a_batch_never_takes_from_a_more_urgent_outsider(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "NIC", stock={wh["A"]: 2})
    now = timezone.now()
    middle = make_order(retailer, [(product, 2)], ship_by=now + timedelta(hours=40))
    urgent = make_order(retailer, [(product, 1)], expedite=True, allocate=False)
    relaxed = make_order(
        retailer, [(product, 1)], ship_by=now + timedelta(hours=120), allocate=False
    )
    assert priority_key(urgent) < priority_key(fresh(middle)) < priority_key(relaxed)

    report = orders_allocate(order_ids=[relaxed.pk, urgent.pk])

    assert report.preempted_orders == {middle.pk}
    assert (fresh(urgent).status, line_counts(urgent)) == (S.READY, [(1, 0)])
    assert (fresh(middle).status, line_counts(middle)) == (S.BACKORDERED, [(1, 1)])
    assert (fresh(relaxed).status, line_counts(relaxed)) == (S.BACKORDERED, [(0, 1)])
    assert (report.units_allocated, report.units_backordered) == (1, 1)
    assert_stock_invariants()


@pytest.mark.parametrize("status", [S.PICKING, S.PACKED, S.ON_HOLD])
def test_orders_on_the_floor_or_on_hold_are_never_preempted(
    retailer, wh, make_product, make_order, status
):
    product = make_product(retailer, "CAM", stock={wh["A"]: 3})
    relaxed = make_order(retailer, [(product, 3)])
    if status in (S.PICKING, S.PACKED):
        order_move(order=relaxed, to_status=S.PICKING)
    if status == S.PACKED:
        order_move(order=relaxed, to_status=S.PACKED)
    if status == S.ON_HOLD:
        order_hold(order=relaxed, reason="customer asked to wait")

    urgent = make_order(retailer, [(product, 2)], expedite=True)

    assert fresh(relaxed).status == status
    assert allocations(relaxed) == {("CAM", "WH-A"): 3}
    assert fresh(urgent).status == S.BACKORDERED
    assert line_counts(urgent) == [(0, 2)]
    assert level(product, wh["A"]).backordered == 2
    assert_stock_invariants()


def test_expediting_a_backordered_order_lets_it_take_stock(retailer, wh, make_product, make_order):
    product = make_product(retailer, "TAB", stock={wh["A"]: 2})
    first = make_order(retailer, [(product, 2)])
    waiting = make_order(retailer, [(product, 2)])
    assert (fresh(first).status, fresh(waiting).status) == (S.READY, S.BACKORDERED)

    order_expedite(order=waiting)

    assert (fresh(first).status, fresh(waiting).status) == (S.BACKORDERED, S.READY)
    assert allocations(waiting) == {("TAB", "WH-A"): 2}
    assert line_counts(first) == [(0, 2)]
    assert_stock_invariants()


def test_batch_allocation_serves_most_urgent_first_whatever_the_id_order(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "KEY", stock={wh["A"]: 3})
    now = timezone.now()
    orders = [
        make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=h), allocate=False)
        for h in (90, 20, 60, 40, 120)
    ]

    report = orders_allocate(order_ids=[o.pk for o in orders])

    assert (report.orders, report.ready, report.backordered) == (5, 3, 2)
    assert (report.units_allocated, report.units_backordered) == (3, 2)
    assert [fresh(o).status for o in orders] == [
        S.BACKORDERED,
        S.READY,
        S.READY,
        S.READY,
        S.BACKORDERED,
    ]
    assert report.preempted_orders == set()
    assert_stock_invariants()


# -- the plan for orders not inserted yet (the intake handshake) --------------------------------
def test_a_plan_for_new_orders_is_written_only_once_their_ids_are_bound(retailer, wh, make_product):
    from django.db import transaction

    from orders.services.allocation import NewOrderDemand, allocation_plan

    lamp = make_product(retailer, "LAMP", stock={wh["A"]: 3})
    now = timezone.now()
    demand = NewOrderDemand(
        client_id=retailer.pk,
        number="NEW-1",
        priority_score=50,
        ship_by=now + timedelta(days=1),
        placed_at=now,
        expedite=False,
        segment="standard",
        lines=[(lamp.pk, 5)],
    )
    with transaction.atomic():
        plan = allocation_plan(new_orders=[demand])
        (order,), (line,) = plan.new_orders, plan.new_lines
        assert (order.status, line.qty_allocated, line.qty_backordered) == (S.BACKORDERED, 3, 2)
        with pytest.raises(RuntimeError, match="bind_inserted"):
            plan.write()
        with pytest.raises(ValueError):
            plan.bind_inserted(order_ids=[], line_ids=[])
        transaction.set_rollback(True)
    assert level(lamp, wh["A"]).allocated == 0  # nothing was written
