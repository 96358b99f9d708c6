"""Stock services: the ledger, refusals of impossible changes, the database's last defence."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from inventory import services as inventory
from inventory.exceptions import InsufficientStock, InvalidStockOperation
from inventory.models import StockLevel, StockMovement
from tests.invariants import assert_stock_invariants

K = StockMovement.Kind


@pytest.fixture
def wh(make_warehouse):
    return {code: make_warehouse(f"WH-{code}") for code in "AB"}


@pytest.fixture
def product(retailer, make_product):
    return make_product(retailer, "WIDGET")


@pytest.fixture
def agent(make_user, retailer):
    return make_user(clients=[retailer])


def ledger(level: StockLevel) -> list[tuple[str, int, int]]:
    return list(
        StockMovement.objects.filter(stock_level=level)
        .order_by("id")
        .values_list("kind", "quantity", "balance_after")
    )


def assert_ledger_matches(level: StockLevel) -> None:
    level.refresh_from_db()
    running = 0
    for kind, quantity, balance_after in ledger(level):
        running += quantity
        assert balance_after == running, f"{kind} {quantity:+d}: balance {balance_after}"
    assert running == level.on_hand


def snapshot():
    return (
        list(StockLevel.objects.order_by("pk").values_list("pk", "on_hand", "allocated")),
        StockMovement.objects.count(),
    )


def test_receive_adjust_transfer_write_a_consistent_ledger(product, wh, agent):
    a = inventory.stock_receive(
        product=product, warehouse=wh["A"], quantity=10, user=agent, reference="PO-7"
    )
    assert (a.on_hand, a.allocated) == (10, 0)
    inventory.stock_adjust(product=product, warehouse=wh["A"], delta=-3, reason="damaged")
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=2, kind=K.RETURN)
    source, target = inventory.stock_transfer(
        product=product, from_warehouse=wh["A"], to_warehouse=wh["B"], quantity=4, user=agent
    )
    inventory.stock_adjust(product=product, warehouse=wh["B"], delta=1, reason="count")

    assert (source.on_hand, target.on_hand) == (5, 4)
    a = StockLevel.objects.get(product=product, warehouse=wh["A"])
    b = StockLevel.objects.get(product=product, warehouse=wh["B"])
    assert (a.on_hand, b.on_hand) == (5, 5)
    assert ledger(a) == [
        (K.RECEIPT, 10, 10),
        (K.ADJUSTMENT, -3, 7),
        (K.RETURN, 2, 9),
        (K.TRANSFER_OUT, -4, 5),
    ]
    assert ledger(b) == [(K.TRANSFER_IN, 4, 4), (K.ADJUSTMENT, 1, 5)]
    assert_ledger_matches(a)
    assert_ledger_matches(b)

    receipt = StockMovement.objects.get(stock_level=a, kind=K.RECEIPT)
    assert (receipt.reference, receipt.user, receipt.client_id) == (
        "PO-7",
        agent,
        product.client_id,
    )
    assert (receipt.product_id, receipt.warehouse_id) == (product.pk, wh["A"].pk)
    damaged = StockMovement.objects.get(stock_level=a, kind=K.ADJUSTMENT)
    assert damaged.reason == "damaged"
    out = StockMovement.objects.get(kind=K.TRANSFER_OUT)
    into = StockMovement.objects.get(kind=K.TRANSFER_IN)
    assert (out.reference, into.reference) == ("to WH-B", "from WH-A")
    assert out.user == into.user == agent
    assert_stock_invariants()


def test_receive_creates_the_stock_level_on_first_receipt(product, wh):
    assert not StockLevel.objects.filter(product=product).exists()
    level = inventory.stock_receive(product=product, warehouse=wh["B"], quantity=3)
    assert (level.warehouse, level.client_id, level.on_hand) == (wh["B"], product.client_id, 3)
    assert_ledger_matches(level)


def test_adjust_down_below_available_raises_and_changes_nothing(retailer, product, wh, make_order):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    make_order(retailer, [(product, 3)])  # reserves 3, leaving 2 available
    before = snapshot()

    with pytest.raises(InsufficientStock, match="only 2 available"):
        inventory.stock_adjust(product=product, warehouse=wh["A"], delta=-3, reason="lost")

    assert snapshot() == before
    level = inventory.stock_adjust(product=product, warehouse=wh["A"], delta=-2, reason="lost")
    assert (level.on_hand, level.allocated, level.available) == (3, 3, 0)
    assert_ledger_matches(level)
    assert_stock_invariants()


def test_adjust_down_below_zero_raises(product, wh):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=1)
    before = snapshot()
    with pytest.raises(InsufficientStock):
        inventory.stock_adjust(product=product, warehouse=wh["A"], delta=-2, reason="count")
    assert snapshot() == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_adjustment_without_reason_is_refused(product, wh, reason):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=1)
    before = snapshot()
    with pytest.raises(InvalidStockOperation, match="needs a reason"):
        inventory.stock_adjust(product=product, warehouse=wh["A"], delta=1, reason=reason)
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -1, -10, 1.5, "3"])
def test_receive_refuses_non_positive_or_non_whole_quantities(product, wh, quantity):
    before = snapshot()
    with pytest.raises(InvalidStockOperation):
        inventory.stock_receive(product=product, warehouse=wh["A"], quantity=quantity)
    assert snapshot() == before


@pytest.mark.parametrize("delta", [0, 2.5])
def test_adjust_refuses_zero_or_non_whole_delta(product, wh, delta):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    before = snapshot()
    with pytest.raises(InvalidStockOperation):
        inventory.stock_adjust(product=product, warehouse=wh["A"], delta=delta, reason="count")
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -2])
def test_transfer_refuses_non_positive_quantities(product, wh, quantity):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    before = snapshot()
    with pytest.raises(InvalidStockOperation):
        inventory.stock_transfer(
            product=product, from_warehouse=wh["A"], to_warehouse=wh["B"], quantity=quantity
        )
    assert snapshot() == before


def test_transfer_never_moves_reserved_units(retailer, product, wh, make_order):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    make_order(retailer, [(product, 4)])
    before = snapshot()

    with pytest.raises(InsufficientStock, match="Only 1 of WIDGET available at WH-A"):
        inventory.stock_transfer(
            product=product, from_warehouse=wh["A"], to_warehouse=wh["B"], quantity=2
        )

    # The (empty) target level may have been created, but nothing moved.
    levels, movements = snapshot()
    assert movements == before[1]
    assert [row for row in levels if row in before[0]] == before[0]
    assert StockLevel.objects.filter(on_hand__gt=0).count() == 1
    assert_stock_invariants()


def test_transfer_from_a_warehouse_without_stock_raises(product, wh):
    inventory.stock_receive(product=product, warehouse=wh["B"], quantity=5)
    with pytest.raises(InsufficientStock, match="Only 0 of WIDGET"):
        inventory.stock_transfer(
            product=product, from_warehouse=wh["A"], to_warehouse=wh["B"], quantity=1
        )
    assert StockMovement.objects.count() == 1


def test_transfer_to_the_same_warehouse_is_refused(product, wh):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    before = snapshot()
    with pytest.raises(InvalidStockOperation, match="two different warehouses"):
        inventory.stock_transfer(
            product=product, from_warehouse=wh["A"], to_warehouse=wh["A"], quantity=1
        )
    assert snapshot() == before


def test_inactive_warehouse_cannot_receive(product, wh):
    wh["B"].active = False
    wh["B"].save()
    with pytest.raises(InvalidStockOperation, match="not active"):
        inventory.stock_receive(product=product, warehouse=wh["B"], quantity=1)
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=2)
    before = snapshot()
    with pytest.raises(InvalidStockOperation, match="not active"):
        inventory.stock_transfer(
            product=product, from_warehouse=wh["A"], to_warehouse=wh["B"], quantity=1
        )
    assert snapshot() == before


def test_receive_books_only_receipts_and_returns(product, wh):
    with pytest.raises(InvalidStockOperation):
        inventory.stock_receive(product=product, warehouse=wh["A"], quantity=1, kind=K.ADJUSTMENT)
    assert StockMovement.objects.count() == 0


def test_ship_consumes_reserved_units_with_a_ledger_row(retailer, product, wh, make_order):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    make_order(retailer, [(product, 3)])
    level = StockLevel.objects.get(product=product, warehouse=wh["A"])

    with transaction.atomic():
        (locked,) = inventory.stock_levels_lock(product_ids=[product.pk])
        with pytest.raises(InsufficientStock), transaction.atomic():
            inventory.stock_ship(level=locked, quantity=4)
        inventory.stock_ship(level=locked, quantity=2, reference="SHP-1")

    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (3, 1)
    assert ledger(level)[-1] == (K.SHIPMENT, -2, 3)
    assert_ledger_matches(level)


def test_check_constraint_refuses_allocated_above_on_hand(product, wh):
    level = inventory.stock_receive(product=product, warehouse=wh["A"], quantity=2)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(allocated=F("on_hand") + 1)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(on_hand=-1)

    with pytest.raises(IntegrityError), transaction.atomic():
        StockLevel.objects.filter(pk=level.pk).update(allocated=-1)

    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (2, 0)
    # Exactly at the limit is fine.
    StockLevel.objects.filter(pk=level.pk).update(allocated=2)
    level.refresh_from_db()
    assert level.allocated == 2


def test_save_reservations_refuses_oversell_before_the_database_does(product, wh):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=2)
    with transaction.atomic():
        (level,) = inventory.stock_levels_lock(product_ids=[product.pk])
        level.allocated = 3
        with pytest.raises(InsufficientStock):
            inventory.stock_levels_save_reservations(levels=[level])
    assert StockLevel.objects.get(pk=level.pk).allocated == 0


def test_ledger_refuses_zero_movements(product, wh):
    level = inventory.stock_receive(product=product, warehouse=wh["A"], quantity=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockMovement.objects.create(
            client_id=level.client_id,
            stock_level=level,
            product=product,
            warehouse=wh["A"],
            kind=K.ADJUSTMENT,
            quantity=0,
            balance_after=2,
        )


@pytest.mark.django_db(transaction=True)
def test_ship_outside_a_transaction_is_refused(retailer, product, wh, make_order):
    inventory.stock_receive(product=product, warehouse=wh["A"], quantity=5)
    make_order(retailer, [(product, 3)])
    level = StockLevel.objects.get(product=product, warehouse=wh["A"])

    with pytest.raises(InvalidStockOperation, match="inside the caller's transaction"):
        inventory.stock_ship(level=level, quantity=1)

    level.refresh_from_db()
    assert (level.on_hand, level.allocated) == (5, 3)
    assert StockMovement.objects.filter(kind=K.SHIPMENT).count() == 0
