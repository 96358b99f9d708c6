"""How an order looks in the admin: segment badge, due time (shared by the queue and the page)."""

from __future__ import annotations

from django.utils import timezone
from django.utils.html import format_html

from orders.models import CLOSED_STATUSES, Order


def duration_text(hours: float) -> str:
    """``3h``, ``2d``, ``40m``: a span of hours, short (the sign is dropped)."""
    hours = abs(hours)
    if hours >= 48:
        return f"{hours / 24:.0f}d"
    if hours >= 1:
        return f"{hours:.0f}h"
    return f"{hours * 60:.0f}m"


def segment_badge(order: Order) -> str:
    # A class per segment (colours in static/bpo/admin.css): the CSP allows no style attributes.
    return format_html(
        '<span class="bpo-badge bpo-segment-{}">{}</span>',
        order.segment,
        order.get_segment_display(),
    )


def due_text(order: Order, now=None) -> str:
    if order.status in CLOSED_STATUSES:
        return "–"
    hours = (order.ship_by - (now or timezone.now())).total_seconds() / 3600
    if hours < 0:
        return format_html('<span class="bpo-overdue">overdue {}</span>', duration_text(hours))
    return f"in {duration_text(hours)}"
