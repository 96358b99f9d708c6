"""Carrier configuration writes: rotating a carrier's webhook secret (with an overlap for
calls signed with the previous one)."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    Carrier,
    new_webhook_secret,
)

MIN_SECRET_LENGTH = 24


@transaction.atomic
def carrier_webhook_secret_rotate(
    *, carrier: Carrier, new_secret: str | None = None, overlap: timedelta | None = None
) -> str:
    """Give the carrier a new webhook secret and return it (generated when not given).

    Locks the carrier row. The current secret becomes the previous one and stays valid for
    ``overlap`` (default ``settings.WEBHOOK_SECRET_OVERLAP_HOURS``), so calls the carrier
    signed before it switched are still accepted; an older previous secret is dropped. A
    carrier without a secret yet (just created in the admin) gets no overlap. Raises
    :class:`FulfillmentError` for a secret too short, not printable ASCII, or equal to the
    current one.
    """
    if new_secret is None:
        new_secret = new_webhook_secret()
    if (
        not isinstance(new_secret, str)
        or len(new_secret) < MIN_SECRET_LENGTH
        or len(new_secret) > 128
        or not new_secret.isascii()
        or not new_secret.isprintable()
        or new_secret != new_secret.strip()
    ):
        raise FulfillmentError(
            f"A webhook secret is {MIN_SECRET_LENGTH} to 128 printable ASCII characters "
            "without surrounding spaces."
        )
    locked = Carrier.objects.select_for_update().get(pk=carrier.pk)
    if _same_secret(locked.webhook_secret, new_secret):
        raise FulfillmentError("The new webhook secret must differ from the current one.")
    now = timezone.now()
    if overlap is None:
        overlap = timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    if locked.webhook_secret and overlap > timedelta(0):
        locked.previous_webhook_secret = locked.webhook_secret
        locked.previous_webhook_secret_valid_until = now + overlap
    else:
        locked.previous_webhook_secret = ""
        locked.previous_webhook_secret_valid_until = None
    locked.webhook_secret = new_secret
    locked.webhook_secret_set_at = now
    locked.save(
        update_fields=[
            "webhook_secret",
            "webhook_secret_set_at",
            "previous_webhook_secret",
            "previous_webhook_secret_valid_until",
        ]
    )
    for name in ("webhook_secret", "webhook_secret_set_at", "previous_webhook_secret"):
        setattr(carrier, name, getattr(locked, name))
    carrier.previous_webhook_secret_valid_until = locked.previous_webhook_secret_valid_until
    return new_secret


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
