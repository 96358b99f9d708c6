"""The carrier webhook: ``POST /webhooks/carriers/<code>/`` with signed JSON tracking events.

Protocol (what a carrier implements):

- Body: one event ``{"tracking_number", "status", "occurred_at", "location", "description"}``
  or ``{"events": [event, ...]}`` (at most 500), UTF-8 JSON.
- ``X-Carrier-Timestamp``: Unix seconds when the request was signed.
- ``X-Carrier-Signature``: ``sha256=`` + hex HMAC-SHA256 with the carrier's webhook secret of
  ``f"{timestamp}."`` followed by the raw body bytes.

The checks (method, size, content type, signature, timestamp window, strict JSON) are the
product's one signed-webhook helper, ``core.webhooks.receive``; this view only knows carriers.
During a secret rotation both the new and the previous secret are accepted for
``WEBHOOK_SECRET_OVERLAP_HOURS``. A carrier's call can only touch that carrier's shipments.

Answers (JSON, never a 500 for bad input; nothing is changed unless the answer is 200):

==== =========================================================================================
200  stored; ``{"received", "created", "duplicates", ...}``. A repeated event (same shipment,
     status and time) is *not* an error: it is acknowledged with 200 and counted in
     ``duplicates`` but stored once, so a carrier's retry never makes it retry forever.
400  malformed: not UTF-8 JSON, nested deeper than 32 levels, NaN/Infinity, a NUL character
     or an unpaired surrogate anywhere, not an object, missing/invalid fields (``errors`` per
     event), more than 500 events
401  unsigned, wrong signature, a timestamp that is not ASCII digits, or one more than 5 minutes
     away (replay)
404  unknown or inactive carrier code
405  not a POST
413  body larger than 256 KB
415  not ``application/json`` (UTF-8)
422  well-formed, but a tracking number has no shipment of this carrier
==== =========================================================================================
"""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core.webhooks import WebhookRejected, WebhookSpec, receive, require_post, sign
from fulfillment.exceptions import UnknownTrackingNumbers
from fulfillment.models import Carrier, TrackingEvent
from fulfillment.services import tracking_events_ingest
from fulfillment.tracking_input import event_from_mapping

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Carrier-Signature"
TIMESTAMP_HEADER = "X-Carrier-Timestamp"
CARRIER_WEBHOOK = WebhookSpec(
    signature_header=SIGNATURE_HEADER,
    timestamp_header=TIMESTAMP_HEADER,
    max_body_bytes=256 * 1024,
    max_age_seconds=300,
    max_depth=32,
)
MAX_BODY_BYTES = CARRIER_WEBHOOK.max_body_bytes
MAX_SKEW_SECONDS = CARRIER_WEBHOOK.max_age_seconds
MAX_EVENTS = 500

__all__ = ["MAX_BODY_BYTES", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "carrier_webhook", "sign"]


def _error(status: int, message: str, **extra) -> JsonResponse:
    return WebhookRejected(status, message, **extra).response()


@csrf_exempt
def carrier_webhook(request, code: str):
    try:
        require_post(request)
        carrier = Carrier.objects.filter(code=code, active=True).first()
        if carrier is None:
            raise WebhookRejected(404, "Unknown carrier.")
        payload = receive(
            request, spec=CARRIER_WEBHOOK, secrets=carrier.valid_webhook_secrets()
        ).data
    except WebhookRejected as exc:
        return exc.response()

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
        except (ValueError, OverflowError) as exc:
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
