"""Priority score, its human-readable breakdown, and the segment an order sits in.

Score = Σ weight × factor × 10, each factor in [0, 1] (time-to-promise may reach 1.5 once
overdue, so an overdue order outranks anything merely close to its promise). Weights are per
client (``Client.weight_*``); setting one to 0 switches that factor off. The breakdown stored
with the order answers "why is this order first?" in the agent's words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from operator import itemgetter

from django.db import transaction
from django.utils import timezone

from clients.models import Client
from core.bulk import update_rows
from core.db import atomic_with_retry
from orders.models import CLOSED_STATUSES, Customer, Order

SERVICE_FACTOR = {"standard": 0.0, "expedited": 0.6, "overnight": 1.0}
TIER_FACTOR = {"standard": 0.0, "silver": 0.33, "gold": 0.66, "vip": 1.0}
DUE_HORIZON_HOURS = 7 * 24  # further away than a week counts as no pressure at all
OVERDUE_FULL_HOURS = 48  # overdue by two days reaches the maximum 1.5
AGE_FULL_HOURS = 14 * 24
VALUE_FULL = 10_000  # an order worth 10,000 (any currency) gets the full value factor
URGENT_WITHIN_HOURS = 4
# An open complaint (a delay complaint, or any ticket about a late order) weighs like a manual
# expedite: the customer already chased it, so it moves up the queue.
COMPLAINT_WEIGHT = 30


@dataclass(frozen=True)
class PriorityInput:
    ship_by: datetime
    placed_at: datetime
    service_level: str
    tier: str
    total: Decimal
    expedite: bool
    complaints: int = 0


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _fmt_hours(hours: float) -> str:
    hours = abs(hours)
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h"


_LOG_VALUE_FULL = math.log10(1 + VALUE_FULL)
_by_points = itemgetter(1)


def compute_priority(data: PriorityInput, client: Client, now: datetime) -> tuple[int, list]:
    """Return ``(score, breakdown)``; pure, so it can run on a million orders in a task.

    (Written for speed — imports and the periodic refresh call it for every order — with
    the same arithmetic, in the same order, as the plain reading of the formula.)"""
    left = (data.ship_by - now).total_seconds() / 3600
    if left <= 0:
        due = 1.0 + 0.5 * min(-left / OVERDUE_FULL_HOURS, 1.0)
        due_text = f"overdue by {_fmt_hours(left)}"
    else:
        due = max(0.0, 1.0 - left / DUE_HORIZON_HOURS)
        due_text = f"due in {_fmt_hours(left)}"
    age_hours = max(0.0, (now - data.placed_at).total_seconds() / 3600)
    value = float(data.total or 0)
    expedite = data.expedite
    factors = [
        ("due", round(client.weight_due * due * 10), due_text),
        (
            "service",
            round(client.weight_service * SERVICE_FACTOR.get(data.service_level, 0.0) * 10),
            f"{data.service_level} service",
        ),
        (
            "tier",
            round(client.weight_tier * TIER_FACTOR.get(data.tier, 0.0) * 10),
            f"{data.tier} customer",
        ),
        (
            "value",
            round(
                client.weight_value
                * min(math.log10(1 + max(value, 0.0)) / _LOG_VALUE_FULL, 1.0)
                * 10
            ),
            f"order value {value:,.2f}",
        ),
        (
            "age",
            round(client.weight_age * min(age_hours / AGE_FULL_HOURS, 1.0) * 10),
            f"{_fmt_hours(age_hours)} old",
        ),
        (
            "expedite",
            round(client.weight_expedite * (1.0 if expedite else 0.0) * 10),
            "expedited by an agent" if expedite else "not expedited",
        ),
    ]
    if data.complaints:
        factors.append(
            (
                "complaint",
                COMPLAINT_WEIGHT * 10,
                f"{data.complaints} open customer complaint{'s' if data.complaints > 1 else ''}",
            )
        )
    factors.sort(key=_by_points, reverse=True)  # stable: ties keep the order above
    return (
        sum(points for _, points, _ in factors),
        [{"factor": key, "points": points, "why": why} for key, points, why in factors],
    )


def compute_segment(
    *, status: str, ship_by: datetime, expedite: bool, client: Client, now: datetime
) -> str:
    if status in CLOSED_STATUSES:
        return Order.Segment.CLOSED
    if status == Order.Status.ON_HOLD:
        return Order.Segment.ON_HOLD
    if status == Order.Status.BACKORDERED:
        return Order.Segment.BACKORDERED
    left = _hours(ship_by - now)
    if expedite or left <= min(URGENT_WITHIN_HOURS, client.at_risk_hours):
        return Order.Segment.URGENT
    if left <= client.at_risk_hours:
        return Order.Segment.AT_RISK
    return Order.Segment.STANDARD


def priority_input(order: Order, tier: str) -> PriorityInput:
    return PriorityInput(
        ship_by=order.ship_by,
        placed_at=order.placed_at,
        service_level=order.service_level,
        tier=tier,
        total=order.total,
        expedite=order.expedite,
        complaints=order.open_complaints,
    )


def apply_priority(order: Order, *, client: Client, tier: str, now: datetime | None = None) -> bool:
    """Recompute score, breakdown and segment on the instance; True when anything changed."""
    now = now or timezone.now()
    score, breakdown = compute_priority(priority_input(order, tier), client, now)
    segment = compute_segment(
        status=order.status, ship_by=order.ship_by, expedite=order.expedite, client=client, now=now
    )
    changed = (score, segment) != (order.priority_score, order.segment)
    order.priority_score, order.priority_breakdown, order.segment = score, breakdown, segment
    order.priority_computed_at = now
    return changed


def _tier_of(order: Order) -> str:
    if order.customer_id is None:
        return Customer.Tier.STANDARD
    return order.customer.tier


@atomic_with_retry
def order_refresh_priority(*, order: Order, now: datetime | None = None) -> Order:
    """Recompute one order's priority and segment and save them (no lock: derived fields)."""
    apply_priority(order, client=order.client, tier=_tier_of(order), now=now)
    Order.objects.filter(pk=order.pk).update(
        priority_score=order.priority_score,
        priority_breakdown=order.priority_breakdown,
        segment=order.segment,
        priority_computed_at=order.priority_computed_at,
    )
    return order


