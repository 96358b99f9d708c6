"""The stock workstation through the test client: stock levels with the "short" filter, the
receive and adjust forms, the read-only ledger and the product page's waiting-orders panel.

Stock changes are supervisor work, and only for the clients they supervise: an agent gets 403,
a supervisor of another client cannot even choose the product, and every refusal leaves the
stock level and the ledger exactly as they were.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inventory import services as inventory
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from orders import services as order_services
from orders.models import Order
from tests.factories import Shop
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db

RECEIVE = "admin:inventory_stocklevel_receive"
ADJUST = "admin:inventory_stocklevel_adjust"
LEVELS = "admin:inventory_stocklevel_changelist"
LEDGER = "admin:inventory_stockmovement_changelist"
INVALID_CHOICE = "Select a valid choice. That choice is not one of the available choices."


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        warehouses=("EAST", "WEST"),
        products={
            "lamp": ("acme", "A-LAMP", 10),  # 10 on hand at EAST
            "rare": ("acme", "A-RARE", 0),
            "nord_lamp": ("nord", "N-LAMP", 10),
        },
        users=("agent", "supervisor", "nord_supervisor", "mixed"),
    )


@pytest.fixture
def place(make_order):
    def place(product: Product, number: str, *, qty: int, priority: int | None = None, **kwargs):
        order = make_order(product.client, [(product, qty)], number=number, **kwargs)
        if priority is not None:  # a derived column: pinned so the serve order is fixed
            Order.objects.filter(pk=order.pk).update(priority_score=priority)
            order.refresh_from_db()
        return order

    return place


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def stock_snapshot() -> tuple[list, list]:
    """Every stock level's counts and every ledger row: what a refused change must not touch."""
    levels = list(
        StockLevel.objects.order_by("pk").values_list(
            "pk", "on_hand", "allocated", "backordered", "on_order"
        )
    )
    ledger = list(StockMovement.objects.order_by("pk").values_list("pk", "quantity"))
    return levels, ledger


def level(product: Product, warehouse: Warehouse) -> StockLevel:
    return StockLevel.objects.get(product=product, warehouse=warehouse)


def receive(browser, product, warehouse, quantity, reference="", **kwargs):
    data = {
        "product": product.pk,
        "warehouse": warehouse.pk,
        "quantity": quantity,
        "reference": reference,
    }
    return browser.post(reverse(RECEIVE), data, **kwargs)


def adjust(browser, product, warehouse, delta, reason, **kwargs):
    data = {"product": product.pk, "warehouse": warehouse.pk, "delta": delta, "reason": reason}
    return browser.post(reverse(ADJUST), data, **kwargs)


# --- Stock levels list -----------------------------------------------------------------------


def test_stock_levels_short_filter(client, shop, place, make_product):
    place(shop.rare, "A-WAIT", qty=3)
    nord_rare = make_product(shop.nord, "N-RARE")
    place(nord_rare, "N-WAIT", qty=2)
    client.force_login(shop.agent)

    def rows(**params):
        response = client.get(reverse(LEVELS), params)
        assert response.status_code == 200
        return [(lv.product.sku, lv.warehouse.code) for lv in response.context["cl"].result_list]

    assert rows() == [("A-LAMP", "EAST"), ("A-RARE", "EAST")]
    assert rows(situation="short") == [("A-RARE", "EAST")]
    assert rows(situation="available") == [("A-LAMP", "EAST")]
    rare = level(shop.rare, shop.east)
    assert (rare.on_hand, rare.allocated, rare.backordered) == (0, 0, 3)


def test_receive_and_adjust_links_are_for_supervisors(client, shop):
    client.force_login(shop.agent)
    html = client.get(reverse(LEVELS)).content.decode()
    assert 'id="receive-stock"' not in html
    assert 'id="adjust-stock"' not in html

    client.force_login(shop.supervisor)
    html = client.get(reverse(LEVELS)).content.decode()
    assert f'<a href="{reverse(RECEIVE)}" class="addlink" id="receive-stock">' in html
    assert f'<a href="{reverse(ADJUST)}" id="adjust-stock">' in html


# --- Receive -----------------------------------------------------------------------------------


