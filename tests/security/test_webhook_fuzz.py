"""Fuzz the carrier webhook (issue #11): thousands of generated hostile requests, no 500.

A seeded generator (reproducible: set ``WEBHOOK_FUZZ_SEED`` to replay a failure, and
``WEBHOOK_FUZZ_CASES`` to run more) builds bodies and headers — signed and unsigned, random
nesting, odd Unicode (NUL, lone surrogates, bidi controls, non-ASCII digits), odd numbers
(NaN, 1e999, 5,000-digit integers), huge and truncated bodies, bad UTF-8, wrong content types,
mangled timestamps and signatures — and posts each through the test client, which re-raises
any exception in the view. Each answer must be < 500 and JSON; a refused one (any non-200)
must leave the database exactly as it was; an accepted one must have been well-formed.
"""

from __future__ import annotations

import json
import os
import random
import time
from decimal import Decimal

import pytest
from django.test import Client

from fulfillment import services
from fulfillment.models import Carrier, CarrierService, Shipment, TrackingEvent
from fulfillment.views import MAX_BODY_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from orders import services as order_services
from orders.models import Order, OrderEvent

pytestmark = pytest.mark.django_db

SEED = int(os.environ.get("WEBHOOK_FUZZ_SEED", "20261201"))
CASES = int(os.environ.get("WEBHOOK_FUZZ_CASES", "2400"))
SECRET = "fuzz-secret-0123456789abcdef"
NUMBERS = ["FUZZ-1", "FUZZ-2", "FUZZ-3"]
TS_META = "HTTP_" + TIMESTAMP_HEADER.upper().replace("-", "_")
SIG_META = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")

WEIRD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "x\udc00y",
    "\ud83d\ude00",
    "😀" * 50,
    "\u202e\u2066evil",
    "e\u0301" * 40,
    "²",
    "١٢٣",
    "\uffff",
    "\U0010ffff",
    "\x7f\x1b[31m",
    "null",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{ settings.SECRET_KEY }}",
    '=HYPERLINK("http://x")',
    "../../etc/passwd",
    "x" * 600,
    "\n\r\t",
    "delivered",
    "exception",
    "2026-01-05T10:00:00Z",
    "9999-12-31T23:59:59+23:59",
    "0001-01-01T00:00:00-23:59",
    "2026-02-30T10:00:00Z",
    "FUZZ-1",
    "FUZZ-2 ",
]
RAW_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e-999",
    "-0",
    "0.0",
    "9" * 5000,
    "1" * 4300,
    "123456789012345678901234567890",
    "1.7976931348623157e308",
    "4.9e-324",
    "0x10",
    "01",
    "1.",
    ".5",
    "+1",
]


def wsgi_str(value: str) -> str:
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


