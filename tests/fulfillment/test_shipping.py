"""Shipments: units leave the building, allocations are consumed, the ledger and stock levels
stay exact, and the order moves to shipped only when nothing is left open."""

from __future__ import annotations

import pytest

from fulfillment import services
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import Shipment, ShipmentLine, TrackingEvent, compute_eta
from inventory.models import StockLevel, StockMovement
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Allocation, Order, OrderEvent
from orders.services import order_ship_lines
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_client, make_warehouse, make_product):
    client = make_client("ACME")
    east, west = make_warehouse("EAST"), make_warehouse("WEST")
    lamp = make_product(client, "LAMP", stock={east: 10})
    mug = make_product(client, "MUG", stock={east: 5, west: 5})
    return {"client": client, "east": east, "west": west, "lamp": lamp, "mug": mug}


def level(product, warehouse) -> StockLevel:
    return StockLevel.objects.get(product=product, warehouse=warehouse)


def test_full_shipment_consumes_allocations_and_ships_the_order(
    shop, rates, make_order, to_status, make_user
):
    user = make_user()
    order = to_status(make_order(shop["client"], [(shop["lamp"], 3), (shop["mug"], 2)]), "packed")
    lamp_before = level(shop["lamp"], shop["east"])
    assert (lamp_before.on_hand, lamp_before.allocated) == (10, 3)

    shipment = services.shipment_create(
        order=order, service=rates.ground, tracking_number="1Z999AA10123456784", user=user
    )

    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert order.segment == Order.Segment.CLOSED
    lamp, mug = level(shop["lamp"], shop["east"]), level(shop["mug"], shop["east"])
    assert (lamp.on_hand, lamp.allocated) == (7, 0)
    assert (mug.on_hand, mug.allocated) == (3, 0)
    moves = StockMovement.objects.filter(kind=StockMovement.Kind.SHIPMENT).order_by("pk")
    assert [(m.stock_level_id, m.quantity, m.balance_after) for m in moves] == [
        (lamp.pk, -3, 7),
        (mug.pk, -2, 3),
    ]
    assert {m.reference for m in moves} == {"SWIFT 1Z999AA10123456784"}
    assert all(m.user == user for m in moves)
    assert not Allocation.objects.filter(line__order=order).exists()
    lines = {ln.product.sku: ln for ln in order.lines.select_related("product")}
    assert (lines["LAMP"].qty_shipped, lines["LAMP"].qty_allocated) == (3, 0)
    assert (lines["MUG"].qty_shipped, lines["MUG"].qty_allocated) == (2, 0)

    assert shipment.client == shop["client"] and shipment.warehouse == shop["east"]
    assert shipment.carrier == rates.swift and shipment.service == rates.ground
    assert shipment.eta == compute_eta(shipment.shipped_at, 5)
    assert shipment.tracking_url == "https://track.swift.example/t/1Z999AA10123456784"
    assert sorted(shipment.lines.values_list("order_line__product__sku", "quantity")) == [
        ("LAMP", 3),
        ("MUG", 2),
    ]
    label = TrackingEvent.objects.get(shipment=shipment)
    assert label.status == "label_created" and label.source == "label"
    event = order.events.first()
    assert event.kind == OrderEvent.Kind.SHIPMENT
    assert (event.from_status, event.to_status) == ("packed", "shipped")
    assert "1Z999AA10123456784" in event.message
    assert_stock_invariants()