def test_supervisor_receives_stock_and_the_waiting_order_becomes_ready(client, shop, place):
    waiting = place(shop.rare, "A-WAIT", qty=3)
    assert waiting.status == Order.Status.BACKORDERED
    client.force_login(shop.supervisor)

    form_page = client.get(reverse(RECEIVE))
    assert form_page.status_code == 200
    products = form_page.context["form"].fields["product"].queryset
    assert [p.sku for p in products] == ["A-LAMP", "A-RARE"]

    response = receive(client, shop.rare, shop.east, 5, "PO-77", follow=True)

    assert response.redirect_chain == [(reverse(LEVELS) + "?q=A-RARE", 302)]
    assert messages_of(response) == [
        (
            "success",
            "Received 5 × A-RARE at EAST: on hand 5, allocated 3, still backordered 0.",
        )
    ]
    movement = StockMovement.objects.get(product=shop.rare)
    assert (
        movement.kind,
        movement.quantity,
        movement.balance_after,
        movement.reference,
        movement.user,
        movement.warehouse,
    ) == ("receipt", 5, 5, "PO-77", shop.supervisor, shop.east)
    waiting.refresh_from_db()
    line = waiting.lines.get()
    assert waiting.status == Order.Status.READY
    assert (line.qty_allocated, line.qty_backordered) == (3, 0)
    rare = level(shop.rare, shop.east)
    assert (rare.on_hand, rare.allocated, rare.backordered) == (5, 3, 0)
    assert_stock_invariants()


def test_receiving_nothing_is_refused(client, shop):
    before = stock_snapshot()
    client.force_login(shop.supervisor)

    response = receive(client, shop.lamp, shop.east, 0)

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "quantity": ["Ensure this value is greater than or equal to 1."]
    }
    assert stock_snapshot() == before


def test_agent_may_neither_receive_nor_adjust(client, shop):
    before = stock_snapshot()
    client.force_login(shop.agent)

    assert client.get(reverse(RECEIVE)).status_code == 403
    assert receive(client, shop.lamp, shop.east, 5).status_code == 403
    assert client.get(reverse(ADJUST)).status_code == 403
    assert adjust(client, shop.lamp, shop.east, -1, "Broken").status_code == 403
    assert stock_snapshot() == before


def test_supervisor_of_another_client_cannot_choose_this_clients_product(client, shop):
    before = stock_snapshot()
    client.force_login(shop.nord_supervisor)

    form_page = client.get(reverse(RECEIVE), {"product": shop.lamp.pk})
    assert [p.sku for p in form_page.context["form"].fields["product"].queryset] == ["N-LAMP"]
    assert "A-LAMP" not in form_page.content.decode()  # not even as the pre-selected choice

    # The form's product search box (admin autocomplete) offers only NORD's products
    # (every product here is named "Thing").
    found = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "inventory",
            "model_name": "stocklevel",
            "field_name": "product",
            "term": "Thing",
        },
    )
    assert [r["id"] for r in found.json()["results"]] == [str(shop.nord_lamp.pk)]

    received = receive(client, shop.lamp, shop.east, 5)
    adjusted = adjust(client, shop.lamp, shop.east, -2, "Count")

    for response in (received, adjusted):
        assert response.status_code == 200
        assert response.context["form"].errors == {"product": [INVALID_CHOICE]}
    assert stock_snapshot() == before


def test_agent_of_a_client_who_supervises_another_cannot_change_its_stock(client, shop):
    """The receive permission comes with supervising NORD; for ACME this user is an agent."""
    before = stock_snapshot()
    client.force_login(shop.mixed)

    received = receive(client, shop.lamp, shop.east, 5)
    adjusted = adjust(client, shop.lamp, shop.east, -2, "Count")

    for response in (received, adjusted):
        assert response.status_code == 200
        assert response.context["form"].errors == {
            "product": ["Only a supervisor of this client may change its stock."]
        }
    assert stock_snapshot() == before

    # For NORD, whom they supervise, it works.
    assert receive(client, shop.nord_lamp, shop.east, 5).status_code == 302
    assert level(shop.nord_lamp, shop.east).on_hand == 15


# --- Adjust ----------------------------------------------------------------------------------


def test_adjust_without_a_reason_or_by_zero_is_refused(client, shop):
    before = stock_snapshot()
    client.force_login(shop.supervisor)

    no_reason = adjust(client, shop.lamp, shop.east, -2, "")
    zero = adjust(client, shop.lamp, shop.east, 0, "Recount")

    assert no_reason.status_code == 200
    assert no_reason.context["form"].errors == {"reason": ["This field is required."]}
    assert zero.status_code == 200
    assert zero.context["form"].errors == {"delta": ["The change cannot be zero."]}
    assert stock_snapshot() == before


