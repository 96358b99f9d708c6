"""In a real browser, as the demo supervisor: a prepaid demo order waits on a payment hold;
a remittance file is uploaded (preview, then confirm); the order becomes ready; after it is
shipped its invoice PDF opens from the order page."""

from __future__ import annotations

import pytest
from django_q.conf import Conf
from playwright.sync_api import expect

from billing.models import Invoice
from fulfillment.models import CarrierService
from fulfillment.services import shipment_create
from orders.management.commands.seed_demo import DEMO_USERS
from orders.models import Order
from orders.services import order_move

pytestmark = pytest.mark.e2e

PASSWORD = {u: p for u, p, _r, _c in DEMO_USERS}["supervisor"]


def test_remittance_releases_prepaid_order_and_invoice_pdf_opens(
    seed_demo, admin_login, page, live_server, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(Conf, "SYNC", True)  # the worker's tasks (invoice, PDF) run inline
    seed_demo(orders=10)
    order = Order.objects.get(number="NORD-PAY-1")
    assert (order.status, order.hold_type) == (Order.Status.ON_HOLD, Order.HoldType.PAYMENT)

    admin_login("supervisor", PASSWORD)
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("#order-status")).to_contain_text("On hold")
    expect(page.locator("#order-payment-summary")).to_contain_text("outstanding")

    # Upload the remittance file: a preview first (one bad row), nothing recorded yet.
    page.goto(f"{live_server.url}/admin/billing/payment/")
    page.locator("#remittance-link").click()
    page.wait_for_url("**/admin/billing/payment/remittance/")
    csv_text = (
        "provider_reference,order_number,amount\n"
        f"BANK-0001,{order.number},{order.total}\n"
        "BANK-0002,NO-SUCH-ORDER,5.00\n"
    )
    page.set_input_files(
        "#id_file",
        files=[{"name": "remit.csv", "mimeType": "text/csv", "buffer": csv_text.encode()}],
    )
    page.locator("#billing-form input[type=submit]").click()
    page.wait_for_load_state("load")
    expect(page.locator("#bad-rows")).to_have_text("1")
    expect(page.locator("#remittance-preview")).to_contain_text("NO-SUCH-ORDER")
    order.refresh_from_db()
    assert order.status == Order.Status.ON_HOLD

    page.locator("#billing-form input[type=submit]").click()
    page.wait_for_url("**/admin/billing/payment/")
    expect(page.locator(".messagelist")).to_contain_text("1 payment(s) recorded")

    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("#order-status")).to_contain_text("Ready")
    order.refresh_from_db()
    assert order.status == Order.Status.READY

    # The warehouse ships it (fulfillment's services), then the invoice PDF opens.
    order_move(order=order, to_status="picking")
    order_move(order=order, to_status="packed")
    shipment_create(
        order=order,
        service=CarrierService.objects.order_by("pk").first(),
        tracking_number="E2E-PAY-0001",
    )
    assert Invoice.objects.filter(order=order).exists()
    page.reload()
    page.wait_for_load_state("load")
    expect(page.locator("#order-status")).to_contain_text("Shipped")
    link = page.locator("#order-invoices .invoice-pdf-link").first
    expect(link).to_be_visible()
    pdf = page.context.request.get(f"{live_server.url}{link.get_attribute('href')}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
