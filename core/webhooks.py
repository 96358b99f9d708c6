"""Signed inbound webhooks: the one place that checks a signed JSON call before any app acts.

Every inbound webhook of the product (carriers today; payments and inbound e-mail later) goes
through :func:`receive`, so the rules below hold for all of them and live here once:

- ``POST`` only (405), body at most ``spec.max_body_bytes`` (413, checked on the declared
  length before reading and on the bytes read), ``application/json`` in UTF-8 (415);
- a timestamp header of ASCII digits only (Unix seconds; ``"²"`` or ``"١٢"`` are refused, not
  fed to ``int()``), no further than ``spec.max_age_seconds`` from now in either direction
  (a replayed or pre-dated request is refused: 401);
- a signature header ``sha256=<hex>`` = HMAC-SHA256(secret, ``f"{timestamp}."`` + raw body),
  compared in constant time against *each* currently valid secret (several during a rotation
  overlap), 401 otherwise;
- the body parsed as strict JSON: nesting at most ``spec.max_depth`` (absurd depths stop in
  the parser's recursion guard, the rest is measured without recursion), no
  ``NaN``/``Infinity`` (nor numbers that overflow to infinity), no NUL character and no
  unpaired surrogate anywhere, keys included — the database would refuse them later with a
  500 (PostgreSQL ``jsonb`` rejects ``\\u0000``; a lone surrogate cannot be encoded) — 400.

Each refusal is a :class:`WebhookRejected` carrying its status and a clear message;
``exc.response()`` turns it into the JSON answer. Duplicate deliveries inside the replay window
are the receiving app's business: it must store idempotently (the carrier webhook acknowledges
a repeated event with 200 and stores it once), because a sender that never sees a 2xx retries.

Nothing here knows a domain model and nothing is written to the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, JsonResponse

SIGNATURE_PREFIX = "sha256="
_DIGITS = re.compile(r"[0-9]{1,12}", re.ASCII)
_LENGTH = re.compile(r"[0-9]+", re.ASCII)
_HEX_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}", re.ASCII)
# The only ways a NUL or a surrogate gets into parsed JSON: a \u0000 or \uD800–\uDFFF escape.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# NUL, and any surrogate code point: ``json`` pairs valid surrogate escapes into one character,
# so a surrogate left in a decoded string is always an unpaired one.
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class WebhookSpec:
    """How one webhook is signed and bounded (header names are the sender's choice)."""

    signature_header: str
    timestamp_header: str
    max_body_bytes: int = 256 * 1024
    max_age_seconds: int = 300
    max_depth: int = 32


class WebhookRejected(Exception):
    """A refused call: ``status`` (4xx) and a message for the sender; nothing was done."""

    def __init__(self, status: int, message: str, **extra) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.extra = extra

    def __str__(self) -> str:
        return f"{self.status} {self.message}"

    def response(self) -> JsonResponse:
        response = JsonResponse({"error": self.message, **self.extra}, status=self.status)
        if self.status == 405:
            response["Allow"] = "POST"
        return response


@dataclass(frozen=True)
class SignedPayload:
    """A verified call: the parsed JSON, the raw body and the signed timestamp."""

    data: Any
    body: bytes
    timestamp: int


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (senders, tests, bench)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def parse_timestamp(value: str) -> int:
    """Unix seconds from a header: 1 to 12 ASCII digits, nothing else (no sign, no space)."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValueError("not Unix seconds")
    return int(value)


def require_post(request: HttpRequest) -> None:
    if request.method != "POST":
        raise WebhookRejected(405, "Use POST.")


def _check_envelope(request: HttpRequest, spec: WebhookSpec) -> bytes:
    """Method, size and content type; returns the raw body (read only once it is bounded)."""
    require_post(request)
    declared = str(request.META.get("CONTENT_LENGTH") or "0").strip() or "0"
    if not _LENGTH.fullmatch(declared):
        raise WebhookRejected(400, "Bad Content-Length.")
    if len(declared) > 12 or int(declared) > spec.max_body_bytes:
        raise WebhookRejected(413, f"Body larger than {spec.max_body_bytes // 1024} KB.")
    if request.content_type != "application/json":
        raise WebhookRejected(415, "Send application/json.")
    charset = (request.content_params or {}).get("charset", "utf-8").strip().lower()
    if charset not in {"utf-8", "utf8"}:
        raise WebhookRejected(415, "Send application/json in UTF-8.")
    body = request.body
    if len(body) > spec.max_body_bytes:
        raise WebhookRejected(413, f"Body larger than {spec.max_body_bytes // 1024} KB.")
    return body


def verify_signature(
    *,
    body: bytes,
    timestamp: str,
    signature: str,
    secrets: Iterable[str],
    max_age_seconds: int,
    timestamp_name: str = "timestamp",
    now: float | None = None,
) -> int:
    """Check the timestamp window and the HMAC against every valid secret; returns the time.

    Every secret is compared (no early exit) so the time taken does not tell which one, or
    whether any, matched.
    """
    timestamp = (timestamp or "").strip()
    signature = (signature or "").strip()
    if not signature or not timestamp:
        raise WebhookRejected(401, "Unsigned request: a signature and a timestamp are required.")
    try:
        stamp = parse_timestamp(timestamp)
    except ValueError:
        raise WebhookRejected(401, f"{timestamp_name} must be Unix seconds (digits).") from None
    if abs((time.time() if now is None else now) - stamp) > max_age_seconds:
        raise WebhookRejected(
            401, "Timestamp too old or in the future: refused as a possible replay."
        )
    if not _HEX_SIGNATURE.fullmatch(signature):
        raise WebhookRejected(401, "Bad signature.")
    matched = False
    for secret in secrets:
        if secret:
            expected = sign(secret, timestamp, body).encode("ascii")
            matched |= hmac.compare_digest(expected, signature.encode("ascii"))
    if not matched:
        raise WebhookRejected(401, "Bad signature.")
    return stamp


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _too_deep(data: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than ``max_depth`` (iterative: no recursion here)."""
    if not isinstance(data, dict | list):
        return False
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def _forbidden_string(data: Any) -> str | None:
    """The first NUL or unpaired surrogate in any key or string value, described."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts: Iterable[str] = (item,)
        elif isinstance(item, dict):
            texts = item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            found = _FORBIDDEN_CHARS.search(text)
            if found:
                char = found.group()
                if char == "\x00":
                    return "a NUL character"
                return f"an unpaired surrogate U+{ord(char):04X}"
    return None


def parse_json(body: bytes, *, max_depth: int = 32) -> Any:
    """Strict JSON from UTF-8 bytes, or :class:`WebhookRejected` (400) saying what is wrong.

    Strict UTF-8 decoding refuses raw surrogates and the parser refuses raw control
    characters in strings, so a NUL or a surrogate can only arrive as a ``\\u`` escape: the
    (slower) walk over every string runs only when the text holds such an escape. The parser's
    own recursion guard stops absurd nesting (50,000 levels) with ``RecursionError``; the
    data is then walked, without recursion, against ``max_depth``.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(400, f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise WebhookRejected(400, f"JSON nested deeper than {max_depth} levels.") from None
    except ValueError as exc:
        # JSONDecodeError (a ValueError) says where; our hooks say which number.
        raise WebhookRejected(400, f"The body is not valid JSON: {exc}"[:300]) from None
    if _too_deep(data, max_depth):
        raise WebhookRejected(400, f"JSON nested deeper than {max_depth} levels.")
    if _SUSPECT_ESCAPE.search(text):
        problem = _forbidden_string(data)
        if problem:
            raise WebhookRejected(400, f"The JSON contains {problem}, which is not accepted.")
    return data


def receive(request: HttpRequest, *, spec: WebhookSpec, secrets: Iterable[str]) -> SignedPayload:
    """Check a signed JSON webhook call end to end; raises :class:`WebhookRejected`.

    Order: envelope (405/413/415), then the signature (401) — nobody unsigned gets the JSON
    parser — then the body (400). ``secrets`` are all currently valid secrets of the sender.
    """
    body = _check_envelope(request, spec)
    stamp = verify_signature(
        body=body,
        timestamp=request.headers.get(spec.timestamp_header, ""),
        signature=request.headers.get(spec.signature_header, ""),
        secrets=secrets,
        max_age_seconds=spec.max_age_seconds,
        timestamp_name=spec.timestamp_header,
    )
    return SignedPayload(
        data=parse_json(body, max_depth=spec.max_depth), body=body, timestamp=stamp
    )
