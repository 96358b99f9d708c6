"""Signed, revocable customer links to an order (tracking page, cancel page).

A token is ``TimestampSigner(salt).sign("<public_id>.<version>")``: the order's random public
id (never its sequential pk), the link version (bumping it revokes every link sent so far),
the time of signing and an HMAC under SECRET_KEY. It expires after
``settings.TRACKING_LINK_MAX_AGE_DAYS``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "support.tracking-link"
_signer = signing.TimestampSigner(salt=SALT)


class LinkError(Exception):
    """Why a link cannot be used: ``reason`` is 'invalid', 'expired' or 'revoked'."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class LinkClaim:
    public_id: str
    version: int


def max_age() -> timedelta:
    return timedelta(days=getattr(settings, "TRACKING_LINK_MAX_AGE_DAYS", 120))


def make_token(public_id: str, version: int) -> str:
    return _signer.sign(f"{public_id}.{version}")


def read_token(token: str) -> LinkClaim:
    """The claim of a well-signed, unexpired token, or :class:`LinkError` (never anything else)."""
    try:
        value = _signer.unsign(token, max_age=max_age())
    except signing.SignatureExpired:
        raise LinkError("expired") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise LinkError("invalid") from None
    public_id, _, version = value.rpartition(".")
    if not public_id or not version.isdigit():
        raise LinkError("invalid")
    return LinkClaim(public_id, int(version))


def public_url(path: str) -> str:
    base = getattr(settings, "PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
    return f"{base}{path}"


_MARK = "TOKEN-MARK"


@functools.cache
def _url_parts(name: str, base: str) -> tuple[str, str]:
    # reverse() costs more than the rest of a notification's links: resolve the pattern once
    # per (URL name, base) and put each token in its place.
    before, _, after = reverse(name, args=[_MARK]).partition(_MARK)
    return base.rstrip("/") + before, after


def _url(name: str, token: str) -> str:
    before, after = _url_parts(name, getattr(settings, "PUBLIC_BASE_URL", "http://127.0.0.1:8000"))
    return f"{before}{token}{after}"


def tracking_url(token: str) -> str:
    return _url("support:tracking", token)


def cancel_url(token: str) -> str:
    return _url("support:cancel", token)
