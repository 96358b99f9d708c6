"""Issue #11 findings 1 and 3 through the admin and the carrier webhook view.

1. Carriers are shared by every client: a supervisor (of any client) could read a carrier's
   webhook secret, replace it and the tracking URL, then sign webhooks that moved other
   clients' orders. Now only admins change carriers, services and service-level rules; the
   secret is write-only ("set on …"); rotating keeps the previous secret valid for an overlap;
   a client's own account and negotiated rates are per client.
3. Hostile webhook requests that answered 500 now answer 4xx and store nothing.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from clients.models import Membership
from fulfillment import selectors, services
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    Carrier,
    CarrierAccount,
    CarrierAccountRate,
    ServiceLevelRule,
    Shipment,
    TrackingEvent,
)
from fulfillment.views import sign
from inventory import services as inventory
from orders import services as order_services
from orders.models import Order, OrderEvent
from tests.fulfillment.helpers import post_webhook, webhook_url

pytestmark = pytest.mark.django_db

EVENT = {
    "tracking_number": "1ZTRACK1",
    "status": "in_transit",
    "occurred_at": "2026-01-05T10:00:00Z",
    "location": "Memphis hub",
}


@pytest.fixture
def world(rates, make_client, make_warehouse, make_product, make_order, make_user, to_status):
    """ACME and NORD each have an order shipped with SWIFT; a supervisor of NORD only."""
    acme, nord = make_client("ACME"), make_client("NORD")
    east = make_warehouse("EAST")
    shipments = {}
    for client, number in ((acme, "1ZTRACK1"), (nord, "1ZNORD1")):
        product = make_product(client, f"{client.code}-LAMP", stock={east: 5})
        order = to_status(make_order(client, [(product, 1)]), "packed")
        shipments[client.code] = services.shipment_create(
            order=order, service=rates.ground, tracking_number=number
        )
    return {
        "acme": acme,
        "nord": nord,
        "shipments": shipments,
        "nord_boss": make_user("nordboss", clients=[nord], role=Membership.Role.SUPERVISOR),
        "root": get_user_model().objects.create_superuser("root", "r@example.com", "pw"),
    }


def _carrier_row(carrier: Carrier):
    return Carrier.objects.filter(pk=carrier.pk).values().get()


def _world_state():
    return (
        list(TrackingEvent.objects.order_by("pk").values_list("pk", flat=True)),
        list(Shipment.objects.order_by("pk").values_list("status", "last_event_at")),
        list(Order.objects.order_by("pk").values_list("status", "exception_flag", "delay_reason")),
        OrderEvent.objects.count(),
    )


# -- 1. shared carrier configuration: admins only, secret write-only -----------------------------
def test_the_reported_attack_a_supervisor_can_neither_read_nor_replace_the_secret(
    client, world, rates
):
    client.force_login(world["nord_boss"])
    url = reverse("admin:fulfillment_carrier_change", args=[rates.swift.pk])
    page = client.get(url)
    assert page.status_code == 200  # may look (view permission) ...
    html = page.content.decode()
    assert "swift-secret" not in html
    assert 'name="new_webhook_secret"' not in html and 'name="tracking_url_template"' not in html
    before = _carrier_row(rates.swift)
    response = client.post(
        url,
        {
            "name": "SwiftParcel",
            "tracking_url_template": "https://evil.example/{tracking_number}",
            "active": "on",
            "new_webhook_secret": "attacker-controlled-secret-123456",
            "webhook_secret": "attacker-controlled-secret-123456",
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 403  # ... but not change
    assert _carrier_row(rates.swift) == before
    # The attacker's next step fails: a webhook signed with their secret is refused.
    state = _world_state()
    forged = {**EVENT, "status": "delivered"}
    response = post_webhook(client, "SWIFT", forged, secret="attacker-controlled-secret-123456")
    assert response.status_code == 401
    assert _world_state() == state


def test_supervisors_cannot_add_carriers_services_or_service_level_rules(client, world, rates):
    client.force_login(world["nord_boss"])
    assert client.get(reverse("admin:fulfillment_carrier_add")).status_code == 403
    response = client.post(
        reverse("admin:fulfillment_carrier_add"),
        {
            "name": "Evil",
            "code": "EVIL",
            "tracking_url_template": "https://e.example/{tracking_number}",
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 403
    assert not Carrier.objects.filter(code="EVIL").exists()
    rule = ServiceLevelRule.objects.get(service_level="standard")
    response = client.post(
        reverse("admin:fulfillment_servicelevelrule_change", args=[rule.pk]),
        {"service_level": "standard", "deliver_within_days": 60, "services": [rates.nextday.pk]},
    )
    assert response.status_code == 403
    rule.refresh_from_db()
    assert rule.deliver_within_days == 6
    assert client.get(reverse("admin:fulfillment_servicelevelrule_add")).status_code == 403
    user = world["nord_boss"]
    for perm in (
        "change_carrier",
        "add_carrier",
        "change_carrierservice",
        "change_servicelevelrule",
    ):
        assert not user.has_perm(f"fulfillment.{perm}"), perm


def test_an_admin_sees_set_on_never_the_secret_and_rotates_it(client, world, rates):
    client.force_login(world["root"])
    url = reverse("admin:fulfillment_carrier_change", args=[rates.swift.pk])
    html = client.get(url).content.decode()
    assert "swift-secret" not in html
    assert 'name="new_webhook_secret"' in html and "set (date unknown)" in html

    new_secret = "the-new-agreed-secret-0123456789"
    response = client.post(
        url,
        {
            "name": "SwiftParcel",
            "tracking_url_template": rates.swift.tracking_url_template,
            "active": "on",
            "new_webhook_secret": new_secret,
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    carrier = Carrier.objects.get(pk=rates.swift.pk)
    assert carrier.webhook_secret == new_secret
    assert carrier.previous_webhook_secret == "swift-secret"
    assert carrier.previous_webhook_secret_valid_until > timezone.now() + timedelta(hours=23)
    html = client.get(url).content.decode()
    assert new_secret not in html and "swift-secret" not in html
    assert f"set on {timezone.localtime(carrier.webhook_secret_set_at):%Y-%m-%d %H:%M}" in html
    assert "the previous secret is accepted until" in html
    listing = client.get(reverse("admin:fulfillment_carrier_changelist")).content.decode()
    assert new_secret not in listing and "swift-secret" not in listing


def test_a_generated_secret_is_shown_once(client, world, rates):
    client.force_login(world["root"])
    url = reverse("admin:fulfillment_carrier_change", args=[rates.swift.pk])
    response = client.post(
        url,
        {
            "name": "SwiftParcel",
            "tracking_url_template": rates.swift.tracking_url_template,
            "active": "on",
            "generate_webhook_secret": "on",
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    secret = Carrier.objects.get(pk=rates.swift.pk).webhook_secret
    assert secret != "swift-secret" and len(secret) >= 32
    assert secret in response.content.decode()  # once, in the message after saving
    assert secret not in client.get(url).content.decode()  # never again


def test_a_new_carrier_gets_a_generated_secret_and_no_overlap(client, world):
    client.force_login(world["root"])
    response = client.post(
        reverse("admin:fulfillment_carrier_add"),
        {
            "name": "NewCo",
            "code": "NEWCO",
            "tracking_url_template": "https://newco.example/{tracking_number}",
            "active": "on",
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    carrier = Carrier.objects.get(code="NEWCO")
    assert carrier.webhook_secret and carrier.webhook_secret in response.content.decode()
    assert carrier.webhook_secret_set_at is not None
    assert carrier.valid_webhook_secrets() == [carrier.webhook_secret]


def test_bad_new_secrets_are_refused_in_the_form(client, world, rates):
    client.force_login(world["root"])
    url = reverse("admin:fulfillment_carrier_change", args=[rates.swift.pk])
    for bad in ("short", "ünïcode-secret-that-is-long-enough", " padded-secret-long-enough-xx "):
        response = client.post(
            url,
            {
                "name": "SwiftParcel",
                "tracking_url_template": rates.swift.tracking_url_template,
                "active": "on",
                "new_webhook_secret": bad,
                "services-TOTAL_FORMS": "0",
                "services-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 200
        assert "new_webhook_secret" in response.context["adminform"].form.errors
    assert Carrier.objects.get(pk=rates.swift.pk).webhook_secret == "swift-secret"


def test_rotation_keeps_the_previous_secret_for_the_overlap_only(client, world, rates):
    new_secret = services.carrier_webhook_secret_rotate(carrier=rates.swift)
    # A call the carrier signed with the old secret just before switching still counts ...
    assert post_webhook(client, "SWIFT", EVENT, secret="swift-secret").status_code == 200
    later = {**EVENT, "status": "out_for_delivery", "occurred_at": "2026-01-05T12:00:00Z"}
    assert post_webhook(client, "SWIFT", later, secret=new_secret).status_code == 200
    # ... until the overlap ends.
    Carrier.objects.filter(pk=rates.swift.pk).update(
        previous_webhook_secret_valid_until=timezone.now() - timedelta(seconds=1)
    )
    state = _world_state()
    last = {**EVENT, "status": "delivered", "occurred_at": "2026-01-05T15:00:00Z"}
    assert post_webhook(client, "SWIFT", last, secret="swift-secret").status_code == 401
    assert _world_state() == state
    # A second rotation drops the first secret at once and keeps the second for the overlap.
    third = services.carrier_webhook_secret_rotate(carrier=rates.swift)
    carrier = Carrier.objects.get(pk=rates.swift.pk)
    assert carrier.valid_webhook_secrets() == [third, new_secret]


def test_overlap_is_configurable(world, rates, settings):
    settings.WEBHOOK_SECRET_OVERLAP_HOURS = 2
    services.carrier_webhook_secret_rotate(carrier=rates.swift)
    until = Carrier.objects.get(pk=rates.swift.pk).previous_webhook_secret_valid_until
    assert timedelta(hours=1, minutes=59) < until - timezone.now() <= timedelta(hours=2)
    services.carrier_webhook_secret_rotate(carrier=rates.swift, overlap=timedelta(0))
    assert len(Carrier.objects.get(pk=rates.swift.pk).valid_webhook_secrets()) == 1


def test_rotate_refuses_weak_or_same_secrets(world, rates):
    for bad in ("", "short", "x" * 129, "tab\tinside-a-long-enough-secret", "é" * 30):
        with pytest.raises(FulfillmentError):
            services.carrier_webhook_secret_rotate(carrier=rates.swift, new_secret=bad)
    services.carrier_webhook_secret_rotate(carrier=rates.swift, new_secret="s" * 30)
    with pytest.raises(FulfillmentError):
        services.carrier_webhook_secret_rotate(carrier=rates.swift, new_secret="s" * 30)


# -- a carrier's webhook touches only its own shipments ------------------------------------------
def test_a_webhook_of_carrier_x_cannot_touch_shipments_of_carrier_y(client, world, rates):
    state = _world_state()
    # NSTAR signs correctly but names SWIFT's tracking numbers: unknown to NSTAR, 422.
    for number in ("1ZTRACK1", "1ZNORD1"):
        response = post_webhook(
            client,
            "NSTAR",
            {**EVENT, "tracking_number": number, "status": "delivered"},
            secret="nstar-secret",
        )
        assert response.status_code == 422
    assert _world_state() == state
    # The same number at NSTAR belongs to another parcel: only NSTAR's shipment moves.
    acme_order = world["shipments"]["ACME"].order
    product = acme_order.lines.get().product

    inventory.stock_receive(
        product=product, warehouse=world["shipments"]["ACME"].warehouse, quantity=1
    )

    other = order_services.order_create(
        client=world["acme"],
        number="ACME-2",
        placed_at=timezone.now(),
        lines=[order_services.LineInput(product=product, quantity=1, unit_price=Decimal("1"))],
    )
    order_services.order_move(order=other, to_status="picking")
    order_services.order_move(order=other, to_status="packed")
    nstar_shipment = services.shipment_create(
        order=other, service=rates.economy, tracking_number="1ZTRACK1"
    )
    response = post_webhook(
        client, "NSTAR", {**EVENT, "status": "exception"}, secret="nstar-secret"
    )
    assert response.status_code == 200
    nstar_shipment.refresh_from_db()
    swift_shipment = Shipment.objects.get(carrier=rates.swift, tracking_number="1ZTRACK1")
    assert (nstar_shipment.status, swift_shipment.status) == ("exception", "label_created")
    assert Order.objects.get(pk=acme_order.pk).exception_flag is False


# -- per-client carrier accounts and negotiated rates --------------------------------------------
def test_carrier_accounts_are_scoped_and_rates_apply_to_their_client_only(
    client, world, rates, make_user, make_order, make_product
):
    acme_account = CarrierAccount.objects.create(
        client=world["acme"], carrier=rates.swift, account_number="ACME-SWIFT"
    )
    CarrierAccountRate.objects.create(
        account=acme_account, client=world["acme"], service=rates.express, price=Decimal("1.00")
    )
    nord_account = CarrierAccount.objects.create(
        client=world["nord"], carrier=rates.nstar, account_number="NORD-NSTAR"
    )
    # NORD's supervisor sees NORD's account only, and cannot open ACME's.
    client.force_login(world["nord_boss"])
    listing = client.get(reverse("admin:fulfillment_carrieraccount_changelist"))
    assert list(listing.context["cl"].result_list) == [nord_account]
    url = reverse("admin:fulfillment_carrieraccount_change", args=[acme_account.pk])
    assert client.get(url).status_code == 404
    add = client.get(reverse("admin:fulfillment_carrieraccount_add"))
    assert list(add.context["adminform"].form.fields["client"].queryset) == [world["nord"]]
    # ... and may set NORD's negotiated rate for an NSTAR service.
    response = client.post(
        reverse("admin:fulfillment_carrieraccount_change", args=[nord_account.pk]),
        {
            "account_number": "NORD-NSTAR",
            "active": "on",
            "rates-TOTAL_FORMS": "1",
            "rates-INITIAL_FORMS": "0",
            "rates-0-service": rates.ground.pk,  # a SWIFT service: not offered
            "rates-0-price": "2.00",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert response.context["inline_admin_formsets"][0].formset.errors[0]["service"]
    assert not CarrierAccountRate.objects.filter(account=nord_account).exists()
    response = client.post(
        reverse("admin:fulfillment_carrieraccount_change", args=[nord_account.pk]),
        {
            "account_number": "NORD-NSTAR",
            "active": "on",
            "rates-TOTAL_FORMS": "1",
            "rates-INITIAL_FORMS": "0",
            "rates-0-service": rates.economy.pk,
            "rates-0-price": "2.00",
        },
    )
    assert response.status_code == 302
    rate = CarrierAccountRate.objects.get(account=nord_account)
    assert (rate.client_id, rate.service, rate.price) == (
        world["nord"].pk,
        rates.economy,
        Decimal("2.00"),
    )
    # The suggestion uses each client's own price: ACME's express at 1.00 beats ground.
    catalog = selectors.ServiceCatalog.load()
    acme_order = Order(client=world["acme"], service_level="standard", ship_by=timezone.now())
    nord_order = Order(client=world["nord"], service_level="standard", ship_by=timezone.now())
    assert catalog.suggest(acme_order) == rates.express
    prices = {o.service.code: o.price for o in catalog.options(nord_order)}
    assert prices["ECONOMY"] == Decimal("2.00") and prices["EXPRESS"] == Decimal("14.50")
    # An inactive account's rates are not used.
    CarrierAccount.objects.filter(pk=acme_account.pk).update(active=False)
    acme_prices = {
        o.service.code: o.price for o in selectors.ServiceCatalog.load().options(acme_order)
    }
    assert acme_prices["EXPRESS"] == Decimal("14.50")


# -- 3. hostile requests through the view: 4xx, nothing stored -----------------------------------
def _signed(client, body: bytes, secret: str = "swift-secret", code: str = "SWIFT"):
    return post_webhook(client, code, body=body, secret=secret)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 50_000 + b"]" * 50_000,
        b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        json.dumps({**EVENT, "x": float("nan")}).encode(),  # json.dumps writes NaN
        json.dumps({**EVENT, "x": float("inf")}).encode(),
        json.dumps({**EVENT, "x": -float("inf")}).encode(),
        b'{"tracking_number": "1ZTRACK1", "status": "in_transit", "x": 1e400}',
        json.dumps({**EVENT, "location": "Mem\x00phis"}).encode(),
        json.dumps({**EVENT, "description": "\ud800"}).encode(),
        json.dumps({**EVENT, "\ud800": 1}).encode(),
        json.dumps({"events": [EVENT, {**EVENT, "extra": {"k\x00": "v"}}]}).encode(),
    ],
    ids=[
        "nested-50000",
        "events-nested-50000",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "NUL",
        "lone-surrogate-value",
        "lone-surrogate-key",
        "NUL-key-in-batch",
    ],
)
def test_validly_signed_hostile_bodies_are_400_and_store_nothing(client, world, body):
    state = _world_state()
    response = _signed(client, body)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert _world_state() == state


@pytest.mark.parametrize("stamp", ["²", "١٧٠٠٠٠٠٠٠٠", "1e9", "1 2", "0x1"])
def test_unsigned_request_with_a_non_ascii_digit_timestamp_is_401(client, world, stamp):
    state = _world_state()
    body = json.dumps(EVENT).encode()
    response = client.post(
        webhook_url("SWIFT"),
        data=body,
        content_type="application/json",
        HTTP_X_CARRIER_TIMESTAMP=stamp,
        HTTP_X_CARRIER_SIGNATURE="sha256=" + "0" * 64,
    )
    assert response.status_code == 401
    assert "Unix seconds" in response.json()["error"]
    # Signed "correctly" over the odd timestamp makes no difference.
    response = client.post(
        webhook_url("SWIFT"),
        data=body,
        content_type="application/json",
        HTTP_X_CARRIER_TIMESTAMP=stamp,
        HTTP_X_CARRIER_SIGNATURE=sign("swift-secret", stamp, body),
    )
    assert response.status_code == 401
    assert _world_state() == state


def test_a_good_call_after_the_hostile_ones_still_works(client, world):
    _signed(client, b"[" * 50_000 + b"]" * 50_000)
    stamp = str(int(time.time()))
    body = json.dumps(EVENT).encode()
    response = post_webhook(client, "SWIFT", body=body, secret="swift-secret", timestamp=stamp)
    assert response.status_code == 200
    assert response.json()["created"] == 1


def test_a_status_file_row_with_a_nul_character_is_a_row_error(client, world, rates):
    """PostgreSQL refuses NUL in text and jsonb: the row is reported, the others stored."""
    import io

    client.force_login(world["root"])
    text = (
        "tracking_number,status,time,location,description\n"
        "1ZTRACK1,in_transit,2026-01-05T10:00:00Z,Mem\x00phis,ok\n"
        "1ZNORD1,in_transit,2026-01-05T10:00:00Z,Memphis,ok\n"
    )
    upload = io.BytesIO(text.encode())
    upload.name = "status.csv"
    response = client.post(
        reverse("admin:fulfillment_trackingevent_upload"),
        {"carrier": rates.swift.pk, "file": upload},
    )
    assert response.status_code == 200
    parsed = response.context["result"]["parsed"]
    assert [(e.row, e.message) for e in parsed.errors] == [(2, "contains a NUL character")]
    assert response.context["result"]["report"].created == 1
    assert list(TrackingEvent.objects.filter(source="csv").values_list("location", flat=True)) == [
        "Memphis"
    ]
