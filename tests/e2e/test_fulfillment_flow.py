"""In a real browser, as the demo agent: create a pick wave, open its PDF, pack an order, ship
it with a tracking number; then the carrier's signed webhook (a real HTTP call to the live
server) marks it delivered, and the order page shows it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from clients.models import Client, Membership
from clients.services import membership_set
from fulfillment.demo import _carriers
from fulfillment.models import PickWave, Shipment
from fulfillment.views import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from orders.management.commands.seed_demo import DEMO_USERS
from orders.models import Order

pytestmark = pytest.mark.e2e

PASSWORD = {u: p for u, p, _r, _c in DEMO_USERS}["agent"]


@pytest.fixture
def floor(settings, tmp_path, make_warehouse, make_product, make_customer, make_order):
    """The demo agent (ACME only), seed_demo's carriers, three ready ACME orders and one of
    another client."""
    settings.MEDIA_ROOT = tmp_path / "media"  # stored PDFs stay out of the project
    east = make_warehouse("EAST")
    acme = Client.objects.create(code="ACME", name="Acme Outdoor Gear")
    nord = Client.objects.create(code="NORD", name="Nordlicht Home", currency="EUR")
    lamp = make_product(acme, "ACME-0001", name="Trail lamp", stock={east: 50})
    nord_lamp = make_product(nord, "NORD-0001", stock={east: 50})
    customer = make_customer(acme, name="Ana Smith")
    now = timezone.now()
    orders = [
        make_order(
            acme,
            [(lamp, 1 + i)],
            customer=customer,
            number=f"ACME-10000{i}",
            ship_by=now + timedelta(hours=6 + 10 * i),
            ship_to={"name": "Ana Smith", "address1": "1 Trail Street", "city": "Lakeside"},
        )
        for i in range(3)
    ]
    make_order(nord, [(nord_lamp, 1)], currency="EUR", number="NORD-100001")
    _carriers()
    agent = get_user_model().objects.create_user("agent", "agent@example.com", PASSWORD)
    membership_set(user=agent, client=acme, role=Membership.Role.AGENT)
    return {"east": east, "orders": orders}


def _post_signed(url: str, secret: str, payload: dict) -> tuple[int, dict]:
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(secret, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_wave_pdf_pack_ship_and_delivery_by_webhook(floor, admin_login, page, live_server):
    admin_login("agent", PASSWORD)

    # 1. Create a wave of the two most urgent ready orders in EAST.
    page.goto(f"{live_server.url}/admin/fulfillment/pickwave/add/")
    expect(page.locator("#id_client option:checked")).to_have_text("Acme Outdoor Gear (ACME)")
    expect(page.locator("#wave-form")).not_to_contain_text("NORD")
    page.select_option("#id_warehouse", label="EAST – EAST")
    page.fill("#id_size", "2")
    page.locator("#wave-form input[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/admin/fulfillment/pickwave/*/change/")
    expect(page.locator(".messagelist")).to_contain_text("2 order(s)")
    wave = PickWave.objects.get()
    first, second = [e.order for e in wave.entries.order_by("sequence")]
    assert [first.number, second.number] == ["ACME-100000", "ACME-100001"]
    expect(page.locator("#wave-pick-list")).to_contain_text("ACME-0001")

    # 2. Open its pick-list PDF (the link opens a new tab; the browser's session fetches it).
    href = page.locator("#pick-list-a4").get_attribute("href")
    pdf = page.context.request.get(f"{live_server.url}{href}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    letter = page.context.request.get(
        f"{live_server.url}{page.locator('#pick-list-letter').get_attribute('href')}"
    )
    assert letter.ok and letter.body().startswith(b"%PDF")

    # 3. Pack the first order from the wave page.
    page.locator(f"#wave-order-{first.pk} .pack-one").click()
    page.wait_for_load_state("load")
    expect(page.locator(".messagelist")).to_contain_text(f"Packed: {first.number}")
    expect(page.locator(f"#wave-order-{first.pk} .wave-order-status")).to_have_text("Packed")

    # 4. Ship it with a tracking number (the suggested service is preselected).
    page.locator(f"#wave-order-{first.pk} .ship-one").click()
    page.wait_for_url(f"{live_server.url}/admin/fulfillment/shipment/ship/**")
    expect(page.locator(f"#id_o{first.pk}-service option:checked")).to_contain_text("suggested")
    page.fill(f"#id_o{first.pk}-tracking_number", "E2E-TRACK-0001")
    page.locator("#ship-submit").click()
    page.wait_for_url(f"{live_server.url}/admin/orders/order/{first.pk}/change/")
    expect(page.locator("#order-status")).to_have_text("Shipped")
    link = page.locator("#order-shipments a.bpo-tracking")
    expect(link).to_have_text("E2E-TRACK-0001")
    shipment = Shipment.objects.select_related("carrier").get()
    assert link.get_attribute("href") == shipment.tracking_url
    assert link.get_attribute("target") == "_blank"

    # 5. The carrier reports delivery through its signed webhook.
    status, body = _post_signed(
        f"{live_server.url}/webhooks/carriers/{shipment.carrier.code}/",
        shipment.carrier.webhook_secret,
        {
            "tracking_number": "E2E-TRACK-0001",
            "status": "delivered",
            "occurred_at": timezone.now().isoformat(),
            "location": "Lakeside",
            "description": "Left at front door",
        },
    )
    assert status == 200, body
    assert body["orders_delivered"] == 1
    # A forged call is refused and changes nothing.
    status, _ = _post_signed(
        f"{live_server.url}/webhooks/carriers/{shipment.carrier.code}/",
        "forged-secret",
        {"tracking_number": "E2E-TRACK-0001", "status": "returned", "occurred_at": "2026-01-01"},
    )
    assert status == 401

    # 6. The order page shows the delivery.
    page.reload()
    page.wait_for_load_state("load")
    expect(page.locator("#order-status")).to_have_text("Delivered")
    expect(page.locator("#order-shipments .shipment-status")).to_contain_text("Delivered")
    expect(page.locator("#order-timeline")).to_contain_text("confirmed every shipment")
    assert Order.objects.get(pk=first.pk).status == Order.Status.DELIVERED
    assert Order.objects.get(pk=second.pk).status == Order.Status.PICKING
