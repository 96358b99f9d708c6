"""Backward and destructive moves ask for a confirmation and a reason; the order page never
offers two buttons for the same move."""

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
def packed(shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-PACKED")
    services.order_move(order=order, to_status=S.PICKING)
    return services.order_move(order=order, to_status=S.PACKED)


def do_url(order, name):
    return reverse("admin:orders_order_do", args=[order.pk, name])


def page_buttons(client, order):
    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))
    assert response.status_code == 200
    return {name: (label, needs_form) for name, label, needs_form in response.context["buttons"]}


def test_packed_order_offers_back_to_picking_as_a_form_not_a_one_click_move(client, shop, packed):
    client.force_login(shop.agent)
    buttons = page_buttons(client, packed)
    assert "move_to_picking" not in buttons
    assert buttons["back_to_picking"] == ("Back to picking…", True)
    html = client.get(reverse("admin:orders_order_change", args=[packed.pk])).content.decode()
    assert f'class="button danger" href="{do_url(packed, "back_to_picking")}"' in html


def test_back_to_picking_needs_a_reason_and_writes_it_on_the_timeline(client, shop, packed):
    client.force_login(shop.agent)
    form = client.get(do_url(packed, "back_to_picking"))
    assert form.status_code == 200
    assert "back from Packed to Picking" in form.content.decode()

    refused = client.post(do_url(packed, "back_to_picking"), {"reason": "  "})
    assert refused.status_code == 200
    assert refused.context["form"].errors == {"reason": ["This field is required."]}
    packed.refresh_from_db()
    assert packed.status == S.PACKED

    done = client.post(do_url(packed, "back_to_picking"), {"reason": "Wrong item in the box"})
    assert done.status_code == 302
    packed.refresh_from_db()
    assert packed.status == S.PICKING
    event = packed.events.filter(kind=OrderEvent.Kind.STATUS).order_by("-id").first()
    assert (event.from_status, event.to_status, event.message, event.user) == (
        "packed",
        "picking",
        "Wrong item in the box",
        shop.agent,
    )


def test_one_click_forward_action_cannot_move_a_packed_order_back(client, shop, packed):
    client.force_login(shop.agent)
    response = client.post(do_url(packed, "move_to_picking"), follow=True)
    assert response.status_code == 200
    errors = [str(m) for m in response.context["messages"]]
    assert any("needs a reason" in text for text in errors)
    packed.refresh_from_db()
    assert packed.status == S.PACKED
    # the bulk action too
    client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "action_move_to_picking", "_selected_action": [packed.pk]},
    )
    packed.refresh_from_db()
    assert packed.status == S.PACKED


def test_service_refuses_a_backward_move_without_a_reason(shop, packed):
    with pytest.raises(OrderValidationError):
        services.order_move(order=packed, to_status=S.PICKING, note=" ")
    packed.refresh_from_db()
    assert packed.status == S.PACKED


def test_picking_order_offers_confirm_packed_but_not_move_to_packed(client, shop, packed):
    services.order_move(order=packed, to_status=S.PICKING, note="recount")
    client.force_login(shop.agent)
    buttons = page_buttons(client, packed)
    assert buttons["pack"] == ("Confirm packed", False)
    assert "move_to_packed" not in buttons
    assert buttons["back_to_ready"] == ("Back to ready to pick…", True)


def test_cancel_form_warns_that_it_cannot_be_undone(client, make_shop, make_order):
    shop = make_shop(products={"acme_lamp": ("acme", "A-LAMP", 100)}, users=("supervisor",))
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    client.force_login(shop.supervisor)
    form = client.get(do_url(order, "cancel"))
    assert "cannot be undone" in form.content.decode()
