"""Order intake: the one path by which orders enter the system, one at a time or in bulk.

Keyed-in orders (``order_create``), file imports and the demo generator all come through
``orders_create_batch``: the same validation, the same promise (``ship_by``) and priority, the
same timeline entry and the same allocation, whether one order or two thousand arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.models import Client
from core.bulk import JSONText, insert_rows
from core.db import atomic_with_retry
from inventory.models import Product
from orders.exceptions import OrderValidationError
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.services.allocation import NewOrderDemand, allocation_plan
from orders.services.priority import PriorityInput, compute_priority, compute_segment


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
    delivery_notes: str = ""  # the customer's delivery instructions, kept on the order


# (``Choices.values`` builds a new list on every access: these are checked once per order.)
SERVICE_LEVELS = frozenset(Order.ServiceLevel.values)
PAYMENT_STATUSES = frozenset(Order.PaymentStatus.values)
TIERS = frozenset(Customer.Tier.values)


def compute_ship_by(*, client: Client, placed_at: datetime, service_level: str) -> datetime:
    """The promise when the shop sent none: placed + the client's SLA hours for the level."""
    return placed_at + timedelta(hours=client.sla_hours(service_level))


@dataclass(frozen=True, slots=True)
class OrderProblem:
    """One rule an order breaks. ``field``: the ``OrderInput`` field (``number``, ``currency``,
    ``service_level``, ``payment_status``, ``customer``, ``lines``, ``total``,
    ``ship_to_<key>``) or, with ``line`` (an index into ``lines``), the line's ``sku``,
    ``quantity`` or ``unit_price``."""

    field: str
    message: str
    line: int | None = None


_NUMBER_MAX = Order._meta.get_field("number").max_length
_SHIP_TO_MAX = {
    key: Order._meta.get_field(f"ship_to_{key}").max_length
    for key in ("name", "address1", "address2", "city", "postcode", "region", "country", "phone")
}
# The smallest amount the order's money columns cannot hold (the line price's too).
MONEY_LIMIT = min(
    Decimal(10) ** (f.max_digits - f.decimal_places)
    for f in (
        *(Order._meta.get_field(n) for n in ("subtotal", "shipping_total", "tax_total", "total")),
        OrderLine._meta.get_field("unit_price"),
    )
)


def order_input_problems(client: Client, data: OrderInput) -> list[OrderProblem]:
    """Every rule ``data`` breaks, in field order: the one set of order rules for keyed-in
    orders, imports and any other channel (an import maps each problem to its row)."""
    problems: list[OrderProblem] = []
    add = problems.append
    number = (data.number or "").strip()
    if not number:
        add(OrderProblem("number", "The order number is missing."))
    elif len(number) > _NUMBER_MAX:
        add(
            OrderProblem(
                "number",
                f"The order number is {len(number)} characters long; at most {_NUMBER_MAX} "
                "are allowed.",
            )
        )
    currency = data.currency or client.currency
    if currency != client.currency:
        add(
            OrderProblem(
                "currency",
                f"The order is in {currency}, but {client.code} trades in {client.currency}.",
            )
        )
    if data.service_level not in SERVICE_LEVELS:
        add(
            OrderProblem(
                "service_level",
                f"'{data.service_level}' is not a service level (standard, expedited or "
                "overnight).",
            )
        )
    if data.payment_status not in PAYMENT_STATUSES:
        add(OrderProblem("payment_status", f"'{data.payment_status}' is not a payment status."))
    if data.customer is not None and data.customer.client_id != client.pk:
        add(OrderProblem("customer", "The customer belongs to another client."))
    for key, value in data.ship_to.items():
        limit = _SHIP_TO_MAX.get(key)
        if limit is not None and value and len(value) > limit:
            add(
                OrderProblem(
                    f"ship_to_{key}",
                    f"The value is {len(value)} characters long; at most {limit} are allowed.",
                )
            )
    if not data.lines:
        add(OrderProblem("lines", f"Order {number} has no lines."))
    subtotal = _ZERO
    for at, line in enumerate(data.lines):
        sku = line.product.sku
        if line.product.client_id != client.pk:
            add(OrderProblem("sku", f"SKU '{sku}' is not a product of {client.code}.", at))
        elif not line.product.active:
            add(OrderProblem("sku", f"SKU '{sku}' is inactive for {client.code}.", at))
        quantity = line.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            add(
                OrderProblem(
                    "quantity",
                    f"The quantity of SKU '{sku}' must be a whole number above zero.",
                    at,
                )
            )
            quantity = 0
        price = line.unit_price if line.unit_price is not None else _ZERO
        if price < 0:
            add(OrderProblem("unit_price", f"The price of SKU '{sku}' cannot be negative.", at))
        subtotal += price * quantity
    total = subtotal + (data.shipping_total or _ZERO) + (data.tax_total or _ZERO)
    if total >= MONEY_LIMIT or max(data.shipping_total, data.tax_total) >= MONEY_LIMIT:
        add(
            OrderProblem(
                "total",
                f"The order's total ({total:,.2f}) is more than the system can hold "
                f"(below {MONEY_LIMIT:,.0f}): check the prices and quantities.",
            )
        )
    return problems


