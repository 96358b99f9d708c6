"""Typed hold reasons: the service, the order page's hold form, the queue filter, the release."""

from __future__ import annotations

import pytest
from django.urls import reverse

from orders import services
from orders.exceptions import OrderValidationError
from orders.models import Order, OrderEvent

pytestmark = pytest.mark.django_db
S = Order.Status


@pytest.fixture
def shop(make_shop):
    return make_shop(products={"acme_lamp": ("acme", "A-LAMP", 100)}, users=("agent",))


@pytest.fixture
def order_of(shop, make_order):
    def make(number="A-1"):
        return make_order(shop.acme, [(shop.acme_lamp, 1)], number=number)

    return make


def test_hold_stores_type_and_detail_on_order_and_timeline(shop, order_of):
    order = order_of()
    held = services.order_hold(
        order=order, hold_type="fraud_check", reason="card declined twice", user=shop.agent
    )
    assert held.status == S.ON_HOLD
    held.refresh_from_db()
    assert (held.hold_type, held.hold_reason) == ("fraud_check", "card declined twice")
    event = held.events.filter(kind=OrderEvent.Kind.HOLD).get()
    assert event.message == "Fraud check: card declined twice"


def test_hold_type_without_text_is_enough_but_other_needs_text(shop, order_of):
    order = order_of()
    with pytest.raises(OrderValidationError):
        services.order_hold(order=order, hold_type="other", reason="  ")
    with pytest.raises(OrderValidationError):
        services.order_hold(order=order, hold_type="bogus", reason="x")
    order.refresh_from_db()
    assert order.status != S.ON_HOLD
    held = services.order_hold(order=order, hold_type="payment")
    held.refresh_from_db()
    assert (held.hold_type, held.hold_reason) == ("payment", "")
    assert held.events.get(kind=OrderEvent.Kind.HOLD).message == "Payment"


def test_release_clears_hold_type(shop, order_of):
    order = services.order_hold(order=order_of(), hold_type="address_check", reason="flat no.")
    released = services.order_release(order=order)
    released.refresh_from_db()
    assert (released.hold_type, released.hold_reason, released.hold_from_status) == ("", "", "")
    assert "Address to check: flat no." in released.events.get(kind="release").message


def test_order_page_hold_form_requires_a_type(client, shop, order_of):
    order = order_of()
    client.force_login(shop.agent)
    url = reverse("admin:orders_order_do", args=[order.pk, "hold"])
    page = client.get(url)
    assert page.status_code == 200
    assert "Address to check" in page.content.decode()
    response = client.post(url, {"reason": "no type given"})
    assert response.status_code == 200  # the form again, with the error
    order.refresh_from_db()
    assert order.status != S.ON_HOLD
    response = client.post(url, {"hold_type": "other", "reason": ""})
    assert response.status_code == 200
    assert "Say why the order is put on hold." in response.content.decode()
    response = client.post(url, {"hold_type": "customer_request", "reason": "wait till Monday"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.hold_type, order.hold_reason) == (
        S.ON_HOLD,
        "customer_request",
        "wait till Monday",
    )
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Customer request – wait till Monday" in page


def test_queue_filters_by_hold_type(client, shop, order_of):
    services.order_hold(order=order_of("A-PAY"), hold_type="payment")
    services.order_hold(order=order_of("A-FRAUD"), hold_type="fraud_check")
    client.force_login(shop.agent)
    url = reverse("admin:orders_order_changelist")
    page = client.get(url, {"queue": "all", "hold_type__exact": "payment"}).content.decode()
    assert "A-PAY" in page
    assert "A-FRAUD" not in page
