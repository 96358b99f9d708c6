"""The carrier webhook: every refusal answers the right 4xx and changes nothing; a good
signed call stores the event once and moves the order."""

from __future__ import annotations

import json
import time

import pytest

from fulfillment import services
from fulfillment.models import Shipment, TrackingEvent
from fulfillment.views import MAX_BODY_BYTES, sign
from orders.models import Order, OrderEvent
from tests.fulfillment.helpers import post_webhook, webhook_url

pytestmark = pytest.mark.django_db

EVENT = {
    "tracking_number": "1ZTRACK1",
    "status": "in_transit",
    "occurred_at": "2026-01-05T10:00:00Z",
    "location": "Memphis hub",
    "description": "Departed facility",
}


@pytest.fixture
def shipped(rates, make_client, make_warehouse, make_product, make_order, to_status):
    client = make_client("ACME")
    warehouse = make_warehouse("EAST")
    product = make_product(client, "LAMP", stock={warehouse: 5})
    order = to_status(make_order(client, [(product, 1)]), "packed")
    shipment = services.shipment_create(
        order=order, service=rates.ground, tracking_number="1ZTRACK1"
    )
    order.refresh_from_db()
    assert order.status == Order.Status.SHIPPED
    return shipment


def _state(shipment: Shipment):
    shipment.refresh_from_db()
    order = Order.objects.get(pk=shipment.order_id)
    return (
        TrackingEvent.objects.count(),
        shipment.status,
        shipment.last_event_at,
        order.status,
        order.exception_flag,
        OrderEvent.objects.count(),
    )


def test_signed_event_is_stored_and_moves_the_shipment(client, shipped):
    response = post_webhook(client, "SWIFT", EVENT, secret="swift-secret")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["ok"], body["received"], body["created"], body["duplicates"]) == (True, 1, 1, 0)
    event = TrackingEvent.objects.get(source="webhook")
    assert (event.status, event.location, event.description) == (
        "in_transit",
        "Memphis hub",
        "Departed facility",
    )
    assert event.raw_payload == EVENT
    assert event.client_id == shipped.client_id
    shipped.refresh_from_db()
    assert shipped.status == "in_transit"


def test_the_same_event_twice_is_stored_once_and_acknowledged(client, shipped):
    assert post_webhook(client, "SWIFT", EVENT, secret="swift-secret").status_code == 200
    before = _state(shipped)
    again = post_webhook(client, "SWIFT", EVENT, secret="swift-secret")
    assert again.status_code == 200
    assert (again.json()["created"], again.json()["duplicates"]) == (0, 1)
    assert _state(shipped) == before
    # Same moment written with another offset is the same event.
    same = {**EVENT, "occurred_at": "2026-01-05T11:00:00+01:00"}
    assert post_webhook(client, "SWIFT", same, secret="swift-secret").json()["duplicates"] == 1
    assert TrackingEvent.objects.filter(source="webhook").count() == 1


def test_batch_of_events_and_delivery(client, shipped):
    payload = {
        "events": [
            {**EVENT, "status": "picked_up", "occurred_at": "2026-01-04T09:00:00Z"},
            EVENT,
            {**EVENT, "status": "delivered", "occurred_at": "2026-01-06T15:30:00Z"},
        ]
    }
    response = post_webhook(client, "SWIFT", payload, secret="swift-secret")
    assert response.status_code == 200
    assert response.json()["created"] == 3 and response.json()["orders_delivered"] == 1
    shipped.refresh_from_db()
    assert shipped.status == "delivered"
    assert shipped.delivered_at.isoformat() == "2026-01-06T15:30:00+00:00"
    order = Order.objects.get(pk=shipped.order_id)
    assert order.status == Order.Status.DELIVERED
    assert order.events.first().to_status == "delivered"


def test_exception_flags_the_order_with_the_event_as_delay_reason(client, shipped):
    payload = {**EVENT, "status": "exception", "description": "Address not found"}
    assert post_webhook(client, "SWIFT", payload, secret="swift-secret").status_code == 200
    order = Order.objects.get(pk=shipped.order_id)
    assert order.exception_flag
    assert order.delay_reason.startswith("Exception (SWIFT 1ZTRACK1, 2026-01-05 10:00")
    assert order.delay_reason.endswith("Memphis hub): Address not found")
    assert order.events.first().kind == OrderEvent.Kind.EXCEPTION


# -- refusals: each answers a 4xx and leaves everything as it was ----------------------------
def _refused(client, shipped, expected_status, **kwargs):
    before = _state(shipped)
    response = post_webhook(client, **kwargs)
    assert response.status_code == expected_status, response.content
    assert response["Content-Type"] == "application/json"
    assert "error" in response.json()
    assert _state(shipped) == before
    return response


def test_unsigned_request_is_refused(client, shipped):
    _refused(client, shipped, 401, code="SWIFT", payload=EVENT, secret=None)


def test_missing_timestamp_is_refused(client, shipped):
    body = json.dumps(EVENT).encode()
    before = _state(shipped)
    response = client.post(
        webhook_url("SWIFT"),
        data=body,
        content_type="application/json",
        HTTP_X_CARRIER_SIGNATURE=sign("swift-secret", "", body),
    )
    assert response.status_code == 401
    assert _state(shipped) == before


def test_wrong_secret_is_refused(client, shipped):
    _refused(client, shipped, 401, code="SWIFT", payload=EVENT, secret="not-the-secret")


def test_another_carriers_secret_is_refused(client, shipped):
    _refused(client, shipped, 401, code="SWIFT", payload=EVENT, secret="nstar-secret")