def validate_order_input(client: Client, data: OrderInput) -> None:
    """Raise :class:`OrderValidationError` with the first problem (see
    :func:`order_input_problems`), a message the user can act on."""
    problems = order_input_problems(client, data)
    if problems:
        raise OrderValidationError(problems[0].message)


# Longer delivery instructions are cut (a shop's note field is free text).
DELIVERY_NOTES_MAX = 2000


class OrderRow(NamedTuple):
    """A new order's row: the columns an order is created with (the rest take their
    defaults), in insert order. The one declared layout of the intake ↔ insert handshake: the
    intake service builds and inserts it, the import spools it, the benchmark data generator
    writes it. Immutable: ``row._replace(status=…, segment=…)`` fills what comes later."""

    client_id: int
    number: str
    customer_id: int | None  # None until an import has matched or created the customer
    source: str
    placed_at: datetime
    service_level: str
    ship_by: datetime
    payment_status: str
    ship_to_name: str
    ship_to_address1: str
    ship_to_address2: str
    ship_to_city: str
    ship_to_postcode: str
    ship_to_region: str
    ship_to_country: str
    ship_to_phone: str
    currency: str
    subtotal: Decimal
    shipping_total: Decimal
    tax_total: Decimal
    total: Decimal
    expedite: bool
    status: str | None  # None until allocation decided it
    segment: str | None
    priority_score: int
    priority_breakdown: JSONText
    priority_computed_at: datetime
    delivery_notes: str = ""


# The column list of :class:`OrderRow` (by name, for ``insert_rows`` and the import's spool).
ORDER_ROW_FIELDS = OrderRow._fields


class LineRow(NamedTuple):
    """A new order line's row, as inserted (quantities already allocated/backordered)."""

    order_id: int
    line_no: int
    product_id: int
    quantity: int
    unit_price: Decimal
    qty_allocated: int
    qty_backordered: int
    backorder_level_id: int | None


_EVENT_FIELDS = ("order_id", "kind", "to_status", "message", "user_id")


class NewOrder:
    """An order being created, as plain values: what allocation and the insert need.

    Built by :func:`order_build` (promise, totals, priority, segment) and written by
    :func:`orders_insert_built`. ``row`` is its :class:`OrderRow` (a sequence in
    ``ORDER_ROW_FIELDS`` order is taken as one; the customer may be set later, the status and
    segment are filled at the insert); ``lines`` holds ``(product_id, quantity,
    unit_price)``. File imports build their orders while checking the file and keep them on
    disk until they are created (the priority breakdown is already JSON text).
    """

    __slots__ = ("expedite", "lines", "note", "placed_at", "row", "score", "ship_by", "source")

    def __init__(self, row, lines, score, ship_by, placed_at, expedite, source, note):
        self.row = row if type(row) is OrderRow else OrderRow._make(row)
        self.lines, self.score = lines, score
        self.ship_by, self.placed_at, self.expedite = ship_by, placed_at, expedite
        self.source, self.note = source, note

    @property
    def number(self) -> str:
        return self.row.number

    @property
    def customer_id(self):
        return self.row.customer_id

    @customer_id.setter
    def customer_id(self, value) -> None:
        self.row = self.row._replace(customer_id=value)


