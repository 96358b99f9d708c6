"""Real threads against PostgreSQL: the same carrier events at once, waves created at once,
the same order shipped twice at once. The end state must be the one serial calls give."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from fulfillment import services
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import PickWaveOrder, Shipment, TrackingEvent
from fulfillment.tracking_input import EventInput
from inventory.models import StockLevel
from orders.exceptions import OrderError
from orders.models import Order, OrderEvent
from tests.invariants import assert_stock_invariants

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks under real concurrency need PostgreSQL (set DATABASE_URL); "
        "SQLite serialises every writer",
    ),
    pytest.mark.django_db(transaction=True),
]


def _run_threads(workers: list[Callable[[], object]]) -> tuple[list[object], list[str]]:
    barrier = threading.Barrier(len(workers), timeout=60)
    results: list[object] = []
    errors: list[str] = []

    def run(work):
        try:
            barrier.wait()
            results.append(work())
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung (deadlock?)"
    return results, errors


@pytest.fixture
def shop(rates, make_client, make_warehouse, make_product):
    client = make_client("ACME")
    warehouse = make_warehouse("EAST")
    product = make_product(client, "LAMP", stock={warehouse: 100})
    return client, warehouse, product


def test_the_same_events_delivered_concurrently_are_stored_once(shop, rates, make_order, to_status):
    client, _warehouse, product = shop
    orders = [to_status(make_order(client, [(product, 1)]), "packed") for _ in range(4)]
    for i, order in enumerate(orders):
        services.shipment_create(order=order, service=rates.ground, tracking_number=f"C-{i}")
    t0 = datetime(2026, 1, 5, 8, tzinfo=UTC)
    events = [
        EventInput(
            tracking_number=f"C-{i}",
            status=status,
            occurred_at=t0 + timedelta(hours=h),
            description="x",
        )
        for i in range(4)
        for status, h in (("picked_up", 1), ("in_transit", 5), ("delivered", 9))
    ]

    def ingest():
        return services.tracking_events_ingest(carrier=rates.swift, events=events, source="webhook")

    reports, errors = _run_threads([ingest] * 6)
    assert errors == []
    assert sum(r.created for r in reports) == 12
    assert sum(r.duplicates for r in reports) == 12 * 5
    assert TrackingEvent.objects.filter(source="webhook").count() == 12
    assert sum(r.orders_delivered for r in reports) == 4
    for order in orders:
        assert Order.objects.get(pk=order.pk).status == Order.Status.DELIVERED
        assert OrderEvent.objects.filter(order=order, to_status="delivered").count() == 1


def test_waves_created_at_the_same_moment_never_share_an_order(shop, make_order):
    client, warehouse, product = shop
    for _ in range(12):
        make_order(client, [(product, 1)])

    def wave():
        try:
            return services.wave_create(client=client, warehouse=warehouse, size=3)
        except FulfillmentError:
            return None

    waves, errors = _run_threads([wave] * 5)
    assert errors == []
    made = [w for w in waves if w is not None]
    assert sum(w.order_count for w in made) == 12
    assert PickWaveOrder.objects.count() == 12
    assert PickWaveOrder.objects.values("order").distinct().count() == 12
    assert Order.objects.filter(status="picking").count() == 12


def test_shipping_the_same_order_twice_at_once_ships_it_once(shop, rates, make_order, to_status):
    client, warehouse, product = shop
    order = to_status(make_order(client, [(product, 3)]), "packed")

    def ship(n):
        def work():
            try:
                return services.shipment_create(
                    order=order, service=rates.ground, tracking_number=f"TWICE-{n}"
                )
            except (FulfillmentError, OrderError) as exc:
                return exc

        return work

    results, errors = _run_threads([ship(n) for n in range(4)])
    assert errors == []
    assert sum(isinstance(r, Shipment) for r in results) == 1
    assert Shipment.objects.count() == 1
    level = StockLevel.objects.get(product=product, warehouse=warehouse)
    assert (level.on_hand, level.allocated) == (97, 0)
    assert Order.objects.get(pk=order.pk).status == Order.Status.SHIPPED
    assert_stock_invariants()