def test_adjust_below_available_shows_the_error_and_changes_nothing(client, shop, place):
    place(shop.lamp, "A-BIG", qty=6)
    before = stock_snapshot()
    client.force_login(shop.supervisor)

    response = adjust(client, shop.lamp, shop.east, -5, "Damaged in storage")

    assert response.status_code == 200
    message = "Cannot remove 5 of A-LAMP at EAST: only 4 available (6 reserved for orders)."
    assert response.context["form"].non_field_errors() == [message]
    assert f'<ul class="errorlist nonfield"><li>{message}</li></ul>' in response.content.decode()
    # Where the product has no stock level at all, none is left behind either.
    nowhere = adjust(client, shop.lamp, shop.west, -1, "Damaged in storage")
    assert nowhere.context["form"].non_field_errors() == [
        "Cannot remove 1 of A-LAMP at WEST: only 0 available (0 reserved for orders)."
    ]
    assert stock_snapshot() == before


def test_supervisor_adjusts_down_and_up(client, shop, place):
    place(shop.lamp, "A-BIG", qty=6)
    waiting = place(shop.rare, "A-WAIT", qty=2)
    client.force_login(shop.supervisor)

    down = adjust(client, shop.lamp, shop.east, -4, "Damaged in storage", follow=True)

    assert down.redirect_chain == [(reverse(LEVELS) + "?q=A-LAMP", 302)]
    assert messages_of(down) == [("success", "Adjusted A-LAMP at EAST by -4: on hand 6.")]
    movement = StockMovement.objects.filter(product=shop.lamp).latest("id")
    assert (movement.kind, movement.quantity, movement.balance_after, movement.reason) == (
        "adjustment",
        -4,
        6,
        "Damaged in storage",
    )
    assert movement.user == shop.supervisor
    lamp = level(shop.lamp, shop.east)
    assert (lamp.on_hand, lamp.allocated) == (6, 6)

    up = adjust(client, shop.rare, shop.west, 2, "Found in recount", follow=True)

    assert messages_of(up) == [("success", "Adjusted A-RARE at WEST by +2: on hand 2.")]
    waiting.refresh_from_db()
    assert waiting.status == Order.Status.READY
    assert_stock_invariants()


# --- The ledger ------------------------------------------------------------------------------


def test_ledger_is_read_only(client, shop, django_user_model):
    movement = StockMovement.objects.get(product=shop.lamp)
    before = stock_snapshot()
    change_url = reverse("admin:inventory_stockmovement_change", args=[movement.pk])
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")

    for user in (shop.supervisor, root):
        client.force_login(user)
        listing = client.get(reverse(LEDGER))
        assert listing.status_code == 200
        assert listing.context["has_add_permission"] is False
        assert reverse("admin:inventory_stockmovement_add") not in listing.content.decode()
        assert client.get(reverse("admin:inventory_stockmovement_add")).status_code == 403
        view = client.get(change_url)
        assert view.status_code == 200
        assert view.context["has_change_permission"] is False
        assert 'name="_save"' not in view.content.decode()
        tampered = {"quantity": 999, "balance_after": 999, "reason": "x", "_save": "Save"}
        assert client.post(change_url, tampered).status_code == 403
        delete_url = reverse("admin:inventory_stockmovement_delete", args=[movement.pk])
        assert client.post(delete_url, {"post": "yes"}).status_code == 403

    assert stock_snapshot() == before


def test_ledger_filters(client, shop, make_product):
    make_product(shop.acme, "A-BULB", stock={shop.west: 4})
    inventory.stock_adjust(product=shop.lamp, warehouse=shop.east, delta=-1, reason="Broken")
    old = StockMovement.objects.get(product=shop.lamp, kind="receipt")
    StockMovement.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=30))
    client.force_login(shop.agent)

    def ledger(query=""):
        response = client.get(reverse(LEDGER) + query)
        assert response.status_code == 200
        return response, [
            (m.product.sku, m.warehouse.code, m.kind, m.quantity)
            for m in response.context["cl"].result_list
        ]

    listing, everything = ledger()
    assert everything == [
        ("A-LAMP", "EAST", "adjustment", -1),
        ("A-BULB", "WEST", "receipt", 4),
        ("A-LAMP", "EAST", "receipt", 10),
    ]
    assert ledger(f"?product__id__exact={shop.lamp.pk}")[1] == [
        ("A-LAMP", "EAST", "adjustment", -1),
        ("A-LAMP", "EAST", "receipt", 10),
    ]
    assert ledger("?kind__exact=receipt")[1] == [
        ("A-BULB", "WEST", "receipt", 4),
        ("A-LAMP", "EAST", "receipt", 10),
    ]
    assert ledger(f"?warehouse__id__exact={shop.west.pk}")[1] == [("A-BULB", "WEST", "receipt", 4)]
    # The date filter's own "Past 7 days" link.
    cl = listing.context["cl"]
    dates = next(f for f in cl.filter_specs if getattr(f, "field_path", None) == "created_at")
    past_week = next(c for c in dates.choices(cl) if c["display"] == "Past 7 days")
    assert ledger(past_week["query_string"])[1] == [
        ("A-LAMP", "EAST", "adjustment", -1),
        ("A-BULB", "WEST", "receipt", 4),
    ]
    # NORD's ledger stays out of reach, even asked for by product id.
    assert ledger(f"?product__id__exact={shop.nord_lamp.pk}")[1] == []