def test_partial_shipments_leave_the_rest_allocated_until_the_last_one(
    shop, rates, make_order, to_status
):
    order = to_status(make_order(shop["client"], [(shop["lamp"], 4), (shop["mug"], 2)]), "packed")
    lamp_line = order.lines.get(product=shop["lamp"])
    mug_line = order.lines.get(product=shop["mug"])

    services.shipment_create(
        order=order,
        service=rates.ground,
        tracking_number="PART-1",
        quantities={lamp_line.pk: 1, mug_line.pk: 2},
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED  # something is still open: it stays packed
    lamp_line.refresh_from_db()
    assert (lamp_line.qty_shipped, lamp_line.qty_allocated) == (1, 3)
    assert Allocation.objects.get(line=lamp_line).quantity == 3
    assert not Allocation.objects.filter(line=mug_line).exists()
    lamp = level(shop["lamp"], shop["east"])
    assert (lamp.on_hand, lamp.allocated) == (9, 3)
    partial = order.events.first()
    assert partial.kind == OrderEvent.Kind.SHIPMENT and "Partial shipment" in partial.message
    assert partial.to_status == ""
    assert_stock_invariants()

    services.shipment_create(order=order, service=rates.express, tracking_number="PART-2")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    lamp = level(shop["lamp"], shop["east"])
    assert (lamp.on_hand, lamp.allocated) == (6, 0)
    assert (
        sum(StockMovement.objects.filter(stock_level=lamp).values_list("quantity", flat=True)) == 6
    )
    assert Shipment.objects.filter(order=order).count() == 2
    assert_stock_invariants()


def test_a_split_order_ships_once_per_warehouse(shop, rates, make_order, to_status):
    order = make_order(shop["client"], [(shop["mug"], 8)])
    assert set(
        Allocation.objects.filter(line__order=order).values_list(
            "stock_level__warehouse__code", "quantity"
        )
    ) == {("EAST", 5), ("WEST", 3)}
    order = to_status(order, "packed")
    with pytest.raises(FulfillmentError, match="one warehouse at a time"):
        services.shipment_create(order=order, service=rates.ground, tracking_number="S-0")
    services.shipment_create(
        order=order, service=rates.ground, tracking_number="S-1", warehouse=shop["west"]
    )
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    assert (
        level(shop["mug"], shop["west"]).on_hand,
        level(shop["mug"], shop["west"]).allocated,
    ) == (2, 0)
    shipment = services.shipment_create(
        order=order, service=rates.ground, tracking_number="S-2", warehouse=shop["east"]
    )
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    assert shipment.lines.get().stock_level == level(shop["mug"], shop["east"])
    assert_stock_invariants()


def test_backordered_order_can_ship_what_it_has(shop, rates, make_order, make_product):
    scarce = make_product(shop["client"], "SCARCE", stock={shop["east"]: 1})
    order = make_order(shop["client"], [(shop["lamp"], 2), (scarce, 3)])
    assert order.status == Order.Status.BACKORDERED
    services.shipment_create(order=order, service=rates.ground, tracking_number="B-1")
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED  # 2 units of SCARCE still wait for stock
    scarce_line = order.lines.get(product=scarce)
    assert (scarce_line.qty_shipped, scarce_line.qty_backordered) == (1, 2)
    assert level(scarce, shop["east"]).backordered == 2
    assert_stock_invariants()


def test_refusals_change_nothing(shop, rates, make_order, to_status, make_client):
    order = make_order(shop["client"], [(shop["lamp"], 2)])
    line = order.lines.get()
    before = (StockMovement.objects.count(), Allocation.objects.get(line=line).quantity)

    with pytest.raises(InvalidOrderStatus, match="only packed"):
        services.shipment_create(order=order, service=rates.ground, tracking_number="X-1")
    order = to_status(order, "packed")
    with pytest.raises(OrderValidationError, match="only 2 unit"):
        services.shipment_create(
            order=order, service=rates.ground, tracking_number="X-2", quantities={line.pk: 3}
        )
    with pytest.raises(OrderValidationError, match="no line"):
        services.shipment_create(
            order=order, service=rates.ground, tracking_number="X-3", quantities={999999: 1}
        )
    with pytest.raises(OrderValidationError, match="every quantity is zero"):
        services.shipment_create(
            order=order, service=rates.ground, tracking_number="X-4", quantities={line.pk: 0}
        )
    with pytest.raises(OrderValidationError, match="whole numbers"):
        order_ship_lines(order=order, quantities={line.pk: -1})
    with pytest.raises(FulfillmentError, match="not a valid tracking number"):
        services.shipment_create(order=order, service=rates.ground, tracking_number="<script>")
    with pytest.raises(FulfillmentError, match="missing"):
        services.shipment_create(order=order, service=rates.ground, tracking_number="  ")
    rates.ground.active = False
    rates.ground.save()
    with pytest.raises(FulfillmentError, match="not active"):
        services.shipment_create(order=order, service=rates.ground, tracking_number="X-5")

    assert (StockMovement.objects.count(), Allocation.objects.get(line=line).quantity) == before
    assert not Shipment.objects.exists() and not ShipmentLine.objects.exists()
    order.refresh_from_db()
    assert order.status == Order.Status.PACKED
    assert_stock_invariants()


def test_a_tracking_number_is_used_once_per_carrier(shop, rates, make_order, to_status):
    first = to_status(make_order(shop["client"], [(shop["lamp"], 1)]), "packed")
    second = to_status(make_order(shop["client"], [(shop["lamp"], 1)]), "packed")
    services.shipment_create(order=first, service=rates.ground, tracking_number="DUP-1")
    with pytest.raises(FulfillmentError, match="already used"):
        services.shipment_create(order=second, service=rates.express, tracking_number="DUP-1")
    second.refresh_from_db()
    assert second.status == Order.Status.PACKED
    # Another carrier may use the same number.
    services.shipment_create(order=second, service=rates.economy, tracking_number="DUP-1")
    assert_stock_invariants()


def test_shipping_closes_the_wave_when_the_floor_is_clear(shop, rates, make_order):
    order = make_order(shop["client"], [(shop["lamp"], 1)])
    wave = services.wave_create(client=shop["client"], warehouse=shop["east"], size=5)
    services.order_pack(order=order)
    wave.refresh_from_db()
    assert wave.status == "done"
    services.shipment_create(order=order, service=rates.ground, tracking_number="W-1")
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED


def test_shippable_means_packed_or_backordered_with_units_to_send(shop, make_order, to_status):
    from fulfillment.selectors import order_is_shippable, orders_split_shippable

    packed = to_status(make_order(shop["client"], [(shop["lamp"], 1)]), "packed")
    ready = make_order(shop["client"], [(shop["lamp"], 1)])
    part = make_order(shop["client"], [(shop["lamp"], 1), (shop["mug"], 11)])  # 10 mugs exist
    nothing = make_order(shop["client"], [(shop["mug"], 3)])  # every mug is now reserved
    assert part.status == nothing.status == Order.Status.BACKORDERED

    assert order_is_shippable(packed)
    assert order_is_shippable(part)  # its lamp and ten mugs can go ahead
    assert not order_is_shippable(nothing)
    assert not order_is_shippable(ready)
    assert orders_split_shippable([ready, packed, nothing]) == ([packed, nothing], [ready])
