"""Carrier tracking events: store them once, fold them into shipment status, and act on the
orders (delivered, or flagged with an exception)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from core.db import atomic_with_retry, bulk_update_columns
from fulfillment.exceptions import UnknownTrackingNumbers
from fulfillment.models import (
    PROBLEM_STATUSES,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from fulfillment.signals import tracking_events_recorded
from fulfillment.tracking_input import EventInput
from orders import services as order_services

INGEST_CHUNK = 2000
COPY_THRESHOLD = 100


@dataclass
class IngestReport:
    received: int = 0
    created: int = 0
    duplicates: int = 0
    unknown: list[tuple[int | None, str]] = field(default_factory=list)  # (row, number)
    shipments_updated: int = 0
    orders_delivered: int = 0
    orders_flagged: int = 0

    def merge(self, other: IngestReport) -> None:
        self.received += other.received
        self.created += other.created
        self.duplicates += other.duplicates
        self.unknown.extend(other.unknown)
        self.shipments_updated += other.shipments_updated
        self.orders_delivered += other.orders_delivered
        self.orders_flagged += other.orders_flagged

    def as_dict(self) -> dict:
        return {
            "received": self.received,
            "created": self.created,
            "duplicates": self.duplicates,
            "unknown": len(self.unknown),
            "orders_delivered": self.orders_delivered,
            "orders_flagged": self.orders_flagged,
        }


def _problem_reason(event: EventInput, shipment: Shipment, carrier_code: str) -> str:
    label = TrackingStatus(event.status).label
    where = f", {event.location}" if event.location else ""
    when = timezone.localtime(event.occurred_at).strftime("%Y-%m-%d %H:%M")
    text = f"{label} ({carrier_code} {shipment.tracking_number}, {when}{where})"
    if event.description:
        text += f": {event.description}"
    return text[:255]


def _apply(shipment: Shipment, events: list[EventInput]) -> tuple[bool, bool, EventInput | None]:
    """Fold new events (oldest first) into the shipment's status.

    Returns (changed, newly delivered, the latest problem event that counts). The newest event
    sets the status, except that a delivered parcel stays delivered unless an exception or a
    return is reported after the delivery. A problem reported before the delivery is history,
    not a reason to flag the order.
    """
    changed = newly_delivered = False
    problem = None
    for ev in sorted(events, key=lambda e: e.occurred_at):
        if ev.status == TrackingStatus.DELIVERED and shipment.delivered_at is None:
            shipment.delivered_at = ev.occurred_at
            newly_delivered = changed = True
        if shipment.last_event_at is None or ev.occurred_at >= shipment.last_event_at:
            sticky = shipment.delivered_at is not None and ev.status not in PROBLEM_STATUSES
            new_status = TrackingStatus.DELIVERED if sticky else ev.status
            if new_status != shipment.status or ev.occurred_at != shipment.last_event_at:
                shipment.status = new_status
                shipment.last_event_at = ev.occurred_at
                changed = True
    for ev in events:
        after_delivery = shipment.delivered_at is None or ev.occurred_at >= shipment.delivered_at
        newest = problem is None or ev.occurred_at >= problem.occurred_at
        if ev.status in PROBLEM_STATUSES and after_delivery and newest:
            problem = ev
    return changed, newly_delivered, problem


_EVENT_COLUMNS = (
    "client_id",
    "shipment_id",
    "status",
    "occurred_at",
    "location",
    "description",
    "raw_payload",
    "source",
)


def _insert_events(rows: list[tuple]) -> None:
    """Insert new tracking events (tuples in ``_EVENT_COLUMNS`` order).

    The caller holds the locks of their shipments and has dropped every key already stored,
    so no conflict can occur: on PostgreSQL many rows go in with one ``COPY`` (several times
    faster than INSERT for a status file's thousands of rows); otherwise ``bulk_create``,
    ignoring conflicts as a last line of defence.
    """
    if not rows:
        return
    # COPY pays off for a file's thousands of rows; a webhook's few rows are one INSERT.
    if connection.vendor != "postgresql" or len(rows) < COPY_THRESHOLD:
        TrackingEvent.objects.bulk_create(
            [TrackingEvent(**dict(zip(_EVENT_COLUMNS, row, strict=True))) for row in rows],
            batch_size=INGEST_CHUNK,
            ignore_conflicts=True,
        )
        return
    qn = connection.ops.quote_name
    columns = ", ".join(qn(c) for c in (*_EVENT_COLUMNS, "received_at"))
    now = timezone.now()
    with connection.cursor() as cursor:
        sql = f"COPY {qn(TrackingEvent._meta.db_table)} ({columns}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row((*row[:6], json.dumps(row[6]), row[7], now))


def _announce_events(new_rows: list[tuple], order_of: dict[int, int]) -> None:
    """One :data:`tracking_events_recorded` send for the chunk's new events (with their ids)."""
    keys = {(row[1], row[2], row[3]) for row in new_rows}
    stored = TrackingEvent.objects.filter(
        shipment_id__in={row[1] for row in new_rows},
        occurred_at__in={row[3] for row in new_rows},
    ).values_list("pk", "shipment_id", "status", "occurred_at")
    events = [
        (pk, shipment_id, order_of[shipment_id], status)
        for pk, shipment_id, status, occurred_at in stored
        if (shipment_id, status, occurred_at) in keys
    ]
    tracking_events_recorded.send(sender=TrackingEvent, events=events)


@atomic_with_retry
def _ingest_chunk(
    *,
    carrier_id: int,
    carrier_code: str,
    events: list[EventInput],
    source: str,
    client_ids: frozenset[int] | None,
    strict: bool,
) -> IngestReport:
    """One transaction: lock the chunk's shipments, store new events, fold them in, then
    deliver or flag their orders. Returns a fresh report (a retried run starts over)."""
    report = IngestReport(received=len(events))
    numbers = {e.tracking_number for e in events}
    shipments_qs = Shipment.objects.filter(carrier_id=carrier_id, tracking_number__in=numbers)
    if client_ids is not None:
        shipments_qs = shipments_qs.filter(client_id__in=client_ids)
    shipments = {
        s.tracking_number: s
        for s in shipments_qs.select_for_update(of=("self",))
        .only(
            "id",
            "client_id",
            "order_id",
            "tracking_number",
            "status",
            "last_event_at",
            "delivered_at",
        )
        .order_by("pk")
    }
    report.unknown = [
        (e.row, e.tracking_number) for e in events if e.tracking_number not in shipments
    ]
    if strict and report.unknown:
        raise UnknownTrackingNumbers(sorted({n for _, n in report.unknown}))

    seen = set(
        TrackingEvent.objects.filter(shipment_id__in=[s.pk for s in shipments.values()])
        .values_list("shipment_id", "status", "occurred_at")
        .iterator(chunk_size=5000)
    )
    new_rows: list[tuple] = []
    new_by_shipment: dict[int, list[EventInput]] = defaultdict(list)
    for ev in events:
        shipment = shipments.get(ev.tracking_number)
        if shipment is None:
            continue
        key = (shipment.pk, ev.status, ev.occurred_at)
        if key in seen:
            report.duplicates += 1
            continue
        seen.add(key)
        new_by_shipment[shipment.pk].append(ev)
        new_rows.append(
            (
                shipment.client_id,
                shipment.pk,
                ev.status,
                ev.occurred_at,
                ev.location,
                ev.description,
                ev.raw,
                source,
            )
        )
    _insert_events(new_rows)
    report.created = len(new_rows)
    if new_rows and tracking_events_recorded.has_listeners(TrackingEvent):
        _announce_events(new_rows, {s.pk: s.order_id for s in shipments.values()})

    by_pk = {s.pk: s for s in shipments.values()}
    changed: list[Shipment] = []
    delivered_orders: set[int] = set()
    reasons: dict[int, tuple[datetime, str]] = {}
    for shipment_id, evs in new_by_shipment.items():
        shipment = by_pk[shipment_id]
        did_change, newly_delivered, problem = _apply(shipment, evs)
        if did_change:
            changed.append(shipment)
        if newly_delivered:
            delivered_orders.add(shipment.order_id)
        if problem is not None:
            current = reasons.get(shipment.order_id)
            if current is None or problem.occurred_at >= current[0]:
                reasons[shipment.order_id] = (
                    problem.occurred_at,
                    _problem_reason(problem, shipment, carrier_code),
                )
    if changed:
        bulk_update_columns(Shipment, changed, ["status", "last_event_at", "delivered_at"])
    report.shipments_updated = len(changed)

    if delivered_orders:
        waiting = set(
            Shipment.objects.filter(
                order_id__in=delivered_orders, delivered_at__isnull=True
            ).values_list("order_id", flat=True)
        )
        done = delivered_orders - waiting
        if done:
            moved = order_services.orders_mark_delivered(
                order_ids=done,
                message=f"Delivered: {carrier_code} confirmed every shipment of the order.",
            )
            report.orders_delivered = len(moved)
    if reasons:
        flagged = order_services.orders_flag_exception(
            reasons={order_id: text for order_id, (_, text) in reasons.items()}
        )
        report.orders_flagged = len(flagged)
    return report


def tracking_events_ingest(
    *,
    carrier,
    events: Iterable[EventInput],
    source: str,
    client_ids: Iterable[int] | None = None,
    all_or_nothing: bool = False,
    chunk_size: int = INGEST_CHUNK,
) -> IngestReport:
    """Store carrier events and act on them: shipment status, delivered orders, exceptions.

    The same event (shipment, status, time) delivered twice is stored once and counted as a
    duplicate. Events are processed in chunks, one transaction each (``_ingest_chunk``: locks
    the chunk's shipments in primary-key order, then their orders): a shipment takes the
    status of its newest event; when every shipment of a shipped order is delivered the order
    moves to ``delivered``; an exception or return flags the order with the event as its
    delay reason (``orders_flag_exception``).

    ``client_ids`` limits which shipments a user's upload may touch (others count as unknown).
    ``all_or_nothing`` (the webhook) runs everything in one transaction and raises
    :class:`UnknownTrackingNumbers` — with nothing stored — if any number is unknown.
    """
    events = list(events)
    scope = frozenset(client_ids) if client_ids is not None else None
    kwargs = {
        "carrier_id": carrier.pk,
        "carrier_code": carrier.code,
        "source": source,
        "client_ids": scope,
    }
    if all_or_nothing:
        return _ingest_chunk(events=events, strict=True, **kwargs)
    # A carrier's file is sorted by time, so a time-ordered chunk would touch a parcel in
    # every chunk it has an event in; grouped by parcel, each chunk locks, reads and updates
    # each of its shipments once (about five times fewer rows for a typical file). Within a
    # shipment, events are folded in time order whatever order they arrive in.
    events.sort(key=lambda e: (e.tracking_number, e.occurred_at))
    report = IngestReport()
    for start in range(0, len(events), chunk_size):
        report.merge(
            _ingest_chunk(events=events[start : start + chunk_size], strict=False, **kwargs)
        )
    report.unknown.sort(key=lambda u: (u[0] is None, u[0] or 0))  # file order
    return report
