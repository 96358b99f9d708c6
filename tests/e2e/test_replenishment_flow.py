"""In a real browser, as the demo supervisor on seed_demo's data: open the replenishment page,
run it, approve and send the suggested purchase order, receive it, and the backordered demo
order becomes ready to pick."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from inventory.models import PurchaseOrder
from orders.management.commands.seed_demo import DEMO_USERS
from orders.models import Order

pytestmark = pytest.mark.e2e

PASSWORD = {u: p for u, p, _r, _c in DEMO_USERS}["supervisor"]


def test_supervisor_runs_replenishment_and_receives_the_po(
    seed_demo, admin_login, live_server, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    seed_demo(orders=30)
    order = Order.objects.get(number="ACME-DEMO-BO")
    assert order.status == Order.Status.BACKORDERED
    line = order.lines.get()

    page = admin_login("supervisor", PASSWORD)
    page.goto(f"{live_server.url}/admin/inventory/reorderrule/replenishment/")
    expect(page.locator("h1")).to_have_text("Replenishment")
    page.locator("#run-now").click()
    expect(page.locator(".messagelist .success")).to_contain_text("Replenishment run")
    expect(page.locator("#suggestions")).to_contain_text(line.product.sku)

    po = PurchaseOrder.objects.get(
        status="draft",
        warehouse=line.backorder_level.warehouse,
        lines__product=line.product,
    )
    page.locator("#draft-pos").get_by_role("link", name=str(po)).click()
    page.locator("#po-approve").click()
    expect(page.locator(".messagelist .success")).to_contain_text("approved")
    page.locator("#po-send").click()
    expect(page.locator(".messagelist .success")).to_contain_text("sent")
    expect(page.locator("#po-pdf")).to_be_visible()
    page.locator("#po-receive").click()
    for po_line in po.lines.all():
        page.fill(f"#id_line_{po_line.pk}", str(po_line.quantity))
    page.locator("#book-receipt").click()
    expect(page.locator(".messagelist .success")).to_contain_text("received")

    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("#order-status")).to_have_text("Ready to pick")
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.RECEIVED
