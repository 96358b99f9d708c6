"""Order intake: the one path by which orders enter the system, one at a time or in bulk.

Keyed-in orders (``order_create``), file imports and the demo generator all come through
``orders_create_batch``: the same validation, the same promise (``ship_by``) and priority, the
same timeline entry and the same allocation, whether one order or two thousand arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from bpo_backoffice.bulk import bulk_insert
from bpo_backoffice.db import atomic_with_retry
from clients.models import Client
from inventory.models import Product
from orders.exceptions import OrderValidationError
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.services.allocation import (
    allocation_plan,
    allocation_write,
    fresh_line,
    fresh_order,
)
from orders.services.priority import apply_priority


@dataclass(frozen=True)
class LineInput:
    product: Product
    quantity: int
    unit_price: Decimal = Decimal("0")


@dataclass
class OrderInput:
    number: str
    lines: list[LineInput]
    customer: Customer | None = None
    placed_at: datetime | None = None
    service_level: str = Order.ServiceLevel.STANDARD
    ship_by: datetime | None = None
    payment_status: str = Order.PaymentStatus.PAID
    currency: str | None = None
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    ship_to: dict = field(default_factory=dict)
    source: str = Order.Source.MANUAL
    expedite: bool = False
    note: str = ""


def compute_ship_by(*, client: Client, placed_at: datetime, service_level: str) -> datetime:
    """The promise when the shop sent none: placed + the client's SLA hours for the level."""
    return placed_at + timedelta(hours=client.sla_hours(service_level))


def validate_order_input(client: Client, data: OrderInput) -> None:
    """Raise :class:`OrderValidationError` with a message the user can act on."""
    number = data.number
    if not number or not number.strip():
        raise OrderValidationError("An order needs an order number.")
    if len(number.strip()) > Order._meta.get_field("number").max_length:
        raise OrderValidationError(f"Order number {number[:20]}… is too long.")
    if not data.lines:
        raise OrderValidationError(f"Order {number} has no lines.")
    currency = data.currency or client.currency
    if currency != client.currency:
        raise OrderValidationError(
            f"Order {number} is in {currency}, but {client.code} trades in {client.currency}."
        )
    if data.service_level not in Order.ServiceLevel.values:
        raise OrderValidationError(f"'{data.service_level}' is not a service level.")
    if data.payment_status not in Order.PaymentStatus.values:
        raise OrderValidationError(f"'{data.payment_status}' is not a payment status.")
    if data.customer is not None and data.customer.client_id != client.pk:
        raise OrderValidationError("The customer belongs to another client.")
    for line in data.lines:
        if line.product.client_id != client.pk:
            raise OrderValidationError(f"SKU {line.product.sku} is not a product of {client.code}.")
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise OrderValidationError(
                f"Quantity for SKU {line.product.sku} must be a whole number."
            )
        if line.quantity <= 0:
            raise OrderValidationError(
                f"Quantity for SKU {line.product.sku} must be a whole number above zero."
            )
        if line.unit_price is not None and line.unit_price < 0:
            raise OrderValidationError(f"Price for SKU {line.product.sku} cannot be negative.")


def _build(client: Client, data: OrderInput, now: datetime) -> Order:
    placed_at = data.placed_at or now
    subtotal = sum(
        ((ln.unit_price or Decimal("0")) * ln.quantity for ln in data.lines), Decimal("0")
    )
    order = Order(
        client=client,
        number=data.number.strip(),
        customer=data.customer,
        source=data.source,
        placed_at=placed_at,
        service_level=data.service_level,
        ship_by=data.ship_by
        or compute_ship_by(client=client, placed_at=placed_at, service_level=data.service_level),
        payment_status=data.payment_status,
        currency=data.currency or client.currency,
        subtotal=subtotal,
        shipping_total=data.shipping_total,
        tax_total=data.tax_total,
        total=subtotal + data.shipping_total + data.tax_total,
        expedite=data.expedite,
        **{f"ship_to_{k}": (v or "") for k, v in data.ship_to.items()},
    )
    tier = data.customer.tier if data.customer else Customer.Tier.STANDARD
    apply_priority(order, client=client, tier=tier, now=now)
    return order


@atomic_with_retry
def orders_create_batch(
    *,
    client: Client,
    inputs: list[OrderInput],
    user=None,
    event_kind: str = OrderEvent.Kind.CREATED,
    allocate: bool = True,
) -> list[Order]:
    """Create orders with their lines, promise, priority and timeline entry, then allocate.

    All or nothing: any invalid input or an order number that exists already raises
    :class:`OrderValidationError` and nothing is written (callers that import files filter
    known numbers first). Allocation runs over the whole batch, most urgent first, before the
    orders are inserted (the stock levels of the products involved are locked first), so each
    order and line is written once with its outcome.
    """
    if not inputs:
        return []
    for data in inputs:
        validate_order_input(client, data)
    numbers = [d.number.strip() for d in inputs]
    if len(set(numbers)) != len(numbers):
        raise OrderValidationError("The same order number appears twice in one batch.")
    existing = list(
        Order.objects.filter(client=client, number__in=numbers).values_list("number", flat=True)[:1]
    )
    if existing:
        raise OrderValidationError(f"Order {existing[0]} already exists for {client.code}.")
    now = timezone.now()
    orders = [_build(client, data, now) for data in inputs]
    lines = [
        OrderLine(
            order=order,
            line_no=i,
            product=ln.product,
            quantity=ln.quantity,
            unit_price=ln.unit_price or Decimal("0"),
        )
        for order, data in zip(orders, inputs, strict=True)
        for i, ln in enumerate(data.lines, start=1)
    ]
    run = None
    if allocate:
        # Decided before anything is inserted (stock levels locked first, the product's lock
        # order), so every order is written once, already ready or backordered: no second
        # pass of UPDATEs over the orders and lines just created.
        temp_of = {id(order): -n for n, order in enumerate(orders, start=1)}
        fresh_orders = [fresh_order(temp_of[id(order)], order) for order in orders]
        fresh_lines = [
            fresh_line(-n, temp_of[id(line.order)], line.product_id, line.quantity)
            for n, line in enumerate(lines, start=1)
        ]
        run = allocation_plan(fresh_orders=fresh_orders, fresh_lines=fresh_lines, user=user)
        for order, fresh in zip(orders, fresh_orders, strict=True):
            order.status, order.segment = fresh.status, fresh.segment
        for line, fresh in zip(lines, fresh_lines, strict=True):
            line.qty_allocated = fresh.qty_allocated
            line.qty_backordered = fresh.qty_backordered
            line.backorder_level_id = fresh.backorder_level_id
    try:
        with transaction.atomic():
            bulk_insert(Order, orders)
    except IntegrityError as exc:  # a concurrent request created one of them meanwhile
        raise OrderValidationError(
            f"One of these orders was created by someone else meanwhile: {exc}"
        ) from exc
    for line in lines:
        line.order_id = line.order.pk
    bulk_insert(OrderLine, lines)
    bulk_insert(
        OrderEvent,
        [
            OrderEvent(
                order=order,
                kind=event_kind,
                to_status=Order.Status.NEW,
                message=data.note or f"Created ({order.get_source_display()}).",
                user=user,
            )
            for order, data in zip(orders, inputs, strict=True)
        ],
    )
    if run is not None:
        allocation_write(
            run,
            order_ids={f.pk: o.pk for f, o in zip(fresh_orders, orders, strict=True)},
            line_ids={f.pk: ln.pk for f, ln in zip(fresh_lines, lines, strict=True)},
        )
    return orders
