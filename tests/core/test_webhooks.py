"""core.webhooks: the one signed-webhook check. Each hostile input of issue #11 finding 3 is
refused with its 4xx and a message (the same inputs crashed the old carrier view with a 500)."""

from __future__ import annotations

import json
import time

import pytest
from django.test import RequestFactory

from core.webhooks import (
    WebhookRejected,
    WebhookSpec,
    parse_json,
    parse_timestamp,
    receive,
    sign,
    verify_signature,
)

SPEC = WebhookSpec(
    signature_header="X-Test-Signature",
    timestamp_header="X-Test-Timestamp",
    max_body_bytes=4096,
    max_age_seconds=300,
    max_depth=8,
)
SECRET = "s3cret-for-the-helper-tests"


def _request(body: bytes, *, secret=SECRET, stamp=None, signature=None, **extra):
    headers = {}
    if secret is not None:
        stamp = str(int(time.time())) if stamp is None else stamp
        headers = {
            "HTTP_X_TEST_TIMESTAMP": stamp,
            "HTTP_X_TEST_SIGNATURE": signature or sign(secret, stamp, body),
        }
    content_type = extra.pop("content_type", "application/json")
    return RequestFactory().post("/hook/", data=body, content_type=content_type, **headers, **extra)


def _rejected(request, status, secrets=(SECRET,)) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as info:
        receive(request, spec=SPEC, secrets=secrets)
    assert info.value.status == status, info.value
    response = info.value.response()
    assert response.status_code == status
    assert json.loads(response.content)["error"] == info.value.message
    return info.value


def test_a_good_call_returns_the_parsed_json():
    body = json.dumps({"a": [1, 2.5, "ü"], "b": {"c": None}}).encode()
    signed = receive(_request(body), spec=SPEC, secrets=[SECRET])
    assert signed.data == {"a": [1, 2.5, "ü"], "b": {"c": None}}
    assert signed.body == body
    assert abs(signed.timestamp - time.time()) < 5


def test_any_of_several_secrets_is_accepted_and_none_other():
    body = b'{"x": 1}'
    for secret in ("old-secret-still-in-overlap", SECRET):
        request = _request(body, secret=secret)
        assert receive(request, spec=SPEC, secrets=[SECRET, "old-secret-still-in-overlap"]).data
    _rejected(_request(body, secret="a-third-secret"), 401, secrets=[SECRET, "old-one"])
    _rejected(_request(body), 401, secrets=[])
    _rejected(_request(body), 401, secrets=[""])


@pytest.mark.parametrize(
    "stamp", ["²", "١٢٣٤٥٦٧٨٩٠", "1 2", "+1700000000", "-5", "1.7e9", "0x10", "1" * 13, ""]
)
def test_timestamps_must_be_ascii_digits(stamp):
    # "²".isdigit() is True and int("²") raises: the old view answered 500 to it.
    assert "²".isdigit()
    for value in (stamp, stamp + "\n"):
        with pytest.raises(ValueError):
            parse_timestamp(value)
    assert parse_timestamp("1700000000") == 1_700_000_000
    error = _rejected(_request(b"{}", stamp=stamp), 401)
    assert "Unix seconds" in error.message or "Unsigned" in error.message


def test_unsigned_call_with_a_superscript_timestamp_is_401_not_500():
    request = RequestFactory().post(
        "/hook/", data=b"{}", content_type="application/json", HTTP_X_TEST_TIMESTAMP="²"
    )
    _rejected(request, 401)
    request = RequestFactory().post(
        "/hook/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_TEST_TIMESTAMP="²",
        HTTP_X_TEST_SIGNATURE="sha256=" + "0" * 64,
    )
    assert "Unix seconds" in _rejected(request, 401).message


@pytest.mark.parametrize("age", [301, -305, 10**6])
def test_replay_window(age):
    stamp = str(int(time.time()) - age)
    assert "replay" in _rejected(_request(b"{}", stamp=stamp), 401).message


