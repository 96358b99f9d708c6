"""Issue #18 in a browser: keying in a phone order for a scarce SKU, searching as people type,
and the home page of the day's work at 1280×800."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orders import services
from orders.models import Order

pytestmark = pytest.mark.e2e

TIMEOUT = 20_000


@pytest.fixture
def shop(transactional_db, make_shop):
    return make_shop(
        products={
            "lamp": ("acme", "A-LAMP", 100),
            "rare": ("acme", "A-RARE", {"EAST": 2}),
            "nord_rare": ("nord", "N-RARE", 50),
        },
        users=("agent", "colleague"),
    )


def fits(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_agent_keys_in_a_phone_order_for_a_scarce_sku(shop, admin_login, live_server):
    page = admin_login("acme-agent", "pw")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#key-in-order").click()  # from the home page
    page.wait_for_url(re.compile(r"/admin/orders/order/add/$"))
    assert fits(page)
    expect(page.locator("#id_client")).to_have_value(str(shop.acme.pk))
    page.fill("#id_customer_name", "Pat Phone")
    page.fill("#id_customer_email", "pat@example.com")
    page.fill("#id_customer_phone", "+44 20 7946 0001")
    page.fill("#id_ship_to_name", "Pat Phone")
    page.fill("#id_ship_to_city", "Leeds")
    page.fill("#id_lines-0-quantity", "5")
    page.fill("#id_lines-0-sku", "A-RARE")
    stock = page.locator(".bpo-line").first.locator(".bpo-stock")
    expect(stock).to_contain_text("EAST 2", timeout=TIMEOUT)  # live stock from the JSON look-up
    expect(stock).to_contain_text("short 3")
    page.locator("#create-order").click()
    page.wait_for_url(re.compile(r"/admin/orders/order/\d+/change/$"), timeout=TIMEOUT)
    order = Order.objects.get(client=shop.acme)
    expect(page.locator(".messagelist")).to_contain_text(
        f"Order {order.number} created and backordered: short A-RARE ×3"
    )
    expect(page.locator("#order-status")).to_have_text("Backordered")
    assert order.status == Order.Status.BACKORDERED and order.customer.phone


def test_agent_finds_an_existing_customer_by_phone(shop, admin_login, live_server, make_customer):
    make_customer(shop.acme, name="Grace Hopper", email="grace@example.com", phone="+1 555 0100")
    page = admin_login("acme-agent", "pw")
    page.goto(f"{live_server.url}/admin/orders/order/add/")
    page.fill("#id_customer_name", "555 01")
    page.locator(".bpo-customer-option").first.click(timeout=TIMEOUT)
    expect(page.locator("#id_customer_email")).to_have_value("grace@example.com")
    expect(page.locator("#customer-chosen")).to_contain_text("Existing customer: Grace Hopper")


def test_search_b9001_finds_the_shopify_order(shop, admin_login, live_server, make_order):
    make_order(shop.acme, [(shop.lamp, 1)], number="#B9001", source=Order.Source.SHOPIFY)
    make_order(shop.acme, [(shop.lamp, 1)], number="ACME-100104")
    page = admin_login("acme-agent", "pw")
    page.goto(f"{live_server.url}/admin/orders/order/?queue=all")
    page.fill("#searchbar", "b9001")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=b9001"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".field-number")).to_have_text("#B9001")


def test_home_page_fits_1280x800_and_shows_the_work(shop, admin_login, live_server, make_order):
    mine = make_order(shop.acme, [(shop.lamp, 1)], number="A-MINE-WITH-A-LONG-ORDER-NUMBER-1")
    services.order_assign(order=mine, agent=shop.agent)
    make_order(shop.acme, [(shop.rare, 5)], number="A-BACK")
    note = make_order(shop.acme, [(shop.lamp, 1)], number="A-NOTE")
    services.order_add_note(order=note, text="@acme-agent call the customer", user=shop.colleague)
    page = admin_login("acme-agent", "pw")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#panel-my-work")).to_contain_text("A-MINE-WITH-A-LONG-ORDER-NUMBER-1")
    expect(page.locator('#queue-counts [data-queue="backordered"] .bpo-count')).to_have_text("1")
    expect(page.locator("#mentions")).to_contain_text("call the customer")
    assert fits(page)
    # the take-next button on the home page works
    page.locator("#take-next").click()
    page.wait_for_url(re.compile(r"/admin/orders/order/\d+/change/$"), timeout=TIMEOUT)
    expect(page.locator(".messagelist .success")).to_contain_text("is yours")
