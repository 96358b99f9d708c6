"""The carrier webhook: ``POST /webhooks/carriers/<code>/`` with signed JSON tracking events.

Protocol (what a carrier implements):

- Body: one event ``{"tracking_number", "status", "occurred_at", "location", "description"}``
  or ``{"events": [event, ...]}`` (at most 500), UTF-8 JSON.
- ``X-Carrier-Timestamp``: Unix seconds when the request was signed.
- ``X-Carrier-Signature``: ``sha256=`` + hex HMAC-SHA256 with the carrier's webhook secret of
  ``f"{timestamp}."`` followed by the raw body bytes.

Answers (JSON, never a 500 for bad input; nothing is changed unless the answer is 200):

==== =========================================================================================
200  stored; ``{"received", "created", "duplicates", ...}``. A repeated event (same shipment,
     status and time) is *not* an error: it is acknowledged with 200 and counted in
     ``duplicates`` but stored once, so a carrier's retry never makes it retry forever.
400  malformed: not JSON, not an object, missing/invalid fields (``errors`` per event)
401  unsigned, wrong signature, bad timestamp, or timestamp more than 5 minutes away (replay)
404  unknown or inactive carrier code
405  not a POST
413  body larger than 256 KB
415  not ``application/json``
422  well-formed, but a tracking number has no shipment of this carrier
==== =========================================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from fulfillment.exceptions import UnknownTrackingNumbers
from fulfillment.models import Carrier, TrackingEvent
from fulfillment.services import tracking_events_ingest
from fulfillment.tracking_input import event_from_mapping

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
MAX_EVENTS = 500
MAX_SKEW_SECONDS = 300
SIGNATURE_HEADER = "X-Carrier-Signature"
TIMESTAMP_HEADER = "X-Carrier-Timestamp"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value a carrier sends (also used by tests and benchmarks)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _verify(request, carrier: Carrier, body: bytes) -> JsonResponse | None:
    signature = request.headers.get(SIGNATURE_HEADER, "").strip()
    stamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not stamp:
        return _error(401, f"Unsigned request: send {SIGNATURE_HEADER} and {TIMESTAMP_HEADER}.")
    if not stamp.isdigit() or len(stamp) > 12:
        return _error(401, f"{TIMESTAMP_HEADER} must be Unix seconds.")
    if abs(time.time() - int(stamp)) > MAX_SKEW_SECONDS:
        return _error(401, "Timestamp too old or in the future: refused as a possible replay.")
    expected = sign(carrier.webhook_secret, stamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return _error(401, "Bad signature.")
    return None


@csrf_exempt
def carrier_webhook(request, code: str):
    if request.method != "POST":
        response = _error(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    carrier = Carrier.objects.filter(code=code, active=True).first()
    if carrier is None:
        return _error(404, "Unknown carrier.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "Bad Content-Length.")
    if length > MAX_BODY_BYTES:
        return _error(413, f"Body larger than {MAX_BODY_BYTES // 1024} KB.")
    if request.content_type != "application/json":
        return _error(415, "Send application/json.")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"Body larger than {MAX_BODY_BYTES // 1024} KB.")
    refused = _verify(request, carrier, body)
    if refused is not None:
        return refused

    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _error(400, "The body is not UTF-8 JSON.")
    if isinstance(payload, dict) and "events" in payload:
        items = payload["events"]
        if not isinstance(items, list) or not items:
            return _error(400, "'events' must be a non-empty list.")
    elif isinstance(payload, dict):
        items = [payload]
    else:
        return _error(400, "The body must be a JSON object.")
    if len(items) > MAX_EVENTS:
        return _error(400, f"At most {MAX_EVENTS} events per request.")
    events, errors = [], []
    for index, item in enumerate(items):
        try:
            events.append(event_from_mapping(item, row=index))
        except ValueError as exc:
            errors.append({"index": index, "error": str(exc)})
    if errors:
        return _error(400, "Invalid event(s); nothing was stored.", errors=errors[:50])

    try:
        report = tracking_events_ingest(
            carrier=carrier,
            events=events,
            source=TrackingEvent.Source.WEBHOOK,
            all_or_nothing=True,
        )
    except UnknownTrackingNumbers as exc:
        return _error(
            422, "Unknown tracking number(s); nothing was stored.", tracking_numbers=exc.numbers
        )
    log.debug("carrier %s webhook: %s", carrier.code, report.as_dict())
    return JsonResponse({"ok": True, **report.as_dict()}, status=200)
