"""Priority score, its breakdown, segments, the derived promise and the periodic refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from orders.models import Customer, Order
from orders.services import order_cancel, order_hold, priorities_refresh
from orders.services.priority import PriorityInput, compute_priority, compute_segment

S = Order.Status
SEG = Order.Segment
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
FACTORS = {"due", "service", "tier", "value", "age", "expedite"}


def data(**overrides) -> PriorityInput:
    """A neutral order: due in 10 days, standard everything, worth nothing, placed just now."""
    values = {
        "ship_by": NOW + timedelta(days=10),
        "placed_at": NOW,
        "service_level": "standard",
        "tier": "standard",
        "total": Decimal("0"),
        "expedite": False,
    }
    values.update(overrides)
    return PriorityInput(**values)


def score(client, **overrides) -> int:
    return compute_priority(data(**overrides), client, NOW)[0]


def points(client, factor: str, **overrides) -> int:
    _, breakdown = compute_priority(data(**overrides), client, NOW)
    return next(item["points"] for item in breakdown if item["factor"] == factor)


# -- the formula ----------------------------------------------------------------------------


def test_neutral_order_scores_zero(retailer):
    s, breakdown = compute_priority(data(), retailer, NOW)
    assert s == 0
    assert {item["factor"] for item in breakdown} == FACTORS
    assert all(item["points"] == 0 for item in breakdown)


def test_overdue_beats_due_soon_beats_due_later(retailer):
    overdue = score(retailer, ship_by=NOW - timedelta(hours=1))
    due_soon = score(retailer, ship_by=NOW + timedelta(hours=2))
    due_later = score(retailer, ship_by=NOW + timedelta(hours=100))
    due_next_month = score(retailer, ship_by=NOW + timedelta(days=30))
    # 40 × factor × 10: overdue 1h → 1 + 0.5/48; due in 2 h → 1 − 2/168; in 100 h → 1 − 100/168
    assert (overdue, due_soon, due_later, due_next_month) == (404, 395, 162, 0)


def test_longer_overdue_ranks_higher_until_two_days(retailer):
    one_day = score(retailer, ship_by=NOW - timedelta(hours=24))
    two_days = score(retailer, ship_by=NOW - timedelta(hours=48))
    a_week = score(retailer, ship_by=NOW - timedelta(days=7))
    assert (one_day, two_days, a_week) == (500, 600, 600)


@pytest.mark.parametrize(
    ("factor", "low", "high", "expected_high_points"),
    [
        ("service", {"service_level": "standard"}, {"service_level": "expedited"}, 120),
        ("service", {"service_level": "expedited"}, {"service_level": "overnight"}, 200),
        ("tier", {"tier": "standard"}, {"tier": "gold"}, 99),
        ("tier", {"tier": "gold"}, {"tier": "vip"}, 150),
        ("value", {"total": Decimal("0")}, {"total": Decimal("100")}, 50),
        ("value", {"total": Decimal("100")}, {"total": Decimal("10000")}, 100),
        ("value", {"total": Decimal("10000")}, {"total": Decimal("10000000")}, 100),
        ("age", {"placed_at": NOW}, {"placed_at": NOW - timedelta(days=7)}, 50),
        (
            "age",
            {"placed_at": NOW - timedelta(days=7)},
            {"placed_at": NOW - timedelta(days=14)},
            100,
        ),
        ("expedite", {"expedite": False}, {"expedite": True}, 300),
    ],
)
def test_each_factor_raises_the_score(retailer, factor, low, high, expected_high_points):
    assert points(retailer, factor, **high) == expected_high_points
    if expected_high_points > points(retailer, factor, **low):
        assert score(retailer, **high) > score(retailer, **low)
    else:  # capped: more of it gives no more points
        assert score(retailer, **high) == score(retailer, **low)


@pytest.mark.parametrize(
    ("weight", "factor", "hot"),
    [
        ("weight_due", "due", {"ship_by": NOW - timedelta(hours=5)}),
        ("weight_service", "service", {"service_level": "overnight"}),
        ("weight_tier", "tier", {"tier": "vip"}),
        ("weight_value", "value", {"total": Decimal("5000")}),
        ("weight_age", "age", {"placed_at": NOW - timedelta(days=9)}),
        ("weight_expedite", "expedite", {"expedite": True}),
    ],
)
def test_zero_weight_switches_factor_off(make_client, weight, factor, hot):
    normal = make_client()
    switched_off = make_client(**{weight: 0})
    assert points(normal, factor, **hot) > 0
    assert points(switched_off, factor, **hot) == 0
    assert score(switched_off, **hot) == score(switched_off)  # no difference any more


def test_weights_scale_the_points(make_client):
    doubled = make_client(weight_expedite=60)
    assert points(doubled, "expedite", expedite=True) == 600


def test_breakdown_lists_each_factor_and_sums_to_score(retailer):
    s, breakdown = compute_priority(
        data(
            ship_by=NOW + timedelta(hours=2),
            placed_at=NOW - timedelta(days=7),
            service_level="overnight",
            tier="vip",
            total=Decimal("100"),
            expedite=True,
        ),
        retailer,
        NOW,
    )
    assert [(item["factor"], item["points"]) for item in breakdown] == [
        ("due", 395),
        ("expedite", 300),
        ("service", 200),
        ("tier", 150),
        ("value", 50),
        ("age", 50),
    ]
    assert s == 1145 == sum(item["points"] for item in breakdown)
    why = {item["factor"]: item["why"] for item in breakdown}
    assert why == {
        "due": "due in 2.0 h",
        "expedite": "expedited by an agent",
        "service": "overnight service",
        "tier": "vip customer",
        "value": "order value 100.00",
        "age": "7.0 days old",
    }


def test_breakdown_explains_overdue(retailer):
    _, breakdown = compute_priority(data(ship_by=NOW - timedelta(hours=6)), retailer, NOW)
    assert breakdown[0] == {"factor": "due", "points": 425, "why": "overdue by 6.0 h"}


def test_order_create_stores_score_and_breakdown(
    retailer, make_product, make_warehouse, make_customer, make_order
):
    product = make_product(retailer, stock={make_warehouse(): 5})
    plain = make_order(retailer, [(product, 1)])
    vip = make_order(
        retailer,
        [(product, 1)],
        customer=make_customer(retailer, tier=Customer.Tier.VIP),
        ship_by=plain.ship_by,
        placed_at=plain.placed_at,
    )
    assert vip.priority_score == plain.priority_score + 150
    assert sum(item["points"] for item in vip.priority_breakdown) == vip.priority_score
    assert {item["factor"] for item in vip.priority_breakdown} == FACTORS
    assert vip.priority_computed_at is not None


# -- segments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "hours_left", "expedite", "segment"),
    [
        (S.NEW, 100, False, SEG.STANDARD),
        (S.READY, 12.5, False, SEG.STANDARD),
        (S.READY, 12, False, SEG.AT_RISK),
        (S.PICKING, 5, False, SEG.AT_RISK),
        (S.READY, 4, False, SEG.URGENT),
        (S.PACKED, -30, False, SEG.URGENT),
        (S.READY, 100, True, SEG.URGENT),
        (S.BACKORDERED, -30, True, SEG.BACKORDERED),
        (S.ON_HOLD, -30, True, SEG.ON_HOLD),
        (S.SHIPPED, -30, True, SEG.CLOSED),
        (S.DELIVERED, 100, False, SEG.CLOSED),
        (S.CANCELLED, 1, False, SEG.CLOSED),
    ],
)
def test_segment(retailer, status, hours_left, expedite, segment):
    assert (
        compute_segment(
            status=status,
            ship_by=NOW + timedelta(hours=hours_left),
            expedite=expedite,
            client=retailer,
            now=NOW,
        )
        == segment
    )


def test_segment_uses_client_at_risk_window(make_client):
    strict = make_client(at_risk_hours=48)
    relaxed = make_client(at_risk_hours=2)
    kwargs = {"status": S.READY, "ship_by": NOW + timedelta(hours=24), "expedite": False}
    assert compute_segment(client=strict, now=NOW, **kwargs) == SEG.AT_RISK
    assert compute_segment(client=relaxed, now=NOW, **kwargs) == SEG.STANDARD
    # The urgent window is never wider than the client's at-risk window.
    kwargs["ship_by"] = NOW + timedelta(hours=3)
    assert compute_segment(client=relaxed, now=NOW, **kwargs) == SEG.STANDARD
    kwargs["ship_by"] = NOW + timedelta(hours=2)
    assert compute_segment(client=relaxed, now=NOW, **kwargs) == SEG.URGENT


# -- the promise ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service_level", "hours"),
    [("standard", 96), ("expedited", 30), ("overnight", 6)],
)
def test_ship_by_derived_from_client_sla(
    make_client, make_product, make_warehouse, make_order, service_level, hours
):
    retailer = make_client(sla_standard_hours=96, sla_expedited_hours=30, sla_overnight_hours=6)
    product = make_product(retailer, stock={make_warehouse(): 1})
    order = make_order(retailer, [(product, 1)], placed_at=NOW, service_level=service_level)
    assert order.ship_by == NOW + timedelta(hours=hours)


def test_explicit_ship_by_wins_over_sla(retailer, make_product, make_warehouse, make_order):
    product = make_product(retailer, stock={make_warehouse(): 1})
    promise = NOW + timedelta(hours=5)
    order = make_order(retailer, [(product, 1)], placed_at=NOW, ship_by=promise)
    assert order.ship_by == promise


# -- the periodic refresh ---------------------------------------------------------------------


@pytest.fixture
def backlog(make_client, make_product, make_warehouse, make_order):
    """Orders of a client whose scores move only with the due factor (age, value weight 0)."""
    retailer = make_client(weight_age=0, weight_value=0)
    warehouse = make_warehouse()
    product = make_product(retailer, stock={warehouse: 10})
    scarce = make_product(retailer)

    def order(lines, hours_to_promise, **kwargs):
        return make_order(
            retailer,
            lines,
            placed_at=NOW - timedelta(hours=1),
            ship_by=NOW + timedelta(hours=hours_to_promise),
            **kwargs,
        )

    orders = {
        "far": order([(product, 1)], 400),
        "soon": order([(product, 1)], 48),
        "waiting": order([(scarce, 1)], 48),
        "held": order([(product, 1)], 48),
        "cancelled": order([(product, 1)], 48),
    }
    order_hold(order=orders["held"], reason="check address")
    order_cancel(order=orders["cancelled"], reason="customer changed mind")
    # Bring every row to what it is at NOW (creation scored them at the wall-clock time).
    priorities_refresh(now=NOW)
    return {name: Order.objects.get(pk=o.pk) for name, o in orders.items()}


def _rows(backlog):
    return {
        name: Order.objects.values("priority_score", "segment", "priority_computed_at").get(pk=o.pk)
        for name, o in backlog.items()
    }


def test_refresh_at_same_time_writes_nothing(backlog):
    before = _rows(backlog)
    assert priorities_refresh(now=NOW) == {"seen": 4, "changed": 0}
    assert _rows(backlog) == before


def test_refresh_writes_only_changed_rows(backlog):
    before = _rows(backlog)
    later = NOW + timedelta(hours=40)

    result = priorities_refresh(now=later)

    # "far" is still more than a week out (no due pressure, age switched off): untouched.
    # The three due in 48 h are now due in 8 h; the cancelled one is not looked at.
    assert result == {"seen": 4, "changed": 3}
    after = _rows(backlog)
    assert after["far"] == before["far"]
    assert after["cancelled"] == before["cancelled"]
    assert after["cancelled"]["segment"] == SEG.CLOSED
    assert after["soon"] == {
        "priority_score": 381,
        "segment": SEG.AT_RISK,
        "priority_computed_at": later,
    }
    assert after["waiting"] == {
        "priority_score": 381,
        "segment": SEG.BACKORDERED,
        "priority_computed_at": later,
    }
    assert after["held"] == {
        "priority_score": 381,
        "segment": SEG.ON_HOLD,
        "priority_computed_at": later,
    }
    breakdown = Order.objects.get(pk=backlog["soon"].pk).priority_breakdown
    assert breakdown[0] == {"factor": "due", "points": 381, "why": "due in 8.0 h"}


def test_refresh_moves_segments_as_time_passes(backlog):
    soon = backlog["soon"]
    assert soon.segment == SEG.STANDARD

    def segment_at(hours):
        priorities_refresh(now=NOW + timedelta(hours=hours))
        return Order.objects.get(pk=soon.pk).segment

    assert segment_at(30) == SEG.STANDARD  # 18 h left
    assert segment_at(37) == SEG.AT_RISK  # 11 h left
    assert segment_at(45) == SEG.URGENT  # 3 h left
    assert segment_at(60) == SEG.URGENT  # overdue
    assert Order.objects.get(pk=soon.pk).priority_score == 400 + round(400 * 0.5 * 12 / 48)
    assert Order.objects.get(pk=backlog["waiting"].pk).segment == SEG.BACKORDERED
    assert Order.objects.get(pk=backlog["held"].pk).segment == SEG.ON_HOLD


def test_refresh_can_be_limited_to_clients(backlog, make_client, make_product, make_order):
    other = make_client()
    product = make_product(other)
    make_order(other, [(product, 1)], allocate=False)
    retailer_id = backlog["far"].client_id
    assert priorities_refresh(client_ids=[retailer_id], now=NOW) == {"seen": 4, "changed": 0}
    assert priorities_refresh(client_ids=[other.pk], now=NOW)["seen"] == 1


def _reference_priority(data: PriorityInput, client, now: datetime) -> tuple[int, list]:
    """The formula read plainly (the module docstring), as first written: the fast
    ``compute_priority`` must give exactly this, breakdown order included."""
    import math

    from orders.services.priority import (
        AGE_FULL_HOURS,
        DUE_HORIZON_HOURS,
        OVERDUE_FULL_HOURS,
        SERVICE_FACTOR,
        TIER_FACTOR,
        VALUE_FULL,
        _fmt_hours,
    )

    left = (data.ship_by - now).total_seconds() / 3600
    if left <= 0:
        due = 1.0 + 0.5 * min(-left / OVERDUE_FULL_HOURS, 1.0)
        due_text = f"overdue by {_fmt_hours(left)}"
    else:
        due = max(0.0, 1.0 - left / DUE_HORIZON_HOURS)
        due_text = f"due in {_fmt_hours(left)}"
    age_hours = max(0.0, (now - data.placed_at).total_seconds() / 3600)
    value = float(data.total or 0)
    factors = [
        ("due", client.weight_due, due, due_text),
        (
            "service",
            client.weight_service,
            SERVICE_FACTOR.get(data.service_level, 0.0),
            f"{data.service_level} service",
        ),
        ("tier", client.weight_tier, TIER_FACTOR.get(data.tier, 0.0), f"{data.tier} customer"),
        (
            "value",
            client.weight_value,
            min(math.log10(1 + max(value, 0.0)) / math.log10(1 + VALUE_FULL), 1.0),
            f"order value {value:,.2f}",
        ),
        (
            "age",
            client.weight_age,
            min(age_hours / AGE_FULL_HOURS, 1.0),
            f"{_fmt_hours(age_hours)} old",
        ),
        (
            "expedite",
            client.weight_expedite,
            1.0 if data.expedite else 0.0,
            "expedited by an agent" if data.expedite else "not expedited",
        ),
    ]
    breakdown = []
    total = 0
    for key, weight, factor, text in factors:
        pts = round(weight * factor * 10)
        total += pts
        breakdown.append({"factor": key, "points": pts, "why": text})
    breakdown.sort(key=lambda item: -item["points"])
    return total, breakdown


def test_compute_priority_equals_the_plain_formula_on_many_orders(make_client):
    import random

    rng = random.Random(5)
    clients = [make_client("ACME"), make_client("NORD", weight_due=7, weight_value=0, weight_age=9)]
    for _ in range(3000):
        item = data(
            ship_by=NOW + timedelta(minutes=rng.randint(-5 * 24 * 60, 12 * 24 * 60)),
            placed_at=NOW - timedelta(seconds=rng.randint(-3600, 30 * 24 * 3600)),
            service_level=rng.choice(["standard", "expedited", "overnight", "odd"]),
            tier=rng.choice(["standard", "silver", "gold", "vip", "odd"]),
            total=Decimal(rng.randint(-100, 5_000_000)) / 100,
            expedite=rng.random() < 0.1,
        )
        client = rng.choice(clients)
        assert compute_priority(item, client, NOW) == _reference_priority(item, client, NOW)