def test_signature_covers_timestamp_and_body_and_must_be_lower_hex():
    now = int(time.time())
    body = b'{"a": 1}'
    good = sign(SECRET, now, body)
    _rejected(_request(b'{"a": 2}', stamp=str(now), signature=good), 401)
    _rejected(_request(body, stamp=str(now - 1), signature=good), 401)
    _rejected(_request(body, stamp=str(now), signature=good.upper()), 401)
    _rejected(_request(body, stamp=str(now), signature=good.removeprefix("sha256=")), 401)
    _rejected(_request(body, stamp=str(now), signature="sha256=\udc80" + good[8:]), 401)
    _rejected(_request(body, stamp=str(now), signature="sha256=é" + good[9:]), 401)
    assert receive(_request(body, stamp=str(now), signature=good), spec=SPEC, secrets=[SECRET])


def test_verify_signature_alone():
    body = b"{}"
    stamp = verify_signature(
        body=body,
        timestamp="1000",
        signature=sign("k" * 30, 1000, body),
        secrets=["k" * 30],
        max_age_seconds=10,
        now=1005.0,
    )
    assert stamp == 1000
    with pytest.raises(WebhookRejected):
        verify_signature(
            body=body,
            timestamp="1000",
            signature=sign("k" * 30, 1000, body),
            secrets=["k" * 30],
            max_age_seconds=10,
            now=1011.0,
        )


def test_envelope_method_size_and_content_type():
    get = RequestFactory().get("/hook/")
    error = _rejected(get, 405)
    assert error.response()["Allow"] == "POST"
    _rejected(_request(b"{}" + b" " * 5000), 413)
    _rejected(_request(b"{}", content_type="text/plain"), 415)
    _rejected(_request(b"{}", content_type="application/json; charset=utf-16"), 415)
    assert receive(
        _request(b"{}", content_type="application/json; charset=UTF-8"), spec=SPEC, secrets=[SECRET]
    )
    for length in ("²", "-1", "1e3", "abc", "١٢"):
        _rejected(_request(b"{}", CONTENT_LENGTH=length), 400)
    _rejected(_request(b"{}", CONTENT_LENGTH="9" * 5000), 413)


@pytest.mark.parametrize(
    "body, words",
    [
        (b"[" * 50_000 + b"]" * 50_000, "nested deeper"),
        (b'{"a":' * 9 + b"1" + b"}" * 9, "nested deeper"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": Infinity}', "not valid JSON"),
        (b'{"a": [-Infinity]}', "not valid JSON"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": "x\\u0000y"}', "NUL"),
        (b'{"x\\u0000": 1}', "NUL"),
        (b'{"a": "\\ud800"}', "unpaired surrogate U+D800"),
        (b'{"\\udfff": [1]}', "unpaired surrogate U+DFFF"),
        (b'{"a": ["ok", {"b": "\\udc00x"}]}', "unpaired surrogate"),
        (b'{"a": "\x00"}', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b'{"a": "unterminated', "not valid JSON"),
        (b" ", "not valid JSON"),
    ],
)
def test_hostile_json_is_400(body, words):
    with pytest.raises(WebhookRejected) as info:
        parse_json(body, max_depth=8)
    assert info.value.status == 400
    assert words in info.value.message
    if len(body) <= SPEC.max_body_bytes:
        assert words in _rejected(_request(body), 400).message


def test_json_that_is_fine_passes():
    assert parse_json(b'{"emoji": "\\ud83d\\ude00", "s": "[[[[[[[[[["}', max_depth=2) == {
        "emoji": "😀",
        "s": "[[[[[[[[[[",
    }
    assert parse_json(b'{"a": "\\"[{"}', max_depth=1) == {"a": '"[{'}
    assert parse_json(b"[" * 8 + b"]" * 8, max_depth=8) == [[[[[[[[]]]]]]]]
    assert parse_json(b'{"n": -1.5e10, "i": 12345678901234567890}', max_depth=1)["n"] == -1.5e10