# --- Product page: who waits for this product --------------------------------------------------


def waiting_panel(html: str) -> list[str]:
    """Order numbers in the waiting-orders panel, top to bottom."""
    match = re.search(r'<div class="bpo-panel" id="waiting-orders">(.*?)</table>', html, re.S)
    assert match, "no waiting-orders panel on the product page"
    return re.findall(r'/admin/orders/order/\d+/change/">([^<]+)</a>', match.group(1))


def test_product_page_lists_waiting_orders_in_serve_order(client, shop, place):
    now = timezone.now()
    place(shop.rare, "W-LOW", qty=2, priority=100)
    place(shop.rare, "W-HIGH", qty=2, priority=500)
    place(shop.rare, "W-MID", qty=2, priority=300, ship_by=now + timedelta(days=3))
    place(shop.rare, "W-MID-SOONER", qty=2, priority=300, ship_by=now + timedelta(days=2))
    held = place(shop.rare, "W-HELD", qty=2, priority=900)
    order_services.order_hold(order=held, reason="Fraud check")
    product_url = reverse("admin:inventory_product_change", args=[shop.rare.pk])
    client.force_login(shop.agent)

    page = client.get(product_url)

    assert page.status_code == 200
    html = page.content.decode()
    assert waiting_panel(html) == ["W-HIGH", "W-MID-SOONER", "W-MID", "W-LOW"]
    assert reverse(RECEIVE) not in html  # agents see, supervisors receive

    # Arriving units go to the orders top to bottom.
    client.force_login(shop.supervisor)
    assert f"{reverse(RECEIVE)}?product={shop.rare.pk}&warehouse={shop.east.pk}" in (
        client.get(product_url).content.decode()
    )
    assert receive(client, shop.rare, shop.east, 4).status_code == 302

    assert waiting_panel(client.get(product_url).content.decode()) == ["W-MID", "W-LOW"]
    assert dict(Order.objects.values_list("number", "status")) == {
        "W-LOW": "backordered",
        "W-HIGH": "ready",
        "W-MID": "backordered",
        "W-MID-SOONER": "ready",
        "W-HELD": "on_hold",
    }


def test_product_page_with_nobody_waiting(client, shop):
    client.force_login(shop.agent)

    html = client.get(reverse("admin:inventory_product_change", args=[shop.lamp.pk])).content
    assert waiting_panel(html.decode()) == []
    assert "No order is waiting for this product." in html.decode()


# --- Another client's stock -------------------------------------------------------------------


def test_another_clients_product_stock_and_ledger_are_not_there(client, shop):
    nord_level = level(shop.nord_lamp, shop.east)
    nord_movement = StockMovement.objects.get(product=shop.nord_lamp)
    before = stock_snapshot()

    for user in (shop.agent, shop.supervisor):
        client.force_login(user)
        for url in (
            reverse("admin:inventory_product_change", args=[shop.nord_lamp.pk]),
            reverse("admin:inventory_stocklevel_change", args=[nord_level.pk]),
            reverse("admin:inventory_stockmovement_change", args=[nord_movement.pk]),
        ):
            assert client.get(url).status_code == 404, (user, url)
        listing = client.get(reverse(LEVELS), {"q": "N-LAMP"})
        assert list(listing.context["cl"].result_list) == []

    client.force_login(shop.supervisor)
    assert receive(client, shop.nord_lamp, shop.east, 5).context["form"].errors == {
        "product": [INVALID_CHOICE]
    }
    assert stock_snapshot() == before
