"""The agent's and the supervisor's workstation, end to end in a browser on seed_demo's data.

Issue acceptance: the demo agent takes the next order, places it on hold and releases it; the
supervisor receives stock for a backordered SKU and sees the waiting order become ready.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from clients.models import Client
from inventory.models import Product, Warehouse
from orders import services
from orders.models import Customer, Order, OrderEvent
from orders.services import LineInput

pytestmark = pytest.mark.e2e

# Where "Take next order" may pick from: every open status but On hold.
TAKEABLE = ["new", "ready", "backordered", "picking", "packed"]
TIMEOUT = 20_000  # ms, for expectations that follow a form post on a slow shared machine


def _order_url(live_server, order: Order) -> str:
    return f"{live_server.url}/admin/orders/order/{order.pk}/change/"


def test_agent_takes_next_order_holds_and_releases_it(seed_demo, admin_login, live_server):
    seed_demo(orders=30)
    expected = (
        Order.objects.filter(client__code="ACME", assigned_to__isnull=True, status__in=TAKEABLE)
        .order_by("-priority_score", "ship_by", "placed_at", "id")
        .first()
    )
    assert expected is not None, "seed_demo left no unassigned ACME order to take"
    status_before = expected.get_status_display()

    page = admin_login("agent", "agent")
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.locator("#take-next").click()

    # The order page of the most urgent unassigned ACME order, now the agent's.
    page.wait_for_url(re.compile(r"/admin/orders/order/\d+/change/$"), timeout=TIMEOUT)
    expect(page.locator("#order-header .big")).to_have_text(expected.number)
    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Order {expected.number} is yours"
    )
    expect(page.locator("#order-header")).to_contain_text("Assigned: agent")
    expect(page.locator("#order-status")).to_have_text(status_before)
    assert page.url == _order_url(live_server, expected)
    expected.refresh_from_db()
    assert expected.assigned_to.username == "agent"

    # Place it on hold, with a reason, through the action's form page.
    reason = "Customer asked to change the delivery address"
    page.locator("#order-actions").get_by_role("link", name="Place on hold…").click()
    page.wait_for_url(re.compile(r"/do/hold/$"))
    page.select_option("#id_hold_type", "customer_request")
    page.fill("#id_reason", reason)
    page.locator("#content-main input[type=submit]").click()
    expect(page.locator("#order-status")).to_have_text("On hold", timeout=TIMEOUT)
    assert page.url == _order_url(live_server, expected)
    expect(page.locator("#order-header")).to_contain_text(f"On hold: Customer request – {reason}")
    newest_event = page.locator("#order-timeline tbody tr").first
    expect(newest_event).to_contain_text("Placed on hold")
    expect(newest_event).to_contain_text(reason)
    expect(newest_event).to_contain_text("agent")
    expected.refresh_from_db()
    assert expected.status == Order.Status.ON_HOLD
    assert expected.hold_reason == reason
    assert expected.hold_type == "customer_request"
    assert expected.events.filter(
        kind=OrderEvent.Kind.HOLD, message=f"Customer request: {reason}"
    ).exists()

    # Release: a plain POST button; the order goes back to where it was.
    page.locator("#order-actions").get_by_role("button", name="Release from hold").click()
    expect(page.locator("#order-status")).to_have_text(status_before, timeout=TIMEOUT)
    expect(page.locator(".messagelist .success")).to_contain_text("Released")
    newest_event = page.locator("#order-timeline tbody tr").first
    expect(newest_event).to_contain_text("Released")
    expect(newest_event).to_contain_text(reason)
    expect(page.locator("#order-actions")).not_to_contain_text("Release from hold")
    expected.refresh_from_db()
    assert expected.get_status_display() == status_before
    assert (expected.hold_reason, expected.hold_type) == ("", "")
    assert expected.assigned_to.username == "agent"


@pytest.fixture
def backordered_order(seed_demo):
    """seed_demo's data plus one ACME order waiting for a SKU nobody has in stock."""
    seed_demo(orders=30)
    acme = Client.objects.get(code="ACME")
    product = Product.objects.create(client=acme, sku="ACME-E2E-LANTERN", name="Storm lantern")
    order = services.order_create(
        client=acme,
        number="ACME-E2E-900001",
        lines=[LineInput(product=product, quantity=3, unit_price=Decimal("24.90"))],
        customer=Customer.objects.filter(client=acme).order_by("id").first(),
    )
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED
    assert order.lines.get().qty_backordered == 3
    return order


def test_supervisor_receives_stock_and_the_waiting_order_becomes_ready(
    backordered_order, admin_login, live_server
):
    order = backordered_order
    line = order.lines.select_related("product").get()
    sku = line.product.sku
    east = Warehouse.objects.get(code="EAST")
    assert get_user_model().objects.filter(username="supervisor").exists()

    page = admin_login("supervisor", "supervisor")

    # The supervisor finds the order in the Backordered queue by its SKU …
    page.goto(f"{live_server.url}/admin/orders/order/?queue=backordered")
    page.fill("#searchbar", sku)
    page.locator("#changelist-search [type=submit]").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1, timeout=TIMEOUT)
    expect(rows.first.locator(".field-number")).to_have_text(order.number)
    rows.first.locator(".field-number a").click()
    expect(page.locator("#order-status")).to_have_text("Backordered", timeout=TIMEOUT)

    # … follows the SKU to the product page, which lists the order as waiting …
    page.locator("#order-lines").get_by_role("link", name=sku).click()
    waiting = page.locator("#waiting-orders")
    expect(waiting).to_contain_text(order.number, timeout=TIMEOUT)

    # … and receives stock for it: Stock levels → Receive stock.
    page.goto(f"{live_server.url}/admin/inventory/stocklevel/")
    page.locator("#receive-stock").click()
    page.wait_for_url(re.compile(r"/admin/inventory/stocklevel/receive/$"))
    page.locator("#id_product + .select2 .select2-selection").click()
    search = page.locator(".select2-container--open .select2-search__field")
    search.press_sequentially(sku)
    option = page.locator(".select2-results__option", has_text=sku)
    expect(option).to_have_count(1, timeout=TIMEOUT)
    option.click()
    expect(page.locator("#select2-id_product-container")).to_contain_text(sku)
    page.select_option("#id_warehouse", str(east.pk))
    page.fill("#id_quantity", "3")
    page.fill("#id_reference", "PO-E2E-1")
    page.locator("#stock-form input[type=submit]").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        f"Received 3 × {sku} at EAST", timeout=TIMEOUT
    )
    expect(page.locator(".messagelist .success")).to_contain_text("still backordered 0")

    # The waiting order took the units: Ready to pick, nothing backordered.
    page.goto(_order_url(live_server, order))
    expect(page.locator("#order-status")).to_have_text("Ready to pick")
    expect(page.locator("#order-lines tbody tr").first).to_contain_text("3 (3 @ EAST)")
    order.refresh_from_db()
    assert order.status == Order.Status.READY
    assert order.lines.get().qty_backordered == 0

    # The product page no longer lists it as waiting.
    page.goto(f"{live_server.url}/admin/inventory/product/{line.product_id}/change/")
    waiting = page.locator("#waiting-orders")
    expect(waiting).to_contain_text("No order is waiting for this product.")
    expect(waiting).not_to_contain_text(order.number)