def order_build(
    client: Client, data: OrderInput, now: datetime, tier: str | None = None
) -> NewOrder:
    """Promise, totals, priority and segment of a new order, as plain values.

    ``tier`` is the customer's tier when ``data.customer`` is not set yet (an import matches or
    creates customers just before inserting); otherwise the customer's own tier counts.
    (``Order`` instances for a whole file were most of an import's time: the insert goes
    from plain rows.)"""
    placed_at = data.placed_at or now
    subtotal = sum(((ln.unit_price or _ZERO) * ln.quantity for ln in data.lines), _ZERO)
    total = subtotal + data.shipping_total + data.tax_total
    ship_by = data.ship_by or compute_ship_by(
        client=client, placed_at=placed_at, service_level=data.service_level
    )
    if data.customer is not None:
        tier = data.customer.tier
    score, breakdown = compute_priority(
        PriorityInput(
            ship_by=ship_by,
            placed_at=placed_at,
            service_level=data.service_level,
            tier=tier or Customer.Tier.STANDARD,
            total=total,
            expedite=data.expedite,
        ),
        client,
        now,
    )
    ship_to = data.ship_to
    row = OrderRow(
        client_id=client.pk,
        number=data.number.strip(),
        customer_id=data.customer.pk if data.customer else None,
        source=str(data.source),
        placed_at=placed_at,
        service_level=str(data.service_level),
        ship_by=ship_by,
        payment_status=str(data.payment_status),
        ship_to_name=ship_to.get("name") or "",
        ship_to_address1=ship_to.get("address1") or "",
        ship_to_address2=ship_to.get("address2") or "",
        ship_to_city=ship_to.get("city") or "",
        ship_to_postcode=ship_to.get("postcode") or "",
        ship_to_region=ship_to.get("region") or "",
        ship_to_country=ship_to.get("country") or "",
        ship_to_phone=ship_to.get("phone") or "",
        currency=data.currency or client.currency,
        subtotal=subtotal,
        shipping_total=data.shipping_total,
        tax_total=data.tax_total,
        total=total,
        expedite=data.expedite,
        status=None,  # status, segment: after allocation
        segment=None,
        priority_score=score,
        priority_breakdown=JSONText(breakdown),
        priority_computed_at=now,
        delivery_notes=(data.delivery_notes or "").strip()[:DELIVERY_NOTES_MAX],
    )
    lines = [(ln.product.pk, ln.quantity, ln.unit_price or _ZERO) for ln in data.lines]
    return NewOrder(row, lines, score, ship_by, placed_at, data.expedite, row.source, data.note)


_ZERO = Decimal("0")
_SOURCE_LABELS = dict(Order.Source.choices)


@atomic_with_retry
def orders_create_batch(
    *,
    client: Client,
    inputs: list[OrderInput],
    user=None,
    event_kind: str = OrderEvent.Kind.CREATED,
    allocate: bool = True,
    fetch: bool = True,
) -> list[Order] | list[int]:
    """Create orders with their lines, promise, priority and timeline entry, then allocate.

    All or nothing: any invalid input or an order number that exists already raises
    :class:`OrderValidationError` and nothing is written. Allocation runs over the whole batch,
    most urgent first, before the orders are inserted (see :func:`orders_insert_built`).
    Returns the new orders, read back from the database, in input order; ``fetch=False``
    returns their ids only.
    """
    if not inputs:
        return []
    for data in inputs:
        validate_order_input(client, data)
    numbers = [d.number.strip() for d in inputs]
    if len(set(numbers)) != len(numbers):
        raise OrderValidationError("The same order number appears twice in one batch.")
    existing = list(
        Order.objects.filter(client=client, number__anyof=numbers).values_list("number", flat=True)[
            :1
        ]
    )
    if existing:
        raise OrderValidationError(f"Order {existing[0]} already exists for {client.code}.")
    now = timezone.now()
    order_ids = orders_insert_built(
        client=client,
        news=[order_build(client, data, now) for data in inputs],
        user=user,
        event_kind=event_kind,
        allocate=allocate,
        now=now,
    )
    if not fetch:
        return order_ids
    by_id = Order.objects.select_related("client", "customer").in_bulk(order_ids)
    return [by_id[pk] for pk in order_ids]


