"""In a real browser: a supervisor edits a notification template and sees the live preview; a
delayed demo order's notice is on its timeline; its tracking link (printed by seed_demo) opens
without login in a fresh browser context and shows the revised date; a tampered link shows
the error page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orders.management.commands.seed_demo import DEMO_USERS
from orders.models import Order

pytestmark = pytest.mark.e2e

PASSWORDS = {u: p for u, p, _r, _c in DEMO_USERS}


def test_template_preview_delay_notice_and_public_tracking_page(
    page, browser, live_server, settings, seed_demo, admin_login
):
    settings.PUBLIC_BASE_URL = live_server.url
    output = seed_demo(orders=40)
    match = re.search(r"Tracking page of delayed order (\S+) \(no login\): (\S+)", output)
    assert match, output
    number, tracking_url = match.groups()
    assert tracking_url.startswith(f"{live_server.url}/track/")

    # 1. The supervisor edits a template and sees the preview, rendered against a real order.
    admin_login("supervisor", PASSWORDS["supervisor"])
    page.goto(f"{live_server.url}/admin/support/notificationtemplate/add/?event=delay_notice")
    page.select_option("#id_client", label="Acme Outdoor Gear (ACME)")
    page.fill("#id_subject", "Sorry {{ customer_first_name }}: order {{ order_number }} is late")
    expect(page.locator("#preview-subject")).to_contain_text(re.compile(r"Sorry \w+: order ACME-"))
    expect(page.locator("#preview-text")).to_contain_text("cancel the order free of charge")
    page.fill("#id_body_text", "{% if %}")
    expect(page.locator("#preview-errors")).to_contain_text("Plain-text body: line 1")

    # 2. The delayed order's notice is on its timeline.
    order = Order.objects.get(number=number)
    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator("#order-timeline")).to_contain_text("E-mail 'Delay notice' sent to")
    expect(page.locator("#notification-table")).to_contain_text("Delay notice")

    # 3. A fresh browser (no session, no cookies) opens the customer's link.
    context = browser.new_context(viewport={"width": 390, "height": 800})  # a phone
    try:
        customer = context.new_page()
        customer.goto(tracking_url)
        expect(customer.locator("h1")).to_contain_text(f"Order {number}")
        expect(customer.locator("#trk-revised-date")).to_be_visible()
        expect(customer.locator("#trk-delay")).to_contain_text("out of stock")
        expect(customer.locator("#trk-cancel-link")).to_be_visible()
        assert "/admin/login" not in customer.url

        # 4. A tampered link: a clear error page, not the order.
        customer.goto(tracking_url.rstrip("/")[:-2] + "xx/")
        expect(customer.locator("#trk-message h1")).to_contain_text("This link does not work")
        expect(customer.locator("body")).not_to_contain_text(number)
        customer.wait_for_load_state("load")
    finally:
        context.close()
