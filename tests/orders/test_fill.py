"""Stock arriving (receipt, return, adjustment, transfer, cancellation) fills backorders by
priority, then promise, then age — inside the transaction that made the stock available."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services as inventory
from inventory.models import StockLevel, StockMovement
from orders import services as order_services
from orders.models import Allocation, Order, OrderEvent
from orders.services import order_cancel, order_hold, order_release, priority_key
from tests.invariants import assert_stock_invariants

S = Order.Status


@pytest.fixture
def wh(make_warehouse):
    return {code: make_warehouse(f"WH-{code}") for code in "ABC"}


def status(order: Order) -> str:
    return Order.objects.get(pk=order.pk).status


def line_counts(order: Order) -> list[tuple[int, int]]:
    return list(order.lines.order_by("line_no").values_list("qty_allocated", "qty_backordered"))


def _receive(product, wh, qty):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=qty, reference="PO-1")


def _return(product, wh, qty):
    inventory.stock_receive(
        product=product, warehouse=wh["A"], quantity=qty, kind=StockMovement.Kind.RETURN
    )


def _adjust(product, wh, qty):
    inventory.stock_adjust(product=product, warehouse=wh["A"], delta=qty, reason="found in count")


def _transfer(product, wh, qty):
    # The units sit in warehouse C, which is closed for allocation; moving them to A frees them.
    inventory.stock_transfer(
        product=product, from_warehouse=wh["C"], to_warehouse=wh["A"], quantity=qty
    )


ARRIVALS = {"receive": _receive, "return": _return, "adjust": _adjust, "transfer": _transfer}


@pytest.fixture
def scarce(retailer, wh, make_product):
    """A product with 5 units in closed warehouse C and none elsewhere."""
    product = make_product(retailer, "SCARCE", stock={wh["C"]: 5})
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    wh["C"].active = False
    wh["C"].save()
    return product


@pytest.fixture
def three_waiting(retailer, scarce, make_order):
    """Three orders waiting for one unit each, created least urgent first."""
    now = timezone.now()
    low = make_order(retailer, [(scarce, 1)], ship_by=now + timedelta(hours=120))
    high = make_order(retailer, [(scarce, 1)], ship_by=now + timedelta(hours=6), expedite=True)
    mid = make_order(retailer, [(scarce, 1)], ship_by=now + timedelta(hours=40))
    orders = {"low": low, "mid": mid, "high": high}
    assert sorted(orders, key=lambda name: priority_key(orders[name])) == ["high", "mid", "low"]
    assert {status(o) for o in orders.values()} == {S.BACKORDERED}
    assert StockLevel.objects.get(product=scarce, warehouse__code="WH-A").backordered == 3
    return orders


@pytest.mark.parametrize("arrival", ARRIVALS)
def test_one_arriving_unit_goes_to_the_most_urgent_order(scarce, wh, three_waiting, arrival):
    ARRIVALS[arrival](scarce, wh, 1)

    high, mid, low = three_waiting["high"], three_waiting["mid"], three_waiting["low"]
    assert (status(high), status(mid), status(low)) == (S.READY, S.BACKORDERED, S.BACKORDERED)
    assert line_counts(high) == [(1, 0)]
    assert line_counts(mid) == line_counts(low) == [(0, 1)]
    assert Order.objects.get(pk=high.pk).segment == Order.Segment.URGENT
    level = StockLevel.objects.get(product=scarce, warehouse=wh["A"])
    assert (level.on_hand, level.allocated, level.backordered) == (1, 1, 2)
    event = high.events.filter(kind=OrderEvent.Kind.ALLOCATION).latest("id")
    assert (event.from_status, event.to_status) == (S.BACKORDERED, S.READY)
    assert_stock_invariants()

    ARRIVALS[arrival](scarce, wh, 1)

    assert (status(mid), status(low)) == (S.READY, S.BACKORDERED)
    assert_stock_invariants()


def test_arrival_of_more_than_needed_fills_everyone_and_leaves_the_rest(scarce, wh, three_waiting):
    _receive(scarce, wh, 5)

    assert {status(o) for o in three_waiting.values()} == {S.READY}
    level = StockLevel.objects.get(product=scarce, warehouse=wh["A"])
    assert (level.on_hand, level.allocated, level.backordered, level.available) == (5, 3, 0, 2)
    assert_stock_invariants()


def test_equal_scores_fill_earliest_promise_first(make_client, wh, make_product, make_order):
    # Only the manual expedite counts for this client, so every score below is 0.
    retailer = make_client(weight_due=0, weight_age=0, weight_value=0, weight_service=0)
    product = make_product(retailer, "TIE")
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    now = timezone.now()
    later = make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=30))
    earlier = make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=10))
    latest = make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=50))
    assert {o.priority_score for o in (later, earlier, latest)} == {0}

    _receive(product, wh, 1)

    assert (status(earlier), status(later), status(latest)) == (
        S.READY,
        S.BACKORDERED,
        S.BACKORDERED,
    )
    _receive(product, wh, 1)
    assert (status(later), status(latest)) == (S.READY, S.BACKORDERED)
    assert_stock_invariants()


def test_equal_score_and_promise_fill_oldest_first(make_client, wh, make_product, make_order):
    retailer = make_client(weight_due=0, weight_age=0, weight_value=0, weight_service=0)
    product = make_product(retailer, "TIE")
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    now = timezone.now()
    promise = now + timedelta(hours=30)
    newer = make_order(
        retailer, [(product, 1)], ship_by=promise, placed_at=now - timedelta(hours=1)
    )
    older = make_order(
        retailer, [(product, 1)], ship_by=promise, placed_at=now - timedelta(hours=5)
    )

    _receive(product, wh, 1)

    assert (status(older), status(newer)) == (S.READY, S.BACKORDERED)
    assert_stock_invariants()


def test_partial_arrival_fills_part_of_the_most_urgent_order(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "BULK")
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    relaxed = make_order(retailer, [(product, 1)])
    urgent = make_order(retailer, [(product, 3)], expedite=True)

    _receive(product, wh, 2)

    assert (status(urgent), line_counts(urgent)) == (S.BACKORDERED, [(2, 1)])
    assert (status(relaxed), line_counts(relaxed)) == (S.BACKORDERED, [(0, 1)])
    assert StockLevel.objects.get(product=product, warehouse=wh["A"]).backordered == 2
    assert_stock_invariants()


def test_arrival_in_another_warehouse_moves_the_backorder_count(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "FAR")
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    order = make_order(retailer, [(product, 2)])
    line = order.lines.get()
    assert line.backorder_level.warehouse == wh["A"]

    inventory.stock_receive(product=product, warehouse=wh["B"], quantity=2)

    assert status(order) == S.READY
    line.refresh_from_db()
    assert (line.qty_allocated, line.qty_backordered, line.backorder_level) == (2, 0, None)
    assert StockLevel.objects.get(product=product, warehouse=wh["A"]).backordered == 0
    allocation = Allocation.objects.get(line=line)
    assert (allocation.stock_level.warehouse, allocation.quantity) == (wh["B"], 2)
    assert_stock_invariants()


def test_multi_line_order_is_ready_only_when_every_line_is_filled(
    retailer, wh, make_product, make_order
):
    first = make_product(retailer, "FIRST")
    second = make_product(retailer, "SECOND")
    for product in (first, second):
        StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    order = make_order(retailer, [(first, 1), (second, 1)])

    _receive(first, wh, 1)
    assert (status(order), line_counts(order)) == (S.BACKORDERED, [(1, 0), (0, 1)])

    _receive(second, wh, 1)
    assert (status(order), line_counts(order)) == (S.READY, [(1, 0), (1, 0)])
    assert_stock_invariants()


def test_on_hold_orders_are_not_filled(scarce, wh, three_waiting):
    high, mid, low = three_waiting["high"], three_waiting["mid"], three_waiting["low"]
    order_hold(order=high, reason="payment check")

    _receive(scarce, wh, 1)

    assert (status(high), status(mid), status(low)) == (S.ON_HOLD, S.READY, S.BACKORDERED)
    assert line_counts(high) == [(0, 1)]
    assert_stock_invariants()

    # Back from hold, the most urgent order takes the unit from the less urgent ready one.
    order_release(order=high)

    assert (status(high), status(mid), status(low)) == (S.READY, S.BACKORDERED, S.BACKORDERED)
    assert mid.events.filter(message__contains=f"more urgent order {high.number}").exists()
    assert_stock_invariants()


def test_cancel_releases_reservation_and_gives_it_to_most_urgent_waiting(
    retailer, wh, make_product, make_order, make_user
):
    supervisor = make_user(clients=[retailer])
    product = make_product(retailer, "HOT", stock={wh["A"]: 2})
    now = timezone.now()
    holder = make_order(retailer, [(product, 2)], expedite=True)
    low = make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=120))
    mid = make_order(retailer, [(product, 2)], ship_by=now + timedelta(hours=20))
    assert (status(holder), status(low), status(mid)) == (S.READY, S.BACKORDERED, S.BACKORDERED)
    assert StockLevel.objects.get(product=product).backordered == 3

    order_cancel(order=holder, reason="fraud", user=supervisor)

    assert status(holder) == S.CANCELLED
    assert list(holder.lines.values_list("qty_allocated", "qty_backordered", "qty_cancelled")) == [
        (0, 0, 2)
    ]
    assert not Allocation.objects.filter(line__order=holder).exists()
    assert (status(mid), line_counts(mid)) == (S.READY, [(2, 0)])
    assert (status(low), line_counts(low)) == (S.BACKORDERED, [(0, 1)])
    level = StockLevel.objects.get(product=product)
    assert (level.on_hand, level.allocated, level.backordered) == (2, 2, 1)
    fill = mid.events.filter(kind=OrderEvent.Kind.ALLOCATION).latest("id")
    assert (fill.from_status, fill.to_status, fill.user) == (S.BACKORDERED, S.READY, supervisor)
    assert_stock_invariants()


def test_cancel_of_partly_backordered_order_releases_both_counts(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "HALF", stock={wh["A"]: 1})
    now = timezone.now()
    partial = make_order(retailer, [(product, 3)], ship_by=now + timedelta(hours=10))
    waiting = make_order(retailer, [(product, 1)], ship_by=now + timedelta(hours=90))
    level = StockLevel.objects.get(product=product)
    assert (level.allocated, level.backordered) == (1, 3)

    order_cancel(order=partial, reason="duplicate")

    level.refresh_from_db()
    assert (level.on_hand, level.allocated, level.backordered) == (1, 1, 0)
    assert list(partial.lines.values_list("qty_allocated", "qty_backordered", "qty_cancelled")) == [
        (0, 0, 3)
    ]
    assert (status(waiting), line_counts(waiting)) == (S.READY, [(1, 0)])
    assert_stock_invariants()


def test_cancel_of_backordered_order_frees_nothing_for_others(
    retailer, wh, make_product, make_order
):
    product = make_product(retailer, "NONE")
    StockLevel.objects.create(client=retailer, product=product, warehouse=wh["A"])
    first = make_order(retailer, [(product, 2)])
    second = make_order(retailer, [(product, 1)])

    order_cancel(order=first, reason="customer cancelled")

    assert status(second) == S.BACKORDERED
    assert StockLevel.objects.get(product=product).backordered == 1
    assert_stock_invariants()


def test_fill_runs_in_the_receipt_transaction(scarce, wh, three_waiting, monkeypatch):
    """If filling fails, the receipt is rolled back with it: no units appear unallocated."""

    def broken_fill(**kwargs):
        raise RuntimeError("fill failed")

    monkeypatch.setattr(order_services, "backorders_fill", broken_fill)
    movements = StockMovement.objects.count()

    with pytest.raises(RuntimeError, match="fill failed"):
        _receive(scarce, wh, 1)

    assert StockLevel.objects.get(product=scarce, warehouse=wh["A"]).on_hand == 0
    assert StockMovement.objects.count() == movements
    assert {status(o) for o in three_waiting.values()} == {S.BACKORDERED}
    assert_stock_invariants()


def test_periodic_fill_task_is_a_no_op_when_receipts_already_filled(scarce, wh, three_waiting):
    from orders.tasks import fill_backorders

    _receive(scarce, wh, 1)
    assert fill_backorders() == 0
    assert (status(three_waiting["mid"]), status(three_waiting["low"])) == (
        S.BACKORDERED,
        S.BACKORDERED,
    )
    assert_stock_invariants()
