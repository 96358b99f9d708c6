"""Service selection: the cheapest acceptable service that still delivers by the promise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment.selectors import ServiceCatalog, service_options, suggest_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_client, make_warehouse, make_product):
    client = make_client()
    warehouse = make_warehouse()
    product = make_product(client, stock={warehouse: 50})
    return client, product


def _order(make_order, shop, *, level="standard", ship_in_days: float = 1.0):
    client, product = shop
    now = timezone.now()
    return make_order(
        client,
        [(product, 1)],
        service_level=level,
        placed_at=now - timedelta(hours=2),
        ship_by=now + timedelta(days=ship_in_days),
    )


def test_on_time_order_gets_the_cheapest_acceptable_service(rates, shop, make_order):
    order = _order(make_order, shop, ship_in_days=1)
    # Promise: ship-by date + 6 days. Economy (6 d, 4.80) arrives in time and is cheapest.
    assert suggest_service(order=order) == rates.economy
    options = service_options(order=order)
    assert options[0].service == rates.economy
    assert options[0].suggested and options[0].on_time
    # Only the services the standard rule lists are offered (next day is not one of them).
    assert {o.service for o in options} == {rates.economy, rates.ground, rates.express}


def test_late_order_gets_a_faster_service_that_still_makes_the_promise(rates, shop, make_order):
    order = _order(make_order, shop, ship_in_days=-3)
    # Promise = today − 3 + 6 = today + 3: economy (6 d) and ground (5 d) are too slow.
    options = {o.service: o for o in service_options(order=order)}
    assert not options[rates.economy].on_time
    assert options[rates.economy].days_late == 3
    assert not options[rates.ground].on_time
    assert suggest_service(order=order) == rates.express


def test_when_no_service_can_make_it_the_fastest_acceptable_is_suggested(rates, shop, make_order):
    order = _order(make_order, shop, ship_in_days=-8)
    options = service_options(order=order)
    assert not any(o.on_time for o in options)
    assert suggest_service(order=order) == rates.express  # 2 d: fastest of the standard rule


def test_ties_on_price_go_to_the_faster_service(rates, shop, make_order):
    rates.ground.price = rates.economy.price
    rates.ground.save()
    order = _order(make_order, shop, ship_in_days=1)
    assert suggest_service(order=order) == rates.ground  # same price, 5 d instead of 6 d


def test_expedited_rule(rates, shop, make_order):
    order = _order(make_order, shop, level="expedited", ship_in_days=0.2)
    assert suggest_service(order=order) == rates.express  # 2 d, 14.50 beats 19.90 and 24.00


def test_level_without_rule_accepts_every_active_service(rates, shop, make_order):
    order = _order(make_order, shop, level="overnight")
    options = service_options(order=order)
    assert len(options) == 5
    assert all(o.acceptable and o.deliver_by is None for o in options)
    assert suggest_service(order=order) == rates.economy


def test_inactive_services_and_carriers_are_never_offered(rates, shop, make_order):
    rates.economy.active = False
    rates.economy.save()
    order = _order(make_order, shop)
    assert suggest_service(order=order) == rates.ground
    rates.swift.active = False
    rates.swift.save()
    assert suggest_service(order=order) is None  # the rule's remaining services are all SWIFT
    assert service_options(order=order) == []


def test_agent_override_lists_other_services_marked_not_acceptable(rates, shop, make_order):
    order = _order(make_order, shop)
    options = ServiceCatalog.load().options(order, include_all=True)
    assert len(options) == 5
    by_service = {o.service: o for o in options}
    assert not by_service[rates.nextday].acceptable
    assert "not listed" in by_service[rates.nextday].label
    assert options[0].service == rates.economy and options[0].suggested
    assert sum(o.suggested for o in options) == 1
