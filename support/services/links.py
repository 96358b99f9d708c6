"""Signed, revocable tracking links: create them in bulk, hand out a token, revoke."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from core.db import atomic_with_retry
from orders import services as order_services
from orders.models import Order, OrderEvent
from support import links
from support.models import (
    TrackingLink,
)
from support.selectors import (
    CHUNK,
)


# -- tracking links -----------------------------------------------------------------------------
def tracking_links_ensure(*, order_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """``{order_id: (public_id, version)}``, creating the missing links (one insert).

    Locks nothing: two callers racing for the same order both insert, the unique order key
    keeps one row, and both read it back.
    """
    ids = sorted(set(order_ids))
    found: dict[int, tuple[str, int]] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (o, (p, v))
            for o, p, v in TrackingLink.objects.filter(order_id__in=chunk).values_list(
                "order_id", "public_id", "version"
            )
        )
        missing = [i for i in chunk if i not in found]
        if missing:
            clients = dict(Order.objects.filter(pk__in=missing).values_list("pk", "client_id"))
            TrackingLink.objects.bulk_create(
                [TrackingLink(order_id=i, client_id=clients[i]) for i in missing if i in clients],
                ignore_conflicts=True,
            )
            found.update(
                (o, (p, v))
                for o, p, v in TrackingLink.objects.filter(order_id__in=missing).values_list(
                    "order_id", "public_id", "version"
                )
            )
    return found


def tracking_token(*, order: Order) -> str:
    """A fresh signed token for the order's public pages (creates its link if needed)."""
    public_id, version = tracking_links_ensure(order_ids=[order.pk])[order.pk]
    return links.make_token(public_id, version)


@atomic_with_retry
def tracking_link_revoke(*, order: Order, user=None) -> TrackingLink:
    """Revoke every link sent so far for the order (the version goes up; new notifications
    carry a new link). Locks the order's link row. Writes a timeline row."""
    tracking_links_ensure(order_ids=[order.pk])
    link = TrackingLink.objects.select_for_update().get(order_id=order.pk)
    link.version += 1
    link.revoked_at = timezone.now()
    link.save(update_fields=["version", "revoked_at"])
    order_services.order_events_record(
        entries=[(order.pk, "Tracking links revoked: links sent so far no longer open.")],
        kind=OrderEvent.Kind.NOTIFICATION,
        user=user,
    )
    return link
