"""The replenishment arithmetic against numbers worked out by hand."""

from __future__ import annotations

import math
from datetime import date

import pytest

from inventory.planning import DEMAND, MIN_MAX, PlanInput, demand_stats, plan, round_order

TODAY = date(2026, 12, 1)


def test_min_max_below_min_orders_up_to_max():
    result = plan(PlanInput(policy=MIN_MAX, projected=12, today=TODAY, min_qty=20, max_qty=100))
    assert result.reorder_point == 20
    assert result.order_up_to == 100
    assert result.suggested_qty == 88  # 100 − 12
    assert "12 projected → order 88" in result.explanation


def test_min_max_at_min_orders_nothing():
    result = plan(PlanInput(policy=MIN_MAX, projected=20, today=TODAY, min_qty=20, max_qty=100))
    assert result.suggested_qty == 0
    assert "nothing to order" in result.explanation


def test_min_max_covers_backorders_when_projected_is_negative():
    result = plan(PlanInput(policy=MIN_MAX, projected=-7, today=TODAY, min_qty=0, max_qty=0))
    assert result.suggested_qty == 7  # up to 0: the 7 backordered units
    result = plan(PlanInput(policy=MIN_MAX, projected=-7, today=TODAY, min_qty=1, max_qty=10))
    assert result.suggested_qty == 17  # 10 − (−7)


def test_pack_rounding_and_moq():
    assert round_order(88, moq=1, pack=24) == 96  # 4 cases of 24 (3.67 rounded up)
    assert round_order(96, moq=1, pack=24) == 96
    assert round_order(10, moq=50, pack=1) == 50
    assert round_order(10, moq=50, pack=24) == 72  # MOQ 50 → 3 cases
    result = plan(
        PlanInput(policy=MIN_MAX, projected=12, today=TODAY, min_qty=20, max_qty=100, pack=24)
    )
    assert result.suggested_qty == 96
    assert "order 96 = 4 cases of 24 (needs 88)" in result.explanation
    result = plan(
        PlanInput(policy=MIN_MAX, projected=95, today=TODAY, min_qty=96, max_qty=100, moq=40)
    )
    assert result.suggested_qty == 40
    assert "minimum order 40" in result.explanation


def test_demand_stats_moving_average_and_population_sigma():
    # 4 days: 10, 0, 20, 10 → mean 10, variance (0 + 100 + 100 + 0)/4 = 50
    mean, sigma = demand_stats(40, 100 + 0 + 400 + 100, 4)
    assert mean == 10
    assert sigma == pytest.approx(math.sqrt(50))


def test_demand_driven_without_lead_time_spread():
    # d̄ = 10/day, σ_d = 4, L = 9 days, σ_L = 0, z = 1.645:
    # SS = 1.645 · √(9 · 16) = 1.645 · 12 = 19.74; ROP = 90 + 19.74 = 109.74;
    # OUT = 109.74 + 10 · 7 = 179.74; projected 50 → raw ⌈129.74⌉ = 130 → packs of 12: 132.
    result = plan(
        PlanInput(
            policy=DEMAND,
            projected=50,
            today=TODAY,
            daily_demand=10,
            demand_sigma=4,
            lead_days=9,
            review_days=7,
            z=1.645,
            pack=12,
        )
    )
    assert result.safety_stock == pytest.approx(19.74)
    assert result.reorder_point == pytest.approx(109.74)
    assert result.order_up_to == pytest.approx(179.74)
    assert result.suggested_qty == 132
    assert result.days_of_cover == 5.0
    # Already below the ROP by 59.74 units = 5.97 days of demand: overdue since 6 days ago.
    assert result.order_by == date(2026, 11, 25)
    assert result.explanation.startswith("10.0/day over 28 days (σ 4.0), lead 9 d, safety 19.7")
    assert "reorder at 109.7, up to 179.7" in result.explanation


def test_demand_driven_with_lead_time_spread():
    # d̄ = 13.2, σ_d = 5, L = 6, σ_L = 2, z = 2.054 (98 %):
    # SS = 2.054 · √(6 · 25 + 13.2² · 4) = 2.054 · √(150 + 696.96) = 2.054 · 29.1026 = 59.777
    # ROP = 79.2 + 59.777 = 138.977; OUT = 138.977 + 13.2 · 7 = 231.377
    # projected 87 → ⌈144.377⌉ = 145 → cases of 24 → 168 (7 cases)
    result = plan(
        PlanInput(
            policy=DEMAND,
            projected=87,
            today=TODAY,
            daily_demand=13.2,
            demand_sigma=5,
            lead_days=6,
            lead_sigma=2,
            z=2.054,
            pack=24,
        )
    )
    assert result.safety_stock == pytest.approx(59.777, abs=1e-3)
    assert result.reorder_point == pytest.approx(138.977, abs=1e-3)
    assert result.suggested_qty == 168
    assert "lead 6 d ± 2.0" in result.explanation
    assert "7 cases of 24" in result.explanation


def test_demand_driven_above_rop_has_a_future_order_by_date():
    # d̄ = 5, σ 0, L 4 → ROP 20; projected 60 → falls below ROP in 8 days: order by Dec 9.
    result = plan(PlanInput(policy=DEMAND, projected=60, today=TODAY, daily_demand=5, lead_days=4))
    assert result.suggested_qty == 0
    assert result.reorder_point == 20
    assert result.order_by == date(2026, 12, 9)
    assert result.days_of_cover == 12


def test_min_max_order_by_subtracts_lead_time():
    # 2/day, min 10, projected 30 → below min in 10 days, lead 3 → order by Dec 8.
    result = plan(
        PlanInput(
            policy=MIN_MAX,
            projected=30,
            today=TODAY,
            min_qty=10,
            max_qty=50,
            daily_demand=2,
            lead_days=3,
        )
    )
    assert result.order_by == date(2026, 12, 8)
    assert result.days_of_cover == 15


def test_no_demand_means_no_date_and_no_cover():
    result = plan(PlanInput(policy=DEMAND, projected=5, today=TODAY, lead_days=4))
    assert result.suggested_qty == 0
    assert result.order_by is None
    assert result.days_of_cover is None
