"""The order page (admin change view) through the test client.

What the agent sees (status, segment, priority breakdown, lines with allocations per
warehouse, timeline), what they can do there (note, assignment, the action buttons their role
and the order's state allow), that nobody can delete an order, and that another client's order
is simply not there.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from orders import services
from orders.models import Order
from tests.factories import Shop

pytestmark = pytest.mark.django_db

# The buttons orders.admin_actions can put on the page; higher apps may add more, ignored here.
CORE_BUTTONS = {
    "assign_to_agent",
    "expedite",
    "hold",
    "release",
    "reallocate",
    "move_to_picking",
    "move_to_packed",
    "cancel",
}


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        products={
            "acme_lamp": ("acme", "A-LAMP", 100),
            "nord_lamp": ("nord", "N-LAMP", 100),
        },
        users=("agent", "colleague", "supervisor", "nord_agent"),
    )


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def page(browser, order: Order) -> str:
    """The order page's HTML with runs of whitespace collapsed to one space."""
    response = browser.get(change_url(order))
    assert response.status_code == 200
    return re.sub(r"\s+", " ", response.content.decode())


def buttons(browser, order: Order) -> set[str]:
    response = browser.get(change_url(order))
    assert response.status_code == 200
    return {name for name, _label, _needs_form in response.context["buttons"]} & CORE_BUTTONS


def save(browser, order: Order, *, note: str = "", assigned_to=None):
    """Press "Save" on the order page's form (its only editable fields: assignee and note)."""
    return browser.post(
        change_url(order),
        {"assigned_to": assigned_to.pk if assigned_to else "", "note": note, "_save": "Save"},
    )


def events(order: Order) -> list[tuple]:
    return list(order.events.order_by("id").values_list("kind", "message", "user__username"))


# --- What the page shows ------------------------------------------------------------------------


def test_page_shows_status_segment_breakdown_lines_and_timeline(
    client, shop, make_warehouse, make_product, make_customer, make_order
):
    west, south = make_warehouse("WA"), make_warehouse("WB")
    lamp = make_product(shop.acme, "A-LAMP-XL", name="Big lamp", stock={west: 3, south: 2})
    bulb = make_product(shop.acme, "A-BULB", name="Bulb")  # none anywhere
    customer = make_customer(shop.acme, tier="gold")
    order = make_order(shop.acme, [(lamp, 5), (bulb, 2)], number="A-1001", customer=customer)
    client.force_login(shop.agent)

    html = page(client, order)

    assert order.status == Order.Status.BACKORDERED
    assert '<strong id="order-status">Backordered</strong>' in html
    assert '<span class="bpo-badge bpo-segment-backordered">Backordered</span>' in html
    assert f'Priority <strong id="order-priority">{order.priority_score}</strong>' in html
    assert "Assigned: nobody" in html
    # Every factor of the stored breakdown, in its order, then the total.
    assert len(order.priority_breakdown) == 6
    rows = "".join(
        f"<tr><td>{item['factor']}</td><td>{item['points']}</td><td>{item['why']}</td></tr>"
        for item in order.priority_breakdown
    )
    assert rows in html
    assert "<td>tier</td><td>99</td><td>gold customer</td>" in html
    assert f"<tr><th>Total</th><th>{order.priority_score}</th>" in html
    # Lines: the lamp split over two warehouses, the bulb waiting at the default one.
    lamp_url = reverse("admin:inventory_product_change", args=[lamp.pk])
    assert (
        f'<td>1</td> <td><a href="{lamp_url}">A-LAMP-XL</a></td> <td>Big lamp</td> '
        "<td>5</td> <td>5 (3 @ WA, 2 @ WB)</td> <td>0</td> <td>0</td> <td>0</td> "
        "<td>10.00 USD</td>"
    ) in html
    assert (
        '<td>Bulb</td> <td>2</td> <td>0</td> <td><strong class="bpo-overdue">2</strong> @ EAST'
        "</td> <td>0</td> <td>0</td>"
    ) in html
    # Timeline, newest first, "system" for what no user did.
    allocation = html.index(
        "<td>Allocation</td> <td>New → Backordered</td> "
        "<td>Allocation: 5 reserved, 2 backordered.</td> <td>system</td>"
    )
    created = html.index(
        "<td>Created</td> <td>– → New</td> <td>Created (Keyed in).</td> <td>system</td>"
    )
    assert allocation < created