class Gen:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def string(self) -> str:
        r = self.rng
        if r.random() < 0.6:
            return r.choice(WEIRD_STRINGS)
        return "".join(
            chr(r.choice([r.randrange(0, 0x80), r.randrange(0, 0x110000)]))
            for _ in range(r.randrange(0, 20))
        )

    def value(self, depth: int = 0):
        r = self.rng
        kind = r.randrange(9 if depth < 6 else 6)
        if kind == 0:
            return self.string()
        if kind == 1:
            return r.choice([0, -1, 1, 2**63, -(2**64), 10**30, r.randrange(-(10**9), 10**9)])
        if kind == 2:
            return r.choice([0.5, -0.0, 1e308, 5e-324, r.random() * 10 ** r.randrange(-10, 300)])
        if kind == 3:
            return r.choice([True, False, None])
        if kind == 4:
            return r.choice(NUMBERS)
        if kind == 5:
            return r.choice(
                ["in_transit", "delivered", "exception", "returned", "Out-For Delivery"]
            )
        if kind == 6:
            return [self.value(depth + 1) for _ in range(r.randrange(0, 4))]
        return {self.string(): self.value(depth + 1) for _ in range(r.randrange(0, 4))}

    def event(self) -> dict:
        r = self.rng
        event = {
            "tracking_number": r.choice(NUMBERS),
            "status": r.choice(["in_transit", "picked_up", "delivered", "exception", "returned"]),
            "occurred_at": f"2026-01-{r.randrange(1, 28):02d}T{r.randrange(24):02d}:"
            f"{r.randrange(60):02d}:00Z",
            "location": "Hub",
            "description": "ok",
        }
        for _ in range(r.choice([0, 0, 1, 2, 3])):  # mutate some fields
            key = r.choice([*event.keys(), "time", "extra", self.string()])
            event[key] = self.value()
        if r.random() < 0.1:
            event.pop(r.choice(list(event.keys())), None)
        return event

    def nested(self) -> bytes:
        r = self.rng
        depth = r.choice([20, 32, 33, 100, 1000, 50_000])
        opener, closer = r.choice([(b"[", b"]"), (b'{"a":', b"}"), (b'{"events":[', b"]}")])
        inner = r.choice([b"1", b'"x"', b"NaN", b'"\\u0000"', b"[]"])
        if opener.startswith(b'{"events"'):
            return opener * 1 + b"[" * depth + inner + b"]" * depth + closer
        return opener * depth + inner + closer * depth

    def body(self) -> bytes:
        r = self.rng
        kind = r.randrange(12)
        if kind <= 2:
            payload = (
                self.event()
                if r.random() < 0.5
                else {"events": [self.event() for _ in range(r.randrange(0, 6))]}
            )
            text = json.dumps(payload, ensure_ascii=r.random() < 0.5, allow_nan=True)
            return text.encode("utf-8", "surrogatepass")
        if kind == 3:
            return json.dumps(self.value(), allow_nan=True).encode("utf-8", "surrogatepass")
        if kind == 4:
            return self.nested()
        if kind == 5:  # a raw number where a field goes
            number = r.choice(RAW_NUMBERS)
            return (
                f'{{"tracking_number": "FUZZ-1", "status": "in_transit", '
                f'"occurred_at": "2026-01-05T10:00:00Z", "x": {number}}}'
            ).encode()
        if kind == 6:  # truncated
            full = json.dumps({"events": [self.event() for _ in range(3)]}).encode()
            return full[: r.randrange(0, len(full))]
        if kind == 7:  # random bytes, often invalid UTF-8
            return bytes(r.randrange(256) for _ in range(r.randrange(0, 200)))
        if kind == 8:  # huge
            size = r.choice([MAX_BODY_BYTES - 100, MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2])
            return json.dumps({**self.event(), "description": "x" * size}).encode()
        if kind == 9:  # many events
            n = r.choice([499, 500, 501, 2000]) if r.random() < 0.25 else r.choice([2, 10, 50])
            return json.dumps({"events": [self.event() for _ in range(n)]}).encode()
        if kind == 10:  # escapes spelled out in the raw JSON
            escape = r.choice(["\\u0000", "\\ud800", "\\udfff", "\\ud800\\u0041", "\\ud83d\\ude00"])
            where = r.choice(["key", "value"])
            if where == "key":
                return f'{{"tracking_number": "FUZZ-1", "{escape}": 1}}'.encode()
            return (
                f'{{"tracking_number": "FUZZ-1", "status": "exception", '
                f'"occurred_at": "2026-01-05T10:00:00Z", "description": "{escape}"}}'
            ).encode()
        return self.rng.choice(
            [b"", b" ", b"null", b"[]", b"{}", b'{"events": null}', b"\xef\xbb\xbf{}"]
        )

    def request(self, now: int):
        """(body, content_type, extra META) for one call."""
        r = self.rng
        body = self.body()
        content_type = r.choices(
            [
                "application/json",
                "application/json; charset=utf-8",
                "application/json; charset=latin-1",
                "text/plain",
                "application/x-www-form-urlencoded",
                "",
                "application/json; charset=\ud800",
            ],
            weights=[80, 6, 2, 3, 2, 2, 1],
        )[0]
        meta = {}
        mode = r.choices(
            ["signed", "unsigned", "bad-stamp", "bad-sig", "old", "other-secret"],
            weights=[70, 6, 8, 8, 4, 4],
        )[0]
        stamp = str(now)
        if mode == "old":
            stamp = str(now - r.choice([301, 3600, -400, now]))
        if mode == "bad-stamp":
            stamp = r.choice(
                ["²", "١٧٠٠", "", " ", "1e9", "-1", "9" * 40, "\ud800", "12\x00", self.string()]
            )
        secret = "wrong-secret-0123456789abcdef" if mode == "other-secret" else SECRET
        if mode != "unsigned" or r.random() < 0.5:
            meta[TS_META] = stamp
        if mode != "unsigned":
            try:
                signature = sign(secret, stamp, body)
            except UnicodeEncodeError:
                signature = "sha256=" + "0" * 64
            if mode == "bad-sig":
                signature = r.choice(
                    [
                        signature.upper(),
                        signature[:-1],
                        "sha256=" + "\ud800" * 64,
                        "sha256=é" + signature[8:],
                        self.string(),
                        "sha1=" + signature[7:],
                    ]
                )
            meta[SIG_META] = signature
        if r.random() < 0.03:
            meta["CONTENT_LENGTH"] = r.choice(["²", "-1", "abc", "99999999999999999999", "١٢"])
        # A WSGI server hands headers over as the raw bytes decoded as Latin-1 ("native
        # strings"): do the same, so "²" arrives as the two characters its UTF-8 bytes make.
        meta = {key: wsgi_str(value) for key, value in meta.items()}
        return body, wsgi_str(content_type), meta


