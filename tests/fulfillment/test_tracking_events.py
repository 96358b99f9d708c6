"""Carrier events: what they do to shipments and orders, whichever way they came in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from fulfillment import services
from fulfillment.exceptions import FulfillmentError, UnknownTrackingNumbers
from fulfillment.models import Shipment, TrackingEvent
from fulfillment.tracking_input import EventInput, read_tracking_csv
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Order, OrderEvent
from orders.services import order_clear_exception, order_mark_delivered

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def ev(number, status, hours=0, **kwargs):
    return EventInput(
        tracking_number=number, status=status, occurred_at=T0 + timedelta(hours=hours), **kwargs
    )


@pytest.fixture
def parcels(rates, make_client, make_warehouse, make_product, make_order, to_status):
    """Order A shipped in two parcels (A1, A2); order B shipped in one (B1); order C packed
    with one parcel out and a unit still on the shelf (C1)."""
    client = make_client("ACME")
    warehouse = make_warehouse("EAST")
    lamp = make_product(client, "LAMP", stock={warehouse: 20})
    a = to_status(make_order(client, [(lamp, 2)], number="A"), "packed")
    line = a.lines.get()
    services.shipment_create(
        order=a, service=rates.ground, tracking_number="A1", quantities={line.pk: 1}
    )
    services.shipment_create(order=a, service=rates.ground, tracking_number="A2")
    b = to_status(make_order(client, [(lamp, 1)], number="B"), "packed")
    services.shipment_create(order=b, service=rates.ground, tracking_number="B1")
    c = to_status(make_order(client, [(lamp, 2)], number="C"), "packed")
    services.shipment_create(
        order=c, service=rates.ground, tracking_number="C1", quantities={c.lines.get().pk: 1}
    )
    return {"client": client, "carrier": rates.swift}


def ingest(parcels, events, **kwargs):
    return services.tracking_events_ingest(
        carrier=parcels["carrier"], events=events, source=TrackingEvent.Source.CSV, **kwargs
    )


def order(number) -> Order:
    return Order.objects.get(number=number)


def shipment(number) -> Shipment:
    return Shipment.objects.get(tracking_number=number)


def test_order_is_delivered_only_when_all_its_shipments_are(parcels):
    report = ingest(parcels, [ev("A1", "delivered", 30), ev("B1", "delivered", 20)])
    assert (report.created, report.orders_delivered) == (2, 1)
    assert order("A").status == Order.Status.SHIPPED  # A2 is still on its way
    assert order("B").status == Order.Status.DELIVERED
    report = ingest(parcels, [ev("A2", "in_transit", 10), ev("A2", "delivered", 40)])
    assert report.orders_delivered == 1
    a = order("A")
    assert a.status == Order.Status.DELIVERED
    assert "confirmed every shipment" in a.events.first().message


def test_a_delivered_parcel_of_an_order_still_open_does_not_deliver_it(parcels):
    ingest(parcels, [ev("C1", "delivered", 30)])
    assert shipment("C1").status == "delivered"
    assert order("C").status == Order.Status.PACKED  # one unit has not shipped yet


def test_the_newest_event_sets_the_status_whatever_order_they_arrive_in(parcels):
    ingest(parcels, [ev("B1", "out_for_delivery", 30)])
    ingest(parcels, [ev("B1", "picked_up", 2), ev("B1", "in_transit", 10)])
    s = shipment("B1")
    assert s.status == "out_for_delivery" and s.last_event_at == T0 + timedelta(hours=30)
    assert s.events.count() == 4  # label + three
    ingest(parcels, [ev("B1", "delivered", 33)])
    ingest(parcels, [ev("B1", "in_transit", 40)])  # a stray late scan
    assert shipment("B1").status == "delivered"  # delivery sticks
    assert order("B").status == Order.Status.DELIVERED


def test_exception_flags_the_order_and_delivery_clears_it(parcels):
    report = ingest(
        parcels,
        [ev("B1", "exception", 12, location="Depot 7", description="Damaged in transit")],
    )
    assert report.orders_flagged == 1
    b = order("B")
    assert b.exception_flag
    assert b.delay_reason == "Exception (SWIFT B1, 2026-01-05 20:00, Depot 7): Damaged in transit"
    assert b.events.first().kind == OrderEvent.Kind.EXCEPTION
    assert shipment("B1").status == "exception"
    # The same exception again does not write a second timeline row.
    ingest(parcels, [ev("B1", "exception", 12, location="Depot 7", description="Damaged")])
    assert b.events.filter(kind=OrderEvent.Kind.EXCEPTION).count() == 1

    ingest(parcels, [ev("B1", "delivered", 48)])
    b = order("B")
    assert b.status == Order.Status.DELIVERED
    assert not b.exception_flag and b.delay_reason == ""
    assert "Exception cleared" in b.events.first().message


def test_return_flags_the_order(parcels):
    ingest(parcels, [ev("A2", "returned", 50, description="Refused by recipient")])
    a = order("A")
    assert a.exception_flag and a.delay_reason.startswith("Returned (SWIFT A2")
    assert shipment("A2").status == "returned"


def test_an_exception_older_than_the_delivery_is_history(parcels):
    ingest(parcels, [ev("B1", "delivered", 40)])
    report = ingest(parcels, [ev("B1", "exception", 20, description="Delayed")])
    assert (report.created, report.orders_flagged) == (1, 0)
    assert not order("B").exception_flag
    assert shipment("B1").status == "delivered"


def test_an_exception_after_delivery_still_flags(parcels):
    ingest(parcels, [ev("B1", "delivered", 40)])
    ingest(parcels, [ev("B1", "returned", 60, description="Customer sent it back")])
    b = order("B")
    assert b.status == Order.Status.DELIVERED and b.exception_flag
    assert shipment("B1").status == "returned"


def test_duplicates_within_one_batch_and_across_batches_are_stored_once(parcels):
    events = [ev("B1", "in_transit", 5), ev("B1", "in_transit", 5), ev("A1", "picked_up", 1)]
    report = ingest(parcels, events)
    assert (report.received, report.created, report.duplicates) == (3, 2, 1)
    report = ingest(parcels, events, chunk_size=1)
    assert (report.received, report.created, report.duplicates) == (3, 0, 3)
    assert TrackingEvent.objects.filter(source="csv").count() == 2


def test_unknown_and_out_of_scope_numbers(parcels, make_client):
    other = make_client("NORD")
    report = ingest(parcels, [ev("B1", "in_transit", 5, row=2), ev("ZZZ", "in_transit", 5, row=3)])
    assert report.unknown == [(3, "ZZZ")] and report.created == 1
    report = ingest(parcels, [ev("A1", "in_transit", 5, row=7)], client_ids=[other.pk])
    assert report.unknown == [(7, "A1")] and report.created == 0
    with pytest.raises(UnknownTrackingNumbers):
        ingest(
            parcels, [ev("A1", "in_transit", 6), ev("ZZZ", "in_transit", 6)], all_or_nothing=True
        )
    assert not TrackingEvent.objects.filter(occurred_at=T0 + timedelta(hours=6)).exists()


def test_mark_delivered_and_clear_exception_refuse_what_does_not_apply(parcels):
    with pytest.raises(InvalidOrderStatus):
        order_mark_delivered(order=order("C"))
    with pytest.raises(OrderValidationError):
        order_clear_exception(order=order("C"))
    ingest(parcels, [ev("C1", "exception", 3, description="Held at customs")])
    c = order_clear_exception(order=order("C"), note="Customs papers sent")
    assert not c.exception_flag
    assert c.events.first().kind == OrderEvent.Kind.RESOLVED
    assert "Held at customs" in c.events.first().message


def test_eta_and_late_flag(parcels):
    s = shipment("B1")
    shipped = timezone.localdate(s.shipped_at)
    assert s.eta == shipped + timedelta(days=5)
    assert not s.is_late(today=s.eta)
    assert s.is_late(today=s.eta + timedelta(days=1))
    assert s in Shipment.objects.late(today=s.eta + timedelta(days=1))
    assert s not in Shipment.objects.late(today=s.eta)
    ingest(parcels, [ev("B1", "delivered", 1)])
    s.refresh_from_db()
    assert not s.is_late(today=date(2100, 1, 1))
    assert s not in Shipment.objects.late(today=date(2100, 1, 1))


# -- status files --------------------------------------------------------------------------------
def test_csv_is_read_with_row_numbers_and_loose_headers():
    text = (
        "Tracking Number;Status;Event Time;Location;Description\n"
        "A1;In Transit;2026-01-05 10:00;Memphis;Departed\n"
        "A1;teleported;2026-01-05 11:00;;\n"
        ";delivered;2026-01-05 12:00;;\n"
        "\n"
        "A2;Return to sender;2026-01-06T08:00:00+02:00;;Refused\n"
        "A2;delivered;not a time;;\n"
    )
    parsed = read_tracking_csv(text.encode("utf-8-sig"))
    assert parsed.rows == 5
    assert [(e.row, e.tracking_number, e.status) for e in parsed.events] == [
        (2, "A1", "in_transit"),
        (6, "A2", "returned"),
    ]
    assert parsed.events[0].occurred_at == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert parsed.events[1].occurred_at == datetime(2026, 1, 6, 6, 0, tzinfo=UTC)
    assert parsed.events[0].raw["Location"] == "Memphis"
    assert [(e.row, e.message.split(" ")[0]) for e in parsed.errors] == [
        (3, "unknown"),
        (4, "the"),
        (7, "'not"),
    ]
    assert parsed.error_count == 3


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty"),
        (b"tracking_number,location\nA1,x\n", "Missing column"),
        (b"\xff\xfe\x00t\x00r", "not UTF-8"),
    ],
)
def test_unreadable_files_are_one_clear_error(content, message):
    with pytest.raises(FulfillmentError, match=message):
        read_tracking_csv(content)


def test_a_large_batch_is_stored_exactly(parcels):
    """Hundreds of rows take the bulk path (COPY on PostgreSQL): same result, raw kept."""
    events = [
        ev("A1", "in_transit", i / 60, location=f"Scan {i}", raw={"row": i, "note": 'é "q"\t'})
        for i in range(250)
    ]
    report = ingest(parcels, events)
    assert (report.created, report.duplicates) == (250, 0)
    stored = TrackingEvent.objects.filter(shipment__tracking_number="A1", source="csv")
    assert stored.count() == 250
    sample = stored.get(location="Scan 249")
    assert sample.raw_payload == {"row": 249, "note": 'é "q"\t'}
    assert sample.occurred_at == T0 + timedelta(hours=249 / 60)
    assert sample.client_id == parcels["client"].pk
    assert shipment("A1").last_event_at == T0 + timedelta(hours=249 / 60)
    assert ingest(parcels, events).duplicates == 250


def test_ingestion_queries_do_not_grow_with_the_number_of_parcels(
    parcels, django_assert_max_num_queries
):
    """One chunk is a fixed handful of statements, however many parcels and orders it moves
    (no per-order lazy loads: the order services read only the columns they need)."""
    events = [ev(n, s, h) for n in ("A1", "A2", "B1", "C1") for s, h in (("in_transit", 2),)]
    events += [ev(n, "delivered", 30) for n in ("A1", "A2", "B1", "C1")]
    events += [ev("C1", "exception", 40, description="Damaged")]
    with django_assert_max_num_queries(20):
        report = ingest(parcels, events)
    assert (report.orders_delivered, report.orders_flagged) == (2, 1)