def test_page_shows_hold_reason_and_where_the_order_came_from(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    services.order_hold(order=order, reason="Address unclear", user=shop.colleague)
    client.force_login(shop.agent)

    html = page(client, order)

    assert '<strong id="order-status">On hold</strong> (from Ready to pick)' in html
    assert '<p id="order-hold"><strong>On hold:</strong> Other – Address unclear</p>' in html
    assert '<span class="bpo-badge bpo-segment-on_hold">On hold</span>' in html
    assert (
        "<td>Placed on hold</td> <td>Ready to pick → On hold</td> <td>Address unclear</td> "
        "<td>acme-colleague</td>"
    ) in html


# --- Note and assignment ----------------------------------------------------------------------


def test_note_lands_on_the_timeline_with_the_user(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    client.force_login(shop.agent)

    response = save(client, order, note="  Called the customer: wants Friday delivery  ")

    assert response.status_code == 302
    assert events(order)[-1] == ("note", "Called the customer: wants Friday delivery", "acme-agent")
    assert Order.objects.get(pk=order.pk).assigned_to is None
    assert (
        "<td>Note</td> <td></td> <td>Called the customer: wants Friday delivery</td> "
        "<td>acme-agent</td>"
    ) in page(client, order)


def test_saving_without_a_note_or_a_new_assignee_writes_nothing(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    services.order_assign(order=order, agent=shop.agent)
    before = events(order)
    client.force_login(shop.agent)

    response = save(client, order, note="", assigned_to=shop.agent)

    assert response.status_code == 302
    assert events(order) == before


def test_assignment_is_changed_through_the_service(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    client.force_login(shop.agent)

    assert save(client, order, assigned_to=shop.colleague).status_code == 302
    assert Order.objects.get(pk=order.pk).assigned_to == shop.colleague
    assert save(client, order, note="Back to the pool").status_code == 302
    assert Order.objects.get(pk=order.pk).assigned_to is None

    assert events(order)[-3:] == [
        ("assign", "Assigned to acme-colleague.", "acme-agent"),
        ("assign", "Unassigned (was acme-colleague).", "acme-agent"),
        ("note", "Back to the pool", "acme-agent"),
    ]


def test_assignee_choices_are_the_orders_clients_people(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    client.force_login(shop.agent)

    response = client.get(change_url(order))
    field = response.context["adminform"].form.fields["assigned_to"]
    assert [u.username for u in field.queryset] == [
        "acme-agent",
        "acme-colleague",
        "acme-supervisor",
    ]

    refused = save(client, order, note="Give it to NORD", assigned_to=shop.nord_agent)

    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors == {
        "assigned_to": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert Order.objects.get(pk=order.pk).assigned_to is None
    assert not order.events.filter(kind__in=["assign", "note"]).exists()


# --- Buttons by role and state ---------------------------------------------------------------


def test_buttons_follow_role_and_state(client, shop, make_order):
    ready = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-READY")
    held = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-HELD")
    services.order_hold(order=held, reason="x")
    cancelled = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-GONE")
    services.order_cancel(order=cancelled, reason="x")

    client.force_login(shop.agent)
    assert buttons(client, ready) == {
        "assign_to_agent",
        "expedite",
        "hold",
        "reallocate",
        "move_to_picking",
    }
    assert buttons(client, held) == {"assign_to_agent", "expedite", "release"}
    assert buttons(client, cancelled) == set()
    assert 'href="{}"'.format(
        reverse("admin:orders_order_do", args=[ready.pk, "cancel"])
    ) not in page(client, ready)

    client.force_login(shop.supervisor)
    assert buttons(client, ready) == {
        "assign_to_agent",
        "expedite",
        "hold",
        "reallocate",
        "move_to_picking",
        "cancel",
    }
    assert buttons(client, held) == {"assign_to_agent", "expedite", "release", "cancel"}
    assert buttons(client, cancelled) == set()


def test_agent_works_an_order_from_its_page_but_cannot_cancel_it(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    client.force_login(shop.agent)

    def do(action, data=None):
        return client.post(reverse("admin:orders_order_do", args=[order.pk, action]), data or {})

    assert do("expedite").status_code == 302
    assert do("hold", {"hold_type": "payment", "reason": "Waiting for payment"}).status_code == 302
    assert save(client, order, note="Payment promised", assigned_to=shop.agent).status_code == 302
    assert do("cancel", {"reason": "No payment"}).status_code == 403

    order.refresh_from_db()
    assert (order.status, order.expedite, order.assigned_to) == (
        Order.Status.ON_HOLD,
        True,
        shop.agent,
    )
    assert [kind for kind, _message, _user in events(order)] == [
        "created",
        "allocation",
        "expedite",
        "hold",
        "assign",
        "note",
    ]
    assert {user for _kind, _message, user in events(order)[2:]} == {"acme-agent"}


# --- Nobody deletes or adds orders ------------------------------------------------------------


def test_nobody_can_delete_an_order(client, shop, make_order, django_user_model):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    delete_url = reverse("admin:orders_order_delete", args=[order.pk])

    for user in (shop.agent, shop.supervisor, root):
        client.force_login(user)
        assert client.get(delete_url).status_code == 403
        assert client.post(delete_url, {"post": "yes"}).status_code == 403
        html = page(client, order)
        assert 'class="deletelink"' not in html
        assert delete_url not in html

    assert Order.objects.filter(pk=order.pk).exists()


def test_orders_are_keyed_in_on_the_entry_page_not_the_stock_add_form(client, shop):
    # Issue #18: the add URL is the order entry page (tests/orders/test_order_entry.py), which
    # goes through the intake service; the stock ModelForm for orders is never shown.
    client.force_login(shop.supervisor)
    response = client.get(reverse("admin:orders_order_add"))
    assert response.status_code == 200
    assert response.templates[0].name == "admin/orders/order/entry.html"


# --- Another client's order -------------------------------------------------------------------


def test_another_clients_order_page_is_not_there(client, shop, make_order):
    order = make_order(shop.nord, [(shop.nord_lamp, 1)], number="N-1")
    before = events(order)
    client.force_login(shop.agent)

    assert client.get(change_url(order)).status_code == 404
    assert save(client, order, note="peek", assigned_to=shop.agent).status_code == 404
    delete_url = reverse("admin:orders_order_delete", args=[order.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 404
    history_url = reverse("admin:orders_order_history", args=[order.pk])
    assert client.get(history_url).status_code == 404

    order.refresh_from_db()
    assert order.assigned_to is None
    assert events(order) == before
