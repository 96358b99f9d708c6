"""Where the replenishment plan gets its demand history from, without importing orders.

Demand lives in order lines, and orders sits above inventory: inventory may not import it
(DESIGN.md layering). So the plan asks a *demand provider* that a higher app registers here
when Django starts (``orders.apps.OrdersConfig.ready`` registers
``orders.selectors.daily_demand_stats``). A registry rather than a signal: the plan needs an
answer (signals are for news), needs exactly one source, and must get it in one set-based
query whatever the number of rules. Without a provider (inventory used alone, or a test that
wants none) demand is zero and only min/max rules order anything.

A provider is called as ``provider(since=date, until=date, product_ids=list | None)`` and
returns ``{product_id: DemandTotals}`` for the days ``since ≤ day < until`` (UTC dates of the
orders' ``placed_at``): the sum of the daily demand and the sum of its squares, so that mean
and spread are computed here for any window without fetching one row per day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import NamedTuple


class DemandTotals(NamedTuple):
    total: float  # Σ daily demand over the window
    total_squares: float  # Σ (daily demand)²


DemandProvider = Callable[..., dict[int, DemandTotals]]

_provider: DemandProvider | None = None


def register_demand_provider(provider: DemandProvider | None) -> None:
    """Install the one demand provider (``None`` removes it)."""
    global _provider
    _provider = provider


def demand_provider() -> DemandProvider | None:
    return _provider


def demand_totals(
    *, since: date, until: date, product_ids: list[int] | None = None
) -> dict[int, DemandTotals]:
    if _provider is None:
        return {}
    return _provider(since=since, until=until, product_ids=product_ids)
