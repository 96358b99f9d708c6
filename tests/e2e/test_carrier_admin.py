"""In a real browser: a carrier's webhook secret is write-only and only admins change carriers
(issue #11 finding 1); after a rotation the carrier's old secret still works over real HTTP
during the overlap."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from clients.models import Client, Membership
from clients.services import membership_set
from fulfillment.demo import _carriers
from fulfillment.models import Carrier
from fulfillment.views import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

pytestmark = pytest.mark.e2e

OLD_SECRET = "demo-secret-swift"


def _call_webhook(base_url: str, secret: str) -> int:
    body = json.dumps(
        {"tracking_number": "NO-SUCH-1", "status": "in_transit", "occurred_at": "2026-01-05T10:00Z"}
    ).encode()
    stamp = str(int(time.time()))
    request = urllib.request.Request(
        f"{base_url}/webhooks/carriers/SWIFT/",
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
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def carriers(transactional_db):
    _carriers()
    assert Carrier.objects.get(code="SWIFT").webhook_secret == OLD_SECRET
    return Carrier.objects.get(code="SWIFT")


def test_admin_rotates_a_secret_that_is_shown_once(page, live_server, admin_login, carriers):
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    admin_login("root", "pw-root-123")
    page.goto(f"{live_server.url}/admin/fulfillment/carrier/{carriers.pk}/change/")
    expect(page.locator(".field-secret_status")).to_contain_text("set on")
    assert OLD_SECRET not in page.content()
    expect(page.locator("#id_new_webhook_secret")).to_have_attribute("type", "password")

    page.check("#id_generate_webhook_secret")
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state("load")
    message = page.locator(".messagelist .warning")
    expect(message).to_contain_text("it will not be shown again")
    new_secret = Carrier.objects.get(pk=carriers.pk).webhook_secret
    assert new_secret != OLD_SECRET
    expect(message.locator("code")).to_have_text(new_secret)

    page.reload()
    page.wait_for_load_state("load")
    assert new_secret not in page.content() and OLD_SECRET not in page.content()
    expect(page.locator(".field-secret_status")).to_contain_text(
        "the previous secret is accepted until"
    )
    # Over real HTTP: both secrets are accepted during the overlap (422 = signature fine, the
    # tracking number unknown), a wrong one is not.
    assert _call_webhook(live_server.url, new_secret) == 422
    assert _call_webhook(live_server.url, OLD_SECRET) == 422
    assert _call_webhook(live_server.url, "not-the-secret-at-all-123456") == 401


def test_a_supervisor_sees_the_carrier_but_cannot_change_it(
    page, live_server, admin_login, carriers
):
    nord = Client.objects.create(code="NORD", name="Nordlicht Home")
    boss = get_user_model().objects.create_user("nordboss", "b@example.com", "pw-boss-123")
    membership_set(user=boss, client=nord, role=Membership.Role.SUPERVISOR)
    admin_login("nordboss", "pw-boss-123")
    page.goto(f"{live_server.url}/admin/fulfillment/carrier/{carriers.pk}/change/")
    expect(page.locator(".field-secret_status")).to_contain_text("set on")
    assert OLD_SECRET not in page.content()
    expect(page.locator("#id_new_webhook_secret")).to_have_count(0)
    expect(page.locator("#id_tracking_url_template")).to_have_count(0)
    expect(page.locator("input[type=submit]")).to_have_count(0)
