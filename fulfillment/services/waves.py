"""Pick waves: create them (most urgent first, or from hand-picked orders), group a selection
into waves, and close the waves whose orders are no longer being picked."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from clients.models import Client
from core.db import atomic_with_retry
from fulfillment import selectors
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    PickWave,
    PickWaveOrder,
)
from fulfillment.selectors import wave_candidates
from inventory.models import Warehouse
from orders import services as order_services
from orders.models import Allocation, Order

S = Order.Status
MAX_WAVE_SIZE = 500


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


def waves_sync_visible(*, client_ids: Iterable[int] | None, limit: int = 200) -> int:
    """Close finished waves among the open ones of these clients (``None``: all), at most
    ``limit`` — what the wave list does before showing them. See :func:`waves_sync`."""
    return waves_sync(wave_ids=selectors.open_wave_ids(client_ids=client_ids, limit=limit))
