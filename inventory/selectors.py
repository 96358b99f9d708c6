"""Reads with logic for replenishment and purchasing (scoped by the caller)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from inventory.models import PurchaseOrder, PurchaseOrderLine, Supplier

# How many of a supplier's latest receipts teach its lead time, and how many are needed before
# the plan trusts them over the configured lead time.
LEAD_TIME_SAMPLE = 20
LEAD_TIME_MIN_RECEIPTS = 5

OPEN_SENT = (PurchaseOrder.Status.SENT, PurchaseOrder.Status.PARTIALLY_RECEIVED)


class LeadTimeStats(NamedTuple):
    mean: float
    sigma: float  # population standard deviation
    receipts: int

    @property
    def trusted(self) -> bool:
        return self.receipts >= LEAD_TIME_MIN_RECEIPTS


def lead_time_stats(supplier_ids: Iterable[int] | None = None) -> dict[int, LeadTimeStats]:
    """Mean and spread of each supplier's last ``LEAD_TIME_SAMPLE`` lead times (sent → received
    days of fully received PO lines)."""
    lines = PurchaseOrderLine.objects.filter(lead_time_days__isnull=False)
    if supplier_ids is not None:
        lines = lines.filter(purchase_order__supplier_id__in=list(supplier_ids))
    samples: dict[int, list[int]] = defaultdict(list)
    for supplier_id, days in lines.order_by("purchase_order__supplier_id", "-received_at", "-id")[
        :100_000
    ].values_list("purchase_order__supplier_id", "lead_time_days"):
        if len(samples[supplier_id]) < LEAD_TIME_SAMPLE:
            samples[supplier_id].append(days)
    stats = {}
    for supplier_id, days in samples.items():
        mean = sum(days) / len(days)
        sigma = math.sqrt(sum((d - mean) ** 2 for d in days) / len(days))
        stats[supplier_id] = LeadTimeStats(mean, sigma, len(days))
    return stats


def effective_lead_time(
    *, configured: int, stats: LeadTimeStats | None
) -> tuple[float, float, str]:
    """(L, σ_L, where from): learnt once there are enough receipts, else configured, σ_L = 0."""
    if stats is not None and stats.trusted:
        return stats.mean, stats.sigma, f"learnt from {stats.receipts} receipts"
    return float(configured), 0.0, "configured"


def late_q(today: date | None = None, prefix: str = "") -> Q:
    """Sent POs past their expected date with units still open."""
    today = today or timezone.localdate()
    return Q(
        **{
            f"{prefix}status__in": OPEN_SENT,
            f"{prefix}expected_on__lt": today,
        }
    ) & Q(**{f"{prefix}lines__quantity__gt": F(f"{prefix}lines__quantity_received")})


def late_purchase_orders(qs: QuerySet[PurchaseOrder] | None = None) -> QuerySet[PurchaseOrder]:
    qs = PurchaseOrder.objects.all() if qs is None else qs
    return qs.filter(late_q()).distinct()


def suppliers_with_late_counts(qs: QuerySet[Supplier]) -> QuerySet[Supplier]:
    return qs.annotate(
        late_count=Count(
            "purchase_orders", filter=late_q(prefix="purchase_orders__"), distinct=True
        )
    )


class OpenSupply(NamedTuple):
    product_id: int
    warehouse_id: int
    purchase_order_id: int
    number: str
    expected_on: date | None
    quantity_open: int


def open_supply(product_ids: Iterable[int] | None = None) -> list[OpenSupply]:
    """Open lines of sent purchase orders, earliest expected first (how receipts will come)."""
    lines = PurchaseOrderLine.objects.filter(
        purchase_order__status__in=OPEN_SENT, quantity__gt=F("quantity_received")
    )
    if product_ids is not None:
        lines = lines.filter(product_id__in=list(product_ids))
    rows = lines.order_by(
        F("purchase_order__expected_on").asc(nulls_last=True), "purchase_order_id", "id"
    ).values_list(
        "product_id",
        "purchase_order__warehouse_id",
        "purchase_order_id",
        "purchase_order__number",
        "purchase_order__expected_on",
        "quantity",
        "quantity_received",
    )
    return [OpenSupply(p, w, po, num or "", exp, q - r) for p, w, po, num, exp, q, r in rows]


def on_order_expected() -> dict[tuple[int, int], int]:
    """What ``on_order`` must be for every product × warehouse: open units of sent POs."""
    rows = (
        PurchaseOrderLine.objects.filter(purchase_order__status__in=OPEN_SENT)
        .filter(quantity__gt=F("quantity_received"))
        .values("product_id", "purchase_order__warehouse_id")
        .annotate(open=Sum(F("quantity") - F("quantity_received")))
        .order_by()
    )
    return {(r["product_id"], r["purchase_order__warehouse_id"]): r["open"] for r in rows}
