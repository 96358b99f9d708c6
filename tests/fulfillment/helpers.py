"""Helpers shared by the fulfillment tests: signed webhook calls."""

from __future__ import annotations

import json
import time

from django.urls import reverse

from fulfillment.views import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


def webhook_url(code: str) -> str:
    return reverse("fulfillment:carrier_webhook", args=[code])


def post_webhook(
    http,
    code: str,
    payload=None,
    *,
    secret: str | None,
    body: bytes | None = None,
    timestamp: int | str | None = None,
    signature: str | None = None,
    content_type: str = "application/json",
):
    """POST like a carrier does; ``secret=None`` sends no signature headers at all."""
    if body is None:
        body = json.dumps(payload).encode()
    headers = {}
    if secret is not None:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        headers = {
            f"HTTP_{TIMESTAMP_HEADER.upper().replace('-', '_')}": stamp,
            f"HTTP_{SIGNATURE_HEADER.upper().replace('-', '_')}": signature
            or sign(secret, stamp, body),
        }
    return http.post(webhook_url(code), data=body, content_type=content_type, **headers)
