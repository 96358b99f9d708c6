"""Order writes: create, hold/release, cancel, assign, expedite, notes, pick/pack moves."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from clients.models import Client
from core.db import atomic_with_retry
from inventory import services as inventory
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Allocation, Customer, Order, OrderEvent, OrderLine
from orders.services.allocation import backorders_fill, orders_allocate
from orders.services.customers import CustomerDetails, customers_match_or_create
from orders.services.intake import LineInput, OrderInput, orders_create_batch
from orders.services.locks import order_lock, order_lock_with_stock
from orders.services.payments import release_gate
from orders.services.priority import apply_priority
from orders.services.status import check_transition, set_status, status_events_save

S = Order.Status


@atomic_with_retry
def order_create(
    *,
    client: Client,
    number: str,
    lines: list[LineInput],
    customer: Customer | None = None,
    placed_at: datetime | None = None,
    service_level: str = Order.ServiceLevel.STANDARD,
    ship_by: datetime | None = None,
    payment_status: str = Order.PaymentStatus.PAID,
    currency: str | None = None,
    shipping_total: Decimal = Decimal("0"),
    tax_total: Decimal = Decimal("0"),
    ship_to: dict | None = None,
    source: str = Order.Source.MANUAL,
    expedite: bool = False,
    user=None,
    note: str = "",
    allocate: bool = True,
) -> Order:
    """Create one order with its lines, promise and priority, then allocate it.

    A thin wrapper over :func:`orders_create_batch`, the path every order takes. Raises
    :class:`OrderValidationError` (nothing written) for bad data or a duplicate number.
    Locks (via allocation): the stock levels of its products, then the order.
    """
    data = OrderInput(
        number=number,
        lines=list(lines),
        customer=customer,
        placed_at=placed_at,
        service_level=service_level,
        ship_by=ship_by,
        payment_status=payment_status,
        currency=currency,
        shipping_total=shipping_total,
        tax_total=tax_total,
        ship_to=ship_to or {},
        source=source,
        expedite=expedite,
        note=note,
    )
    (order,) = orders_create_batch(client=client, inputs=[data], user=user, allocate=allocate)
    if allocate:
        order.refresh_from_db()
    return order


@atomic_with_retry
def order_key_in(
    *,
    client: Client,
    data: OrderInput,
    customer: Customer | None = None,
    new_customer: CustomerDetails | None = None,
    customer_phone: str = "",
    user=None,
) -> Order:
    """A keyed-in (phone or e-mail) order: its customer, then the order, all or nothing.

    The customer is ``customer`` (checked to be the client's by the order validator) or is
    matched or created from ``new_customer`` by the import's rule
    (:func:`orders.services.customers.customers_match_or_create`); ``customer_phone`` is kept
    on a customer that has none. The order then takes the one intake path
    (:func:`orders_create_batch`: validation, promise, priority, timeline, allocation).
    Raises :class:`OrderValidationError` and writes nothing (not even the new customer) when
    the order is refused. Locks (via allocation): the stock levels of its products, then the
    order.
    """
    if customer is None and new_customer is not None:
        (pk,) = customers_match_or_create(client=client, details=[new_customer])
        customer = Customer.objects.get(pk=pk)
    if (
        customer is not None
        and customer_phone
        and not customer.phone
        and customer.client_id == client.pk
    ):
        Customer.objects.filter(pk=customer.pk).update(phone=customer_phone[:50])
        customer.phone = customer_phone[:50]
    data.customer = customer
    (order,) = orders_create_batch(client=client, inputs=[data], user=user)
    order.refresh_from_db()
    return order


@atomic_with_retry
def order_hold(
    *, order: Order, reason: str = "", hold_type: str = Order.HoldType.OTHER, user=None
) -> Order:
    """Park an open order with a typed reason (``Order.HoldType``) and an optional detail
    (required for "other"); it remembers its status for the release. Locks the order; the
    timeline row says the type and the detail."""
    if hold_type not in Order.HoldType.values:
        raise OrderValidationError("Choose why the order is put on hold.")
    detail = (reason or "").strip()[:255]
    if hold_type == Order.HoldType.OTHER and not detail:
        raise OrderValidationError("Say why the order is put on hold.")
    order = order_lock(order.pk)
    check_transition(order, S.ON_HOLD)
    order.hold_from_status = order.status
    order.hold_type = hold_type
    order.hold_reason = detail
    order.held_at = timezone.now()
    set_status(order, S.ON_HOLD, user=user, kind=OrderEvent.Kind.HOLD, message=hold_text(order))
    return order


def hold_text(order: Order) -> str:
    """ "Fraud check: card declined twice" — the hold's type label and its detail (for
    "other", the detail alone)."""
    if order.hold_type in ("", Order.HoldType.OTHER):
        return order.hold_reason
    label = Order.HoldType(order.hold_type).label
    return f"{label}: {order.hold_reason}" if order.hold_reason else label


@atomic_with_retry
def order_release(*, order: Order, user=None, note: str = "") -> Order:
    """Take an order off hold, back to where it was; waiting demand is re-allocated.

    An order going back to ``ready`` passes the payment/credit gate
    (``orders.services.payments.release_gate``) in this transaction, like every release: it
    may go straight back on hold, for payment or credit."""
    order = order_lock_with_stock(order.pk)
    if order.status != S.ON_HOLD:
        raise InvalidOrderStatus(f"Order {order.number} is not on hold.")
    back_to, reason = order.hold_from_status, hold_text(order)
    event = set_status(
        order,
        back_to,
        user=user,
        kind=OrderEvent.Kind.RELEASE,
        message=note or f"Released (was held: {reason}).",
        save=False,
    )
    order.hold_from_status = order.hold_reason = order.hold_type = ""
    order.held_at = None
    _save_status(order)
    status_events_save([event])
    if back_to in (S.NEW, S.BACKORDERED):
        orders_allocate(order_ids=[order.pk], user=user)
    elif back_to == S.READY:
        release_gate(order_ids=[order.pk], user=user)
    order.refresh_from_db()
    return order


def _save_status(order: Order) -> None:
    order.save(
        update_fields=[
            "status",
            "segment",
            "hold_reason",
            "hold_from_status",
            "hold_type",
            "held_at",
            "updated_at",
        ]
    )


@atomic_with_retry
def order_cancel(*, order: Order, reason: str, user=None) -> Order:
    """Cancel everything still open on the order and give its reserved stock to waiting orders.

    Locks the stock levels of its products, then the order; releases its allocations and
    backorder counts, marks open quantities cancelled, then fills backorders of the same
    products (most urgent first) in the same transaction.
    """
    if not reason or not reason.strip():
        raise OrderValidationError("Say why the order is cancelled.")
    order = order_lock_with_stock(order.pk)
    check_transition(order, S.CANCELLED)
    lines = list(order.lines.all())
    levels = {
        lv.pk: lv for lv in inventory.stock_levels_lock(product_ids=[ln.product_id for ln in lines])
    }
    for alloc in Allocation.objects.filter(line__order=order):
        levels[alloc.stock_level_id].allocated -= alloc.quantity
    for line in lines:
        if line.qty_backordered:
            levels[line.backorder_level_id].backordered -= line.qty_backordered
        line.qty_cancelled += line.qty_open
        line.qty_allocated = line.qty_backordered = 0
        line.backorder_level = None
    inventory.stock_levels_save_reservations(levels=levels.values())
    Allocation.objects.filter(line__order=order).delete()
    OrderLine.objects.bulk_update(
        lines, ["qty_cancelled", "qty_allocated", "qty_backordered", "backorder_level"]
    )
    order.hold_from_status = order.hold_reason = order.hold_type = ""
    order.held_at = None
    event = set_status(
        order,
        S.CANCELLED,
        user=user,
        kind=OrderEvent.Kind.CANCEL,
        message=reason.strip(),
        save=False,
    )
    _save_status(order)
    status_events_save([event])
    backorders_fill(product_ids=sorted({ln.product_id for ln in lines}), user=user)
    return order


@atomic_with_retry
def order_assign(*, order: Order, agent, user=None) -> Order:
    """Give the order to an agent (or to nobody with ``agent=None``)."""
    order = order_lock(order.pk)
    if agent is not None and not agent.is_superuser:
        from clients.scoping import can_access_client

        if not can_access_client(agent, order.client_id):
            raise OrderValidationError(f"{agent} does not work for {order.client.code}.")
    previous = order.assigned_to
    order.assigned_to = agent
    order.save(update_fields=["assigned_to", "updated_at"])
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.ASSIGN,
        message=(f"Assigned to {agent.get_username()}" if agent else "Unassigned")
        + (f" (was {previous.get_username()})." if previous else "."),
        user=user,
    )
    return order


@atomic_with_retry
def order_expedite(*, order: Order, expedite: bool = True, user=None, note: str = "") -> Order:
    """Flag (or un-flag) an order as expedited: its priority is recomputed at once, and if it
    is waiting for stock it may now take units from less urgent orders."""
    order = order_lock_with_stock(order.pk)
    if not order.is_open:
        raise InvalidOrderStatus(f"Order {order.number} is {order.get_status_display()}.")
    if order.expedite == expedite:
        raise OrderValidationError(
            f"Order {order.number} is {'already' if expedite else 'not'} expedited."
        )
    order.expedite = expedite
    tier = order.customer.tier if order.customer_id else Customer.Tier.STANDARD
    apply_priority(order, client=order.client, tier=tier)
    order.save(
        update_fields=[
            "expedite",
            "priority_score",
            "priority_breakdown",
            "segment",
            "priority_computed_at",
            "updated_at",
        ]
    )
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.EXPEDITE,
        message=(note or ("Expedited." if expedite else "Expedite removed."))
        + f" Priority now {order.priority_score}.",
        user=user,
    )
    if expedite and order.status in (S.NEW, S.BACKORDERED):
        orders_allocate(order_ids=[order.pk], user=user)
        order.refresh_from_db()
    return order


@atomic_with_retry
def order_add_note(*, order: Order, text: str, user=None) -> OrderEvent:
    """Add a free-text note to the order's timeline."""
    if not text or not text.strip():
        raise OrderValidationError("A note cannot be empty.")
    return OrderEvent.objects.create(
        order=order, kind=OrderEvent.Kind.NOTE, message=text.strip(), user=user
    )