def test_tampered_body_is_refused(client, shipped):
    stamp = str(int(time.time()))
    signature = sign("swift-secret", stamp, json.dumps(EVENT).encode())
    tampered = json.dumps({**EVENT, "status": "delivered"}).encode()
    _refused(
        client,
        shipped,
        401,
        code="SWIFT",
        body=tampered,
        secret="swift-secret",
        timestamp=stamp,
        signature=signature,
    )


def test_signature_without_prefix_or_garbage_is_refused(client, shipped):
    stamp = str(int(time.time()))
    hex_only = sign("swift-secret", stamp, json.dumps(EVENT).encode()).removeprefix("sha256=")
    for signature in (hex_only, "sha256=zz", "sha256=" + "0" * 64):
        _refused(
            client,
            shipped,
            401,
            code="SWIFT",
            payload=EVENT,
            secret="swift-secret",
            timestamp=stamp,
            signature=signature,
        )


def test_signature_must_cover_the_timestamp(client, shipped):
    # A valid signature for one timestamp cannot be reused with a fresher timestamp.
    body = json.dumps(EVENT).encode()
    old = str(int(time.time()) - 600)
    _refused(
        client,
        shipped,
        401,
        code="SWIFT",
        body=body,
        secret="swift-secret",
        timestamp=str(int(time.time())),
        signature=sign("swift-secret", old, body),
    )


@pytest.mark.parametrize("age", [301, 3600, -305])  # int() truncation: +1 s slack
def test_replayed_or_future_timestamps_are_refused(client, shipped, age):
    stamp = int(time.time()) - age
    response = _refused(
        client, shipped, 401, code="SWIFT", payload=EVENT, secret="swift-secret", timestamp=stamp
    )
    assert "replay" in response.json()["error"]


@pytest.mark.parametrize("stamp", ["yesterday", "1.5e9", "-5", "99999999999999999999"])
def test_malformed_timestamps_are_refused(client, shipped, stamp):
    _refused(
        client, shipped, 401, code="SWIFT", payload=EVENT, secret="swift-secret", timestamp=stamp
    )


def test_unknown_and_inactive_carriers_are_404(client, shipped, rates):
    _refused(client, shipped, 404, code="NOPE", payload=EVENT, secret="swift-secret")
    _refused(client, shipped, 404, code="swift", payload=EVENT, secret="swift-secret")
    rates.swift.active = False
    rates.swift.save()
    _refused(client, shipped, 404, code="SWIFT", payload=EVENT, secret="swift-secret")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe\x00",
        b" ",
        b"[1, 2]",
        b'"a string"',
        b'{"events": []}',
        b'{"events": "nope"}',
        b'{"events": [1]}',
    ],
)
def test_malformed_bodies_are_400(client, shipped, body):
    _refused(client, shipped, 400, code="SWIFT", body=body, secret="swift-secret")


@pytest.mark.parametrize(
    "change",
    [
        {"tracking_number": None},
        {"tracking_number": ""},
        {"tracking_number": 12345},
        {"tracking_number": "x" * 65},
        {"status": "teleported"},
        {"status": None},
        {"occurred_at": "5th of January"},
        {"occurred_at": None},
        {"occurred_at": "2999-01-01T00:00:00Z"},
        {"occurred_at": 1767607200},
        {"location": {"city": "Memphis"}},
        {"description": 42},
    ],
)
def test_invalid_fields_are_400_naming_the_problem(client, shipped, change):
    payload = {**EVENT, **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = _refused(client, shipped, 400, code="SWIFT", payload=payload, secret="swift-secret")
    assert response.json()["errors"][0]["index"] == 0


def test_one_bad_event_in_a_batch_refuses_the_whole_batch(client, shipped):
    payload = {"events": [EVENT, {**EVENT, "status": "lost in space"}]}
    response = _refused(client, shipped, 400, code="SWIFT", payload=payload, secret="swift-secret")
    assert [e["index"] for e in response.json()["errors"]] == [1]


def test_unknown_tracking_number_is_422_and_stores_nothing(client, shipped):
    payload = {"events": [EVENT, {**EVENT, "tracking_number": "NOT-OURS"}]}
    response = _refused(client, shipped, 422, code="SWIFT", payload=payload, secret="swift-secret")
    assert response.json()["tracking_numbers"] == ["NOT-OURS"]
    # A shipment of another carrier is unknown to this one.
    _refused(client, shipped, 422, code="NSTAR", payload=EVENT, secret="nstar-secret")


def test_wrong_method_content_type_and_size(client, shipped):
    before = _state(shipped)
    response = client.get(webhook_url("SWIFT"))
    assert response.status_code == 405 and response["Allow"] == "POST"
    _refused(
        client,
        shipped,
        415,
        code="SWIFT",
        payload=EVENT,
        secret="swift-secret",
        content_type="text/plain",
    )
    big = json.dumps({**EVENT, "description": "x" * MAX_BODY_BYTES}).encode()
    _refused(client, shipped, 413, code="SWIFT", body=big, secret="swift-secret")
    assert _state(shipped) == before


def test_too_many_events_in_one_call(client, shipped):
    payload = {
        "events": [{**EVENT, "occurred_at": f"2026-01-05T10:{i % 60:02d}:00Z"} for i in range(501)]
    }
    _refused(client, shipped, 400, code="SWIFT", payload=payload, secret="swift-secret")


def test_webhook_needs_no_login_or_csrf_token(shipped):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert post_webhook(strict, "SWIFT", EVENT, secret="swift-secret").status_code == 200
