"""Shipping: hand an order's allocated units to a carrier under a tracking number."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.db import atomic_with_retry
from fulfillment import selectors
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    CarrierService,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    TrackingStatus,
    compute_eta,
)
from fulfillment.services.waves import waves_sync
from fulfillment.signals import shipment_created
from fulfillment.tracking_input import clean_tracking_number
from inventory.models import Warehouse
from orders import services as order_services
from orders.exceptions import InvalidOrderStatus
from orders.models import Order


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
