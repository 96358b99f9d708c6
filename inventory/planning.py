"""The replenishment arithmetic for one rule: pure functions, no database.

Both policies end in the same three steps: a **reorder point** (ROP) and an **order-up-to**
level (OUT); if projected stock is below the ROP, order ``OUT − projected``, at least the
supplier's minimum order quantity, rounded **up** to whole packs.

- *min/max*: ROP = min, OUT = max.
- *demand-driven*: d̄ = average daily demand over the rule's window (a plain moving average:
  every day of the window counts, days without orders as 0), σ_d its population standard
  deviation over the same days; lead time L (σ_L when learnt from receipts, else 0);
  safety stock ``SS = z·√(L·σ_d² + d̄²·σ_L²)`` with z from the client's target service level;
  ``ROP = d̄·L + SS``; ``OUT = ROP + d̄·review_days``.

Projected stock is ``on_hand + on_order − allocated − backordered`` plus what waits on draft
and approved purchase orders (so a shortage is never ordered twice).

**Order-by date**: the last day to order so the goods arrive before stock eats into the
protection. For demand-driven rules that is the day projected stock falls below the ROP (the
ROP already holds the lead-time demand d̄·L, so subtracting the lead time again would count it
twice); for min/max rules, whose min does not include lead-time demand, it is the day stock
falls below min, minus the lead time. Already below: a date in the past (overdue). No demand
and not below: none. **Days of cover** = projected ÷ d̄ (none without demand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

# z for a target cycle service level (one-sided normal quantile).
Z_BY_SERVICE_LEVEL = {"90": 1.282, "95": 1.645, "97.5": 1.960, "98": 2.054, "99": 2.326}
MIN_MAX, DEMAND = "min_max", "demand"


@dataclass(slots=True)
class PlanInput:
    policy: str
    projected: int
    today: date
    min_qty: int = 0
    max_qty: int = 0
    daily_demand: float = 0.0  # d̄
    demand_sigma: float = 0.0  # σ_d
    demand_days: int = 28
    lead_days: float = 0.0  # L
    lead_sigma: float = 0.0  # σ_L
    review_days: int = 7
    z: float = 1.645
    moq: int = 1
    pack: int = 1


@dataclass(slots=True)
class Plan:
    reorder_point: float
    order_up_to: float
    safety_stock: float | None
    suggested_qty: int
    order_by: date | None
    days_of_cover: float | None
    explanation: str


def demand_stats(total: float, total_squares: float, days: int) -> tuple[float, float]:
    """Mean and population standard deviation of ``days`` daily figures from their sums."""
    if days <= 0:
        return 0.0, 0.0
    mean = total / days
    variance = max(total_squares / days - mean * mean, 0.0)
    return mean, math.sqrt(variance)


def safety_stock(*, z: float, daily: float, sigma: float, lead: float, lead_sigma: float) -> float:
    return z * math.sqrt(lead * sigma * sigma + daily * daily * lead_sigma * lead_sigma)


def round_order(raw: int, *, moq: int, pack: int) -> int:
    """At least the minimum order quantity, then up to whole packs."""
    qty = max(raw, moq, 1)
    pack = max(pack, 1)
    return -(-qty // pack) * pack


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"


def plan(p: PlanInput) -> Plan:
    daily = p.daily_demand
    if p.policy == DEMAND:
        ss = safety_stock(
            z=p.z, daily=daily, sigma=p.demand_sigma, lead=p.lead_days, lead_sigma=p.lead_sigma
        )
        rop = daily * p.lead_days + ss
        out = rop + daily * p.review_days
        protected, lead_shift = rop, 0.0
        lead = f"lead {_num(p.lead_days)} d" + (f" ± {p.lead_sigma:.1f}" if p.lead_sigma else "")
        head = (
            f"{daily:.1f}/day over {p.demand_days} days (σ {p.demand_sigma:.1f}), {lead}, "
            f"safety {_num(ss)} → reorder at {_num(rop)}, up to {_num(out)}"
        )
    else:
        ss = None
        rop, out = float(p.min_qty), float(p.max_qty)
        protected, lead_shift = rop, p.lead_days
        head = f"min {p.min_qty}, max {p.max_qty}"
        if daily:
            head += f", {daily:.1f}/day over {p.demand_days} days"
    if p.projected < rop - 1e-9:
        raw = max(math.ceil(out - p.projected - 1e-9), 0)
        qty = round_order(raw, moq=p.moq, pack=p.pack)
        text = f"{head}; {p.projected} projected → order {qty}"
        if p.pack > 1:
            text += f" = {qty // p.pack} case{'s' if qty // p.pack != 1 else ''} of {p.pack}"
        if qty != raw:
            text += f" (needs {raw}" + (f", minimum order {p.moq}" if p.moq > raw else "") + ")"
    else:
        qty = 0
        text = f"{head}; {p.projected} projected, not below {_num(rop)} → nothing to order"
    if daily > 0:
        days_left = math.floor((p.projected - protected) / daily)
        order_by = p.today + timedelta(days=days_left - math.ceil(lead_shift))
        cover = max(p.projected, 0) / daily
    else:
        order_by = (
            p.today - timedelta(days=math.ceil(lead_shift)) if p.projected < rop - 1e-9 else None
        )
        cover = None
    return Plan(
        reorder_point=rop,
        order_up_to=out,
        safety_stock=ss,
        suggested_qty=qty,
        order_by=order_by,
        days_of_cover=cover,
        explanation=text,
    )
