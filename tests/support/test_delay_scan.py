"""The delay scan: each case found before (or once) the promise passes, once per revised date,
in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fulfillment import services as fulfillment
from orders.models import OrderLine
from orders.services import backorders_expected_refresh
from support import selectors, services
from support.models import Event, Notification

BERLIN = ZoneInfo("Europe/Berlin")


def local_date(dt):
    return dt.astimezone(BERLIN).date()


def test_backordered_without_date_is_late_before_the_promise(shop, make_order):
    ship_by = timezone.now() + timedelta(days=3)
    order = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer, ship_by=ship_by)
    (finding,) = selectors.delay_scan()
    assert finding.order_id == order.pk
    assert finding.revised_date == local_date(ship_by) + timedelta(days=7)
    assert finding.revised_kind == "ship"
    assert finding.reason == selectors.REASON_BACKORDER


def test_backordered_with_expected_date_after_ship_by(shop, make_order):
    ship_by = timezone.now() + timedelta(days=2)
    expected = local_date(ship_by) + timedelta(days=4)
    order = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer, ship_by=ship_by)
    OrderLine.objects.filter(order=order).update(
        expected_available_on=expected, expected_source="PO-0042"
    )
    (finding,) = selectors.delay_scan()
    assert (finding.order_id, finding.revised_date) == (order.pk, expected + timedelta(days=1))
    assert "we expect it on" in finding.reason


def test_backordered_with_expected_date_before_ship_by_is_not_late(shop, make_order):
    ship_by = timezone.now() + timedelta(days=6)
    order = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer, ship_by=ship_by)
    OrderLine.objects.filter(order=order).update(
        expected_available_on=local_date(ship_by) - timedelta(days=3)
    )
    assert selectors.delay_scan() == []


def test_one_undated_backordered_line_makes_the_order_undated(shop, make_order, make_product):
    ship_by = timezone.now() + timedelta(days=6)
    other_scarce = make_product(shop.client, "SCARCE-2")
    order = make_order(
        shop.client,
        [(shop.scarce, 1), (other_scarce, 1)],
        customer=shop.customer,
        ship_by=ship_by,
    )
    OrderLine.objects.filter(order=order, product=shop.scarce).update(
        expected_available_on=local_date(ship_by) - timedelta(days=3)
    )
    (finding,) = selectors.delay_scan()
    assert finding.order_id == order.pk
    assert finding.reason == selectors.REASON_BACKORDER


def test_redated_backorders_trigger_the_scan_for_their_products(shop, make_order, monkeypatch):
    """orders re-dates the lines, then tells support which products moved."""
    from orders.signals import expected_availability_changed

    seen = []

    def spy(sender, product_ids=(), **kwargs):
        seen.append(list(product_ids))

    expected_availability_changed.connect(spy, dispatch_uid="test_spy")
    try:
        make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer)
        backorders_expected_refresh(product_ids=[shop.scarce.pk])
    finally:
        expected_availability_changed.disconnect(dispatch_uid="test_spy")
    assert seen == [[shop.scarce.pk]]


def test_on_time_orders_are_not_found(shop, make_order):
    make_order(
        shop.client,
        [(shop.stocked, 1)],
        customer=shop.customer,
        ship_by=timezone.now() + timedelta(days=1),
    )
    assert selectors.delay_scan() == []


def test_promise_passed_and_not_shipped(shop, make_order):
    ship_by = timezone.now() - timedelta(days=2)
    order = make_order(
        shop.client,
        [(shop.stocked, 1)],
        customer=shop.customer,
        ship_by=ship_by,
        placed_at=ship_by - timedelta(days=1),
    )
    (finding,) = selectors.delay_scan()
    assert finding.order_id == order.pk
    assert finding.reason == selectors.REASON_LATE
    assert finding.revised_date == local_date(ship_by) + timedelta(days=7)
    # A week later the revised date has passed too: the next step, announced once more.
    later = selectors.delay_scan(now=timezone.now() + timedelta(days=8))
    assert later[0].revised_date == local_date(ship_by) + timedelta(days=14)


def test_carrier_eta_after_promised_delivery(shop, make_order, rates, to_status):
    # Standard promises delivery within 6 days of ship-by; economy takes 6 days after today.
    ship_by = timezone.now() - timedelta(hours=1)
    order = make_order(
        shop.client,
        [(shop.stocked, 1)],
        customer=shop.customer,
        ship_by=ship_by,
        placed_at=ship_by - timedelta(days=1),
    )
    to_status(order, "packed")
    shipment = fulfillment.shipment_create(
        order=order,
        service=rates.economy,
        tracking_number="NS1",
        shipped_at=timezone.now() + timedelta(days=2),
    )
    (finding,) = selectors.delay_scan()
    assert (finding.order_id, finding.revised_kind, finding.revised_date) == (
        order.pk,
        "delivery",
        shipment.eta,
    )
    assert finding.reason == selectors.REASON_CARRIER


def test_once_per_revised_date(shop, make_order, mailoutbox, sync_tasks):
    ship_by = timezone.now() + timedelta(days=3)
    order = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer, ship_by=ship_by)
    assert services.delay_notices_queue().queued == 1
    assert services.delay_notices_queue().queued == 0
    assert selectors.delay_scan() == []  # announced: nothing left to find
    n = Notification.objects.get(order=order, event=Event.DELAY)
    services.notification_send(notification_id=n.pk)
    assert len(mailoutbox) == 1
    assert "/cancel/" in mailoutbox[0].body


def test_scan_query_count_does_not_grow_with_orders(shop, make_order, rates):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            selectors.delay_scan()
        return len(ctx)

    make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer)
    small = count()
    for _ in range(15):
        make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer)
        make_order(
            shop.client,
            [(shop.stocked, 1)],
            customer=shop.customer,
            ship_by=timezone.now() - timedelta(days=1),
            placed_at=timezone.now() - timedelta(days=2),
        )
    assert len(selectors.delay_scan()) == 31
    assert count() == small


def test_supply_change_rechecks_the_waiting_orders_only(shop, make_order):
    waiting = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer)
    make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    report = services.delay_notices_for_products(product_ids=[shop.scarce.pk])
    assert report.queued == 1
    assert list(Notification.objects.values_list("order_id", "event")) == [
        (waiting.pk, Event.DELAY)
    ]
    assert services.delay_notices_for_products(product_ids=[shop.stocked.pk]).queued == 0


def test_each_case_is_announced_once_per_revised_date(shop, make_order, rates, to_status):
    past = timezone.now() - timedelta(days=2)
    passed = make_order(
        shop.client,
        [(shop.stocked, 1)],
        customer=shop.customer,
        ship_by=past,
        placed_at=past - timedelta(days=1),
    )
    shipped = make_order(
        shop.client,
        [(shop.stocked, 1)],
        customer=shop.customer,
        ship_by=timezone.now() - timedelta(hours=1),
        placed_at=past,
    )
    to_status(shipped, "packed")
    fulfillment.shipment_create(
        order=shipped,
        service=rates.economy,
        tracking_number="NS2",
        shipped_at=timezone.now() + timedelta(days=2),
    )
    first = services.delay_notices_queue()
    assert first.queued == 2
    kinds = dict(
        Notification.objects.filter(event=Event.DELAY).values_list("order_id", "announces")
    )
    assert kinds[passed.pk].startswith("ship:") and kinds[shipped.pk].startswith("delivery:")
    assert services.delay_notices_queue().queued == 0
    assert selectors.delay_scan() == []