# Timeline rows other apps write about an order (they own what happened; orders owns the row).
EXTERNAL_EVENT_KINDS = frozenset(
    {OrderEvent.Kind.NOTIFICATION, OrderEvent.Kind.CUSTOMER, OrderEvent.Kind.SUPPORT}
)


def order_events_record(*, entries: list[tuple[int, str]], kind: str, user=None) -> int:
    """Append timeline rows ``(order_id, message)`` of ``kind`` (a notification sent, a
    customer's message) in one insert; returns how many. Locks nothing, triggers nothing:
    a timeline row is a record, not a state change. Raises :class:`OrderValidationError` for a
    kind that is a state change (those are written by the service that makes the change)."""
    if kind not in EXTERNAL_EVENT_KINDS:
        raise OrderValidationError(f"'{kind}' timeline rows are written by their own service.")
    rows = [
        OrderEvent(order_id=order_id, kind=kind, message=message[:4000], user=user)
        for order_id, message in entries
    ]
    OrderEvent.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


# Moves an agent may make by hand; shipping and delivery belong to fulfillment.
MANUAL_MOVES = frozenset({S.PICKING, S.PACKED, S.READY})
# Moves against the flow: undo a pick or a pack. They need a reason (on the timeline), so the
# admin asks for one and a confirmation instead of moving back on one click.
BACKWARD_MOVES = frozenset({(S.PACKED, S.PICKING), (S.PICKING, S.READY)})