@atomic_with_retry
def orders_insert_built(
    *,
    client: Client,
    news: list[NewOrder],
    user=None,
    event_kind: str = OrderEvent.Kind.CREATED,
    allocate: bool = True,
    now: datetime | None = None,
) -> list[int]:
    """Insert orders built by :func:`order_build` (and validated by the caller) with their
    lines and timeline entry, allocated; returns their ids in input order.

    Allocation is decided before anything is inserted (stock levels locked first, the
    product's lock order), most urgent first over the whole batch, so every order and line
    is written once, already ready or backordered: no second pass of UPDATEs over the rows
    just created. An order number that exists already (a concurrent request) raises
    :class:`OrderValidationError` and nothing is written.
    """
    if not news:
        return []
    now = now or timezone.now()
    new_status = Order.Status.NEW.value
    segments = [
        str(
            compute_segment(
                status=new_status,
                ship_by=new.ship_by,
                expedite=new.expedite,
                client=client,
                now=now,
            )
        )
        for new in news
    ]
    statuses: Sequence[str] = [new_status] * len(news)
    # What each line is inserted with: (allocated, backordered, where) from the plan.
    outcomes: Sequence[tuple[int, int, int | None]] = [
        (0, 0, None) for new in news for _ in new.lines
    ]
    plan = None
    if allocate:
        plan = allocation_plan(
            new_orders=[
                NewOrderDemand(
                    client_id=client.pk,
                    number=new.number,
                    priority_score=new.score,
                    ship_by=new.ship_by,
                    placed_at=new.placed_at,
                    expedite=new.expedite,
                    segment=segment,
                    lines=[(product_id, quantity) for product_id, quantity, _ in new.lines],
                )
                for new, segment in zip(news, segments, strict=True)
            ],
            user=user,
        )
        statuses = [planned.status for planned in plan.new_orders]
        segments = [planned.segment for planned in plan.new_orders]
        outcomes = [
            (ln.qty_allocated, ln.qty_backordered, ln.backorder_level_id) for ln in plan.new_lines
        ]
    rows = [
        new.row._replace(status=status, segment=segment)
        for new, status, segment in zip(news, statuses, segments, strict=True)
    ]
    try:
        with transaction.atomic():
            order_ids = insert_rows(Order, ORDER_ROW_FIELDS, rows)
    except IntegrityError as exc:  # a concurrent request created one of them meanwhile
        raise OrderValidationError(
            f"One of these orders was created by someone else meanwhile: {exc}"
        ) from exc
    outcome = iter(outcomes)
    line_ids = insert_rows(
        OrderLine,
        LineRow._fields,
        [
            LineRow(order_id, line_no, product_id, quantity, price, *next(outcome))
            for order_id, new in zip(order_ids, news, strict=True)
            for line_no, (product_id, quantity, price) in enumerate(new.lines, start=1)
        ],
    )
    user_id = user.pk if user is not None else None
    insert_rows(
        OrderEvent,
        _EVENT_FIELDS,
        [
            (
                order_id,
                event_kind,
                new_status,
                new.note or f"Created ({_SOURCE_LABELS[new.source]}).",
                user_id,
            )
            for order_id, new in zip(order_ids, news, strict=True)
        ],
        return_ids=False,
    )
    if plan is not None:
        plan.bind_inserted(order_ids=order_ids, line_ids=line_ids)
        plan.write()
    return order_ids
