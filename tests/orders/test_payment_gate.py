"""The payment/credit gate on every release path, automatic release on payment, the
supervisor override, and the reservation timeout (orders.services.payments)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clients.models import Client
from inventory.models import StockLevel
from orders.exceptions import OrderValidationError
from orders.models import Order, OrderEvent
from orders.services import order_hold, order_release
from orders.services.payments import (
    credit_exposure,
    order_payments_apply,
    order_release_override,
    payment_holds_expire,
)
from tests.invariants import assert_stock_invariants

S = Order.Status
H = Order.HoldType
PP = Client.PaymentPolicy


@pytest.fixture
def world(make_client, make_warehouse, make_product, make_customer):
    wh = make_warehouse()
    clients = {p: make_client(f"C{p.upper()[:4]}", payment_policy=p) for p in PP.values}
    products = {p: make_product(c, stock={wh: 10}) for p, c in clients.items()}
    return clients, products


def pay(order, amount, authorised="0"):
    return order_payments_apply(
        order_id=order.pk, paid=Decimal(amount), authorised=Decimal(authorised)
    )


def test_prepaid_order_waits_on_payment_hold_with_its_stock_reserved(world, make_order):
    clients, products = world
    order = make_order(clients[PP.PREPAID], [(products[PP.PREPAID], 3)])
    assert order.status == S.ON_HOLD
    assert order.hold_type == H.PAYMENT
    assert order.hold_from_status == S.READY
    assert order.lines.get().qty_allocated == 3
    assert order.events.filter(kind=OrderEvent.Kind.HOLD).count() == 1
    assert_stock_invariants()


@pytest.mark.parametrize("policy", [PP.TERMS, PP.COD])
def test_terms_and_cod_orders_are_released_at_once(world, make_order, policy):
    clients, products = world
    order = make_order(clients[policy], [(products[policy], 3)])
    assert order.status == S.READY
    assert order.hold_type == ""


def test_payment_releases_the_order_and_status_is_derived(world, make_order):
    clients, products = world
    order = make_order(clients[PP.PREPAID], [(products[PP.PREPAID], 3)])
    assert order.total == Decimal("30.00")
    order = pay(order, "10.00")
    assert order.status == S.ON_HOLD
    assert order.payment_status == Order.PaymentStatus.PARTIALLY_PAID
    order = pay(order, "10.00", authorised="20.00")
    assert order.status == S.READY
    assert order.hold_type == ""
    assert order.events.filter(kind=OrderEvent.Kind.RELEASE).exists()
    order = pay(order, "35.00")
    assert order.payment_status == Order.PaymentStatus.PAID
    assert order.amount_paid - order.total == Decimal("5.00")  # over-payment visible


def test_release_by_hand_of_an_unpaid_order_goes_straight_back_on_hold(world, make_order):
    clients, products = world
    order = make_order(clients[PP.PREPAID], [(products[PP.PREPAID], 3)])
    order = order_release(order=order)
    assert order.status == S.ON_HOLD
    assert order.hold_type == H.PAYMENT


def test_agent_hold_then_release_of_unpaid_prepaid_order_is_gated(world, make_order):
    clients, products = world
    order = make_order(clients[PP.PREPAID], [(products[PP.PREPAID], 3)])
    order = order_release_override(order=order, reason="Known customer", user=None)
    assert order.status == S.READY
    order = order_hold(order=order, reason="Address check")
    assert order.hold_type == H.OTHER
    order = order_release(order=order)
    assert order.status == S.READY  # the override stays


def test_override_needs_a_reason_and_is_on_the_timeline(world, make_order, make_user):
    clients, products = world
    sup = make_user(clients=[clients[PP.PREPAID]], role="supervisor")
    order = make_order(clients[PP.PREPAID], [(products[PP.PREPAID], 3)])
    with pytest.raises(OrderValidationError):
        order_release_override(order=order, reason=" ", user=sup)
    order = order_release_override(order=order, reason="Paid by phone", user=sup)
    assert order.status == S.READY
    assert order.events.filter(message__contains="Paid by phone", user=sup).exists()


def test_credit_limit_holds_the_order_that_would_exceed_it(world, make_order, make_customer):
    clients, products = world
    client, product = clients[PP.TERMS], products[PP.TERMS]
    customer = make_customer(client, credit_limit=Decimal("50.00"))
    first = make_order(client, [(product, 3)], customer=customer)
    second = make_order(client, [(product, 3)], customer=customer)
    assert first.status == S.READY
    assert second.status == S.ON_HOLD and second.hold_type == H.CREDIT
    assert credit_exposure(customer.pk) == Decimal("30.00")
    # re-releasing by hand does not bypass it
    second = order_release(order=second)
    assert second.status == S.ON_HOLD and second.hold_type == H.CREDIT
    # paying the first lowers the exposure: the second is released automatically
    pay(first, "30.00")
    second.refresh_from_db()
    assert second.status == S.READY


def test_credit_limit_checked_when_a_backorder_is_filled(
    world, make_order, make_customer, make_product
):
    clients, products = world
    client = clients[PP.TERMS]
    scarce = make_product(client)
    customer = make_customer(client, credit_limit=Decimal("15.00"))
    make_order(client, [(products[PP.TERMS], 1)], customer=customer)
    waiting = make_order(client, [(scarce, 1)], customer=customer)
    assert waiting.status == S.BACKORDERED
    from inventory.services import stock_receive

    level = StockLevel.objects.get(product=scarce)
    stock_receive(product=scarce, warehouse=level.warehouse, quantity=5, reference="test")
    waiting.refresh_from_db()
    assert waiting.status == S.ON_HOLD and waiting.hold_type == H.CREDIT


def test_held_stock_goes_to_the_next_order_after_the_timeout_and_back_by_priority(
    world, make_order
):
    clients, products = world
    client, product = clients[PP.PREPAID], products[PP.PREPAID]
    held = make_order(client, [(product, 8)])
    other = make_order(client, [(product, 5)])
    assert held.status == S.ON_HOLD
    assert other.status == S.BACKORDERED
    assert payment_holds_expire(now=timezone.now() + timedelta(hours=1)) == 0
    assert payment_holds_expire(now=timezone.now() + timedelta(hours=49)) == 1
    held.refresh_from_db()
    other.refresh_from_db()
    assert held.hold_from_status == S.BACKORDERED
    assert held.lines.get().qty_allocated == 0
    # the other order got the units, then went through the gate itself (unpaid, prepaid)
    assert other.lines.get().qty_allocated == 5
    assert_stock_invariants()
    held = pay(held, "80.00")  # released → allocated again: 5 left for 8 wanted
    assert held.status == S.BACKORDERED
    assert held.lines.get().qty_allocated == 5
    assert_stock_invariants()
