"""Packing: confirm orders packed (``picking → packed``), one at a time or for a wave."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.db import atomic_with_retry
from fulfillment import selectors
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import PickWave
from fulfillment.services.waves import waves_sync
from inventory.exceptions import InventoryError
from orders import services as order_services
from orders.exceptions import OrderError
from orders.models import Order

S = Order.Status


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
