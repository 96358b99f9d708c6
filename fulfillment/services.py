"""Fulfillment writes: pick waves, packing, shipments and carrier tracking events.

These services orchestrate; what happens to the order (its lines, the stock the shipment
consumes, its status) is decided by the orders services they call. Lock order, extending the
product-wide rule (inventory.services): **stock levels → shipments → orders**, each set in
primary-key order. Wave creation locks orders only; shipping locks stock levels then the
order (inside ``order_ship_lines``) and inserts the new shipment; event ingestion locks the
shipments it updates, then their orders.
"""

from __future__ import annotations

import hmac
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from clients.models import Client
from core.db import atomic_with_retry, bulk_update_columns
from fulfillment import selectors
from fulfillment.exceptions import FulfillmentError, UnknownTrackingNumbers
from fulfillment.models import (
    PROBLEM_STATUSES,
    Carrier,
    CarrierService,
    PickWave,
    PickWaveOrder,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    TrackingStatus,
    compute_eta,
    new_webhook_secret,
)
from fulfillment.selectors import wave_candidates
from fulfillment.signals import shipment_created, tracking_events_recorded
from fulfillment.tracking_input import EventInput, clean_tracking_number
from inventory.exceptions import InventoryError
from inventory.models import Warehouse
from orders import services as order_services
from orders.exceptions import InvalidOrderStatus, OrderError
from orders.models import Allocation, Order

S = Order.Status
MAX_WAVE_SIZE = 500
INGEST_CHUNK = 2000
COPY_THRESHOLD = 100


MIN_SECRET_LENGTH = 24


# -- carriers -----------------------------------------------------------------------------------
@transaction.atomic
def carrier_webhook_secret_rotate(
    *, carrier: Carrier, new_secret: str | None = None, overlap: timedelta | None = None
) -> str:
    """Give the carrier a new webhook secret and return it (generated when not given).

    Locks the carrier row. The current secret becomes the previous one and stays valid for
    ``overlap`` (default ``settings.WEBHOOK_SECRET_OVERLAP_HOURS``), so calls the carrier
    signed before it switched are still accepted; an older previous secret is dropped. A
    carrier without a secret yet (just created in the admin) gets no overlap. Raises
    :class:`FulfillmentError` for a secret too short, not printable ASCII, or equal to the
    current one.
    """
    if new_secret is None:
        new_secret = new_webhook_secret()
    if (
        not isinstance(new_secret, str)
        or len(new_secret) < MIN_SECRET_LENGTH
        or len(new_secret) > 128
        or not new_secret.isascii()
        or not new_secret.isprintable()
        or new_secret != new_secret.strip()
    ):
        raise FulfillmentError(
            f"A webhook secret is {MIN_SECRET_LENGTH} to 128 printable ASCII characters "
            "without surrounding spaces."
        )
    locked = Carrier.objects.select_for_update().get(pk=carrier.pk)
    if _same_secret(locked.webhook_secret, new_secret):
        raise FulfillmentError("The new webhook secret must differ from the current one.")
    now = timezone.now()
    if overlap is None:
        overlap = timedelta(hours=settings.WEBHOOK_SECRET_OVERLAP_HOURS)
    if locked.webhook_secret and overlap > timedelta(0):
        locked.previous_webhook_secret = locked.webhook_secret
        locked.previous_webhook_secret_valid_until = now + overlap
    else:
        locked.previous_webhook_secret = ""
        locked.previous_webhook_secret_valid_until = None
    locked.webhook_secret = new_secret
    locked.webhook_secret_set_at = now
    locked.save(
        update_fields=[
            "webhook_secret",
            "webhook_secret_set_at",
            "previous_webhook_secret",
            "previous_webhook_secret_valid_until",
        ]
    )
    for name in ("webhook_secret", "webhook_secret_set_at", "previous_webhook_secret"):
        setattr(carrier, name, getattr(locked, name))
    carrier.previous_webhook_secret_valid_until = locked.previous_webhook_secret_valid_until
    return new_secret


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# -- pick waves ---------------------------------------------------------------------------------
def _make_wave(*, client: Client, warehouse: Warehouse, order_ids: list[int], user) -> PickWave:
    """Create the wave and move its orders to picking (caller holds the transaction); after
    the commit a worker renders its pick list (``tasks.render_pick_lists``)."""
    wave = PickWave.objects.create(client=client, warehouse=warehouse, created_by=user)
    moved = order_services.orders_start_picking(
        order_ids=order_ids, user=user, note=f"In pick wave {wave.reference} ({warehouse.code})."
    )
    moved_ids = {o.pk for o in moved}
    in_order = [pk for pk in order_ids if pk in moved_ids]  # keep the priority order
    if not in_order:
        raise FulfillmentError(
            f"No ready order of {client.code} is waiting in {warehouse.code}: nothing to pick."
        )
    PickWaveOrder.objects.bulk_create(
        [PickWaveOrder(wave=wave, order_id=pk, sequence=i) for i, pk in enumerate(in_order, 1)]
    )
    units = sum(
        Allocation.objects.filter(
            line__order_id__in=in_order, stock_level__warehouse=warehouse
        ).values_list("quantity", flat=True)
    )
    wave.order_count, wave.unit_count = len(in_order), units
    wave.save(update_fields=["order_count", "unit_count"])
    # A worker lays the pick list out while the wave walks to the printer (big waves take
    # seconds); the page then serves the stored file. Only once the wave is committed.
    transaction.on_commit(
        partial(async_task, "fulfillment.tasks.render_pick_lists", wave.pk, group="pick-lists")
    )
    return wave