@atomic_with_retry
def order_move(*, order: Order, to_status: str, user=None, note: str = "") -> Order:
    """Move an order along the pick/pack flow (ready → picking → packed, or back one step).

    A move back (packed → picking, picking → ready) needs ``note``: why (on the timeline).
    Locks the order; announces the status change."""
    if to_status not in MANUAL_MOVES:
        raise InvalidOrderStatus(
            f"'{to_status}' is not a move made by hand; use the matching action instead."
        )
    order = order_lock(order.pk)
    if to_status == S.READY and order.status != S.PICKING:
        raise InvalidOrderStatus("Only an order being picked can go back to ready.")
    if (order.status, to_status) in BACKWARD_MOVES and not note.strip():
        raise OrderValidationError(
            f"Moving order {order.number} back from '{order.get_status_display()}' to "
            f"'{Order.Status(to_status).label}' needs a reason: use “Back to "
            f"{Order.Status(to_status).label.lower()}…”."
        )
    set_status(order, to_status, user=user, message=note.strip())
    return order


def order_reallocate(*, order: Order, user=None):
    """Run allocation again for one order (after a stock fix or a priority change)."""
    if order.status not in (S.NEW, S.BACKORDERED, S.READY):
        raise InvalidOrderStatus(
            f"Order {order.number} is {order.get_status_display()}: nothing to allocate."
        )
    return orders_allocate(order_ids=[order.pk], user=user)


# Statuses someone can take and move forward; on-hold orders wait for a release instead.
TAKEABLE_STATUSES = (S.NEW, S.READY, S.BACKORDERED, S.PICKING, S.PACKED)


@atomic_with_retry
def order_take_next(*, user, client_ids=None) -> Order | None:
    """Assign the most urgent unassigned open order of the user's clients to the user.

    On PostgreSQL the candidate row is taken with ``FOR UPDATE SKIP LOCKED``: two agents
    pressing "take next" at the same moment get two different orders, never the same one.
    On SQLite the IMMEDIATE transaction already serialises the two requests.
    """
    qs = Order.objects.filter(assigned_to__isnull=True, status__in=TAKEABLE_STATUSES)
    if client_ids is not None:
        if not client_ids:
            return None
        qs = qs.filter(client_id__in=client_ids)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    order = qs.order_by("-priority_score", "ship_by", "placed_at", "id").first()
    if order is None:
        return None
    order.assigned_to = user
    order.save(update_fields=["assigned_to", "updated_at"])
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.ASSIGN,
        message=f"Taken by {user.get_username()} (next in queue, priority {order.priority_score}).",
        user=user,
    )
    return order