def priorities_refresh(
    *, client_ids: list[int] | None = None, now: datetime | None = None, chunk: int = 2000
) -> dict[str, int]:
    """Recompute every open order's priority; write only the ones whose score or segment moved.

    Runs from the periodic task as time passes. Reads in primary-key chunks with only the
    columns the formula needs; each chunk is its own short transaction.
    """
    now = now or timezone.now()
    clients = {c.pk: c for c in Client.objects.all()}
    qs = Order.objects.exclude(status__in=CLOSED_STATUSES)
    if client_ids is not None:
        qs = qs.filter(client_id__in=client_ids)
    fields = (
        "id",
        "client_id",
        "status",
        "ship_by",
        "placed_at",
        "service_level",
        "total",
        "expedite",
        "open_complaints",
        "priority_score",
        "segment",
        "customer__tier",
    )
    seen = changed = 0
    last_id = 0
    while True:
        rows = list(qs.filter(id__gt=last_id).order_by("id").values(*fields)[:chunk])
        if not rows:
            break
        last_id = rows[-1]["id"]
        updates = []
        for row in rows:
            client = clients[row["client_id"]]
            data = PriorityInput(
                ship_by=row["ship_by"],
                placed_at=row["placed_at"],
                service_level=row["service_level"],
                tier=row["customer__tier"] or Customer.Tier.STANDARD,
                total=row["total"],
                expedite=row["expedite"],
                complaints=row["open_complaints"],
            )
            score, breakdown = compute_priority(data, client, now)
            segment = compute_segment(
                status=row["status"],
                ship_by=row["ship_by"],
                expedite=row["expedite"],
                client=client,
                now=now,
            )
            seen += 1
            if score != row["priority_score"] or segment != row["segment"]:
                updates.append((row["id"], score, breakdown, str(segment), now))
        if updates:
            with transaction.atomic():
                update_rows(
                    Order,
                    ("priority_score", "priority_breakdown", "segment", "priority_computed_at"),
                    updates,
                )
                # A status may have changed between our read and this write; the segments that
                # follow from status alone are put back from the status that is there now.
                _resync_status_segments([row[0] for row in updates])
            changed += len(updates)
    return {"seen": seen, "changed": changed}


def _resync_status_segments(order_ids: list[int]) -> None:
    scoped = Order.objects.filter(id__in=order_ids)
    scoped.filter(status=Order.Status.ON_HOLD).exclude(segment=Order.Segment.ON_HOLD).update(
        segment=Order.Segment.ON_HOLD
    )
    scoped.filter(status=Order.Status.BACKORDERED).exclude(
        segment=Order.Segment.BACKORDERED
    ).update(segment=Order.Segment.BACKORDERED)
    scoped.filter(status__in=CLOSED_STATUSES).exclude(segment=Order.Segment.CLOSED).update(
        segment=Order.Segment.CLOSED
    )
    status_segments = [Order.Segment.ON_HOLD, Order.Segment.BACKORDERED, Order.Segment.CLOSED]
    stale = (
        scoped.exclude(status__in=[Order.Status.ON_HOLD, Order.Status.BACKORDERED])
        .exclude(status__in=CLOSED_STATUSES)
        .filter(segment__in=status_segments)
        .select_related("client", "customer")
    )
    for order in stale:
        order_refresh_priority(order=order)


@atomic_with_retry
def order_complaints_adjust(*, order_id: int, delta: int, note: str = "") -> Order:
    """Count a customer complaint about the order in (``delta`` +1) or out (−1, when the
    ticket is resolved) and recompute its priority, so the order moves up (or back) in the
    queue; the "complaint" factor shows in the breakdown. Locks the order row; writes a
    timeline row with ``note`` when given. Support calls this (orders never imports support).
    """
    from orders.models import OrderEvent

    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("client", "customer")
        .get(pk=order_id)
    )
    order.open_complaints = max(0, order.open_complaints + delta)
    Order.objects.filter(pk=order.pk).update(open_complaints=order.open_complaints)
    order_refresh_priority(order=order)
    if note:
        OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.SUPPORT, message=note[:4000])
    return order