@atomic_with_retry
def wave_create(*, client: Client, warehouse: Warehouse, size: int, user=None) -> PickWave:
    """Create a pick wave of the ``size`` most urgent ready orders of one client in one
    warehouse and move them to ``picking``.

    Candidates are ready orders whose every allocated unit is in ``warehouse`` (see
    ``selectors.wave_candidates``), most urgent first. On PostgreSQL they are locked with
    ``FOR UPDATE SKIP LOCKED``, so two people creating waves at the same moment get disjoint
    waves instead of waiting on each other; on SQLite the IMMEDIATE transaction serialises
    them. Then ``orders_start_picking`` moves them (status event per order, with the wave's
    reference). Raises :class:`FulfillmentError` when nothing can be picked.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_WAVE_SIZE:
        raise FulfillmentError(f"A wave holds 1 to {MAX_WAVE_SIZE} orders.")
    if not warehouse.active:
        raise FulfillmentError(f"Warehouse {warehouse.code} is not active.")
    candidates = wave_candidates(client=client, warehouse=warehouse)
    if connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True, of=("self",))
    ids = list(candidates.values_list("pk", flat=True)[:size])
    if not ids:
        raise FulfillmentError(
            f"No ready order of {client.code} is waiting in {warehouse.code}: nothing to pick."
        )
    return _make_wave(client=client, warehouse=warehouse, order_ids=ids, user=user)


@dataclass
class WavePlan:
    """Selected orders grouped into waves: ``groups[(client, warehouse)] = [orders]``."""

    groups: dict[tuple[Client, Warehouse], list[Order]] = field(default_factory=dict)
    skipped: list[tuple[Order, str]] = field(default_factory=list)


def wave_plan(*, orders: Iterable[Order]) -> WavePlan:
    """Group selected orders by client and warehouse; say why the others cannot be waved."""
    orders = sorted(orders, key=order_services.priority_key)
    warehouses_of: dict[int, set[int]] = defaultdict(set)
    for order_id, warehouse_id in Allocation.objects.filter(
        line__order_id__in=[o.pk for o in orders]
    ).values_list("line__order_id", "stock_level__warehouse_id"):
        warehouses_of[order_id].add(warehouse_id)
    warehouses = Warehouse.objects.in_bulk({w for ws in warehouses_of.values() for w in ws})
    plan = WavePlan()
    groups: dict[tuple[int, int], list[Order]] = defaultdict(list)
    for order in orders:
        held = warehouses_of.get(order.pk, set())
        if order.status != S.READY:
            plan.skipped.append((order, f"is {order.get_status_display()}, not ready to pick"))
        elif len(held) != 1:
            where = ", ".join(sorted(warehouses[w].code for w in held)) or "nowhere"
            plan.skipped.append((order, f"is allocated in {where}: pick it from its page"))
        else:
            groups[(order.client_id, next(iter(held)))].append(order)
    clients = Client.objects.in_bulk({c for c, _ in groups})
    for (client_id, warehouse_id), members in groups.items():
        for start in range(0, len(members), MAX_WAVE_SIZE):
            key = (clients[client_id], warehouses[warehouse_id])
            plan.groups.setdefault(key, []).extend(members[start : start + MAX_WAVE_SIZE])
    return plan


@atomic_with_retry
def waves_create_from_orders(*, orders: Iterable[Order], user=None) -> list[PickWave]:
    """One wave per client and warehouse from hand-picked ready orders (the bulk action).

    Locks the orders (via ``orders_start_picking``, primary-key order); orders that stopped
    being ready meanwhile are left out. Raises :class:`FulfillmentError` if no order could
    be waved.
    """
    plan = wave_plan(orders=orders)
    waves = []
    for (client, warehouse), members in plan.groups.items():
        try:
            with transaction.atomic():
                waves.append(
                    _make_wave(
                        client=client,
                        warehouse=warehouse,
                        order_ids=[o.pk for o in members],
                        user=user,
                    )
                )
        except FulfillmentError:
            continue  # every member stopped being ready: nothing to pick in this group
    if not waves:
        raise FulfillmentError("None of the selected orders can be picked now.")
    return waves


def waves_sync(*, order_ids: Iterable[int] | None = None, wave_ids: Iterable[int] | None = None):
    """Close waves none of whose orders is still being picked (one UPDATE per call).

    Runs inside the caller's transaction (after packing or shipping) or alone (pages).
    """
    waves = PickWave.objects.filter(status=PickWave.Status.PICKING)
    if order_ids is not None:
        waves = waves.filter(entries__order_id__in=list(order_ids))
    if wave_ids is not None:
        waves = waves.filter(pk__in=list(wave_ids))
    still_picking = PickWaveOrder.objects.filter(order__status=S.PICKING).values("wave_id")
    return (
        PickWave.objects.filter(pk__in=waves.values("pk"))
        .exclude(pk__in=still_picking)
        .update(status=PickWave.Status.DONE, completed_at=timezone.now())
    )


# -- packing ------------------------------------------------------------------------------------
@atomic_with_retry
def order_pack(*, order: Order, user=None) -> Order:
    """Confirm an order packed: ``picking → packed`` (its packing slip is printed from it).

    Calls ``orders.services.order_move`` (locks the order, checks the state machine, writes
    the status event), then closes its wave if it was the last order being picked.
    """
    order = order_services.order_move(
        order=order, to_status=S.PACKED, user=user, note="Packed; packing slip printed."
    )
    waves_sync(order_ids=[order.pk])
    return order


def waves_sync_visible(*, client_ids: Iterable[int] | None, limit: int = 200) -> int:
    """Close finished waves among the open ones of these clients (``None``: all), at most
    ``limit`` — what the wave list does before showing them. See :func:`waves_sync`."""
    return waves_sync(wave_ids=selectors.open_wave_ids(client_ids=client_ids, limit=limit))


@dataclass
class PackResult:
    packed: list[Order] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # "<number>: <why>", one per order


def wave_orders_pack(*, wave: PickWave, order_ids: Iterable[int], user=None) -> PackResult:
    """Confirm these orders of the wave packed, in pick sequence, each on its own
    (:func:`order_pack`: one transaction per order), so one that cannot be packed does not
    hold back the others; ids not in the wave are ignored."""
    result = PackResult()
    for order in selectors.wave_orders(wave=wave, order_ids=order_ids):
        try:
            result.packed.append(order_pack(order=order, user=user))
        except (FulfillmentError, OrderError, InventoryError) as exc:
            result.failed.append(f"{order.number}: {exc}")
    return result


# -- shipping -----------------------------------------------------------------------------------
@atomic_with_retry
def shipment_create(
    *,
    order: Order,
    service: CarrierService,
    tracking_number: str,
    quantities: Mapping[int, int] | None = None,
    warehouse: Warehouse | None = None,
    user=None,
    shipped_at: datetime | None = None,
) -> Shipment:
    """Hand units of an order to a carrier under a tracking number.

    ``quantities`` (``{line_id: units}``) defaults to everything allocated in the shipment's
    warehouse; the warehouse defaults to the only one holding the order's units (an order
    split over warehouses ships once per warehouse). ``orders.services.order_ship_lines``
    locks the stock levels then the order, consumes the allocations (on-hand and allocated
    down, ledger rows) and moves the order to ``shipped`` when nothing is left open; a partial
    shipment leaves the rest allocated or backordered. Then the shipment, its lines and a
    "label created" tracking event are written, and the order's wave closes if done.

    Raises :class:`FulfillmentError` (or an ``OrderError`` from the order services) with
    nothing written.
    """
    try:
        number = clean_tracking_number(tracking_number)
    except ValueError as exc:
        raise FulfillmentError(str(exc).capitalize() + ".") from None
    carrier = service.carrier
    if not service.active or not carrier.active:
        raise FulfillmentError(f"{service} is not active.")
    if Shipment.objects.filter(carrier=carrier, tracking_number=number).exists():
        raise FulfillmentError(f"{carrier.code} tracking number {number} is already used.")
    order = Order.objects.get(pk=order.pk)  # the caller's copy may be stale; locked below
    if order.status not in order_services.SHIPPABLE_STATUSES:
        raise InvalidOrderStatus(
            f"Order {order.number} is {order.get_status_display()}: only packed orders (or "
            "the allocated units of a backordered one) can ship."
        )
    held = selectors.allocated_by_warehouse(order)
    if warehouse is None:
        if len(held) > 1:
            codes = ", ".join(
                sorted(Warehouse.objects.filter(pk__in=held).values_list("code", flat=True))
            )
            raise FulfillmentError(
                f"Order {order.number} has units in {codes}: ship from one warehouse at a time."
            )
        if not held:
            raise FulfillmentError(f"Order {order.number} has no allocated units to ship.")
        warehouse = Warehouse.objects.get(pk=next(iter(held)))
    if quantities is None:
        quantities = held.get(warehouse.pk, {})
        if not quantities:
            raise FulfillmentError(
                f"Order {order.number} has no units allocated in {warehouse.code}."
            )
    shipped_at = shipped_at or timezone.now()
    result = order_services.order_ship_lines(
        order=order,
        quantities=quantities,
        user=user,
        reference=f"{carrier.code} {number}",
        warehouse_id=warehouse.pk,
    )
    try:
        with transaction.atomic():
            shipment = Shipment.objects.create(
                client_id=order.client_id,
                order=order,
                warehouse=warehouse,
                carrier=carrier,
                service=service,
                tracking_number=number,
                shipped_at=shipped_at,
                eta=compute_eta(shipped_at, service.transit_days),
                created_by=user,
            )
    except IntegrityError:
        raise FulfillmentError(
            f"{carrier.code} tracking number {number} is already used."
        ) from None
    units: dict[tuple[int, int], int] = defaultdict(int)
    for u in result.units:
        units[(u.line_id, u.stock_level_id)] += u.quantity
    ShipmentLine.objects.bulk_create(
        [
            ShipmentLine(shipment=shipment, order_line_id=line, stock_level_id=level, quantity=q)
            for (line, level), q in sorted(units.items())
        ]
    )
    TrackingEvent.objects.create(
        client_id=order.client_id,
        shipment=shipment,
        status=TrackingStatus.LABEL_CREATED,
        occurred_at=shipped_at,
        location=warehouse.name,
        description=f"{service.name}, {result.quantity} unit(s)",
        source=TrackingEvent.Source.LABEL,
    )
    waves_sync(order_ids=[order.pk])
    shipment_created.send(sender=Shipment, shipment_id=shipment.pk, order_id=order.pk)
    return shipment


# -- carrier events -----------------------------------------------------------------------------
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