def _state():
    return (
        TrackingEvent.objects.count(),
        list(
            Shipment.objects.order_by("pk").values_list("status", "last_event_at", "delivered_at")
        ),
        list(Order.objects.order_by("pk").values_list("status", "exception_flag", "delay_reason")),
        OrderEvent.objects.count(),
    )


@pytest.fixture
def carrier_world(make_client, make_warehouse, make_product, make_order):
    carrier = Carrier.objects.create(
        name="SwiftParcel",
        code="SWIFT",
        tracking_url_template="https://track.swift.example/t/{tracking_number}",
        webhook_secret=SECRET,
    )
    service = CarrierService.objects.create(
        carrier=carrier, code="GROUND", name="Ground", transit_days=3, price=Decimal("5.00")
    )
    client = make_client("FUZZ")
    warehouse = make_warehouse("FZ")
    product = make_product(client, "FZ-1", stock={warehouse: 10})
    for number in NUMBERS:
        order = make_order(client, [(product, 1)])
        order_services.order_move(order=order, to_status="picking")
        order_services.order_move(order=order, to_status="packed")
        services.shipment_create(order=order, service=service, tracking_number=number)
    return carrier


def test_generated_hostile_webhooks_never_500_and_refusals_store_nothing(carrier_world):
    rng = random.Random(SEED)
    gen = Gen(rng)
    http = Client(raise_request_exception=True)
    url = "/webhooks/carriers/SWIFT/"
    statuses: dict[int, int] = {}
    state = _state()
    now = int(time.time())
    for case in range(CASES):
        body, content_type, meta = gen.request(now)
        try:
            response = http.generic("POST", url, data=body, content_type=content_type, **meta)
        except Exception as exc:  # the view raised: a 500 in production
            pytest.fail(f"case {case} (seed {SEED}) raised {exc!r}; {body[:200]!r}, {meta!r}")
        status = response.status_code
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, f"case {case} (seed {SEED}): {status}"
        assert response["Content-Type"] == "application/json", case
        answer = json.loads(response.content)
        after = _state()
        if status == 200:
            assert answer["ok"] is True and answer["received"] >= 1, case
            state = after
        else:
            assert answer["error"], case
            assert after == state, f"case {case} (seed {SEED}) answered {status} but changed data"
    # The generator reached every layer: envelope, signature, JSON, fields, and the store.
    assert CASES >= 2000
    assert {200, 400, 401}.issubset(statuses), statuses
    assert statuses.get(413) and statuses.get(415), statuses
    assert statuses[400] > CASES // 10, statuses
