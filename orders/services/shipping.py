"""The order side of fulfillment: picking in waves, shipping lines, delivery, carrier exceptions.

The fulfillment app orchestrates (pick waves, shipments, tracking events) and calls these
services; the line quantities, the stock they consume and the status moves stay here, in the
app that owns orders. Lock order (see inventory.services): stock levels first, in primary-key
order, then orders, in primary-key order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.utils import timezone

from clients.models import Client
from core.db import atomic_with_retry, bulk_update_columns
from inventory import services as inventory
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Allocation, Order, OrderEvent, OrderLine
from orders.services.locks import order_lock
from orders.services.status import set_status, status_events_save

S = Order.Status

# Where units can leave the building from: a packed order (the normal case, complete or in
# parts), or a backordered one whose allocated units go ahead of the rest ("ship what we have").
SHIPPABLE_STATUSES = frozenset({S.PACKED, S.BACKORDERED})


@dataclass(frozen=True)
class ShippedUnits:
    """Units of one line taken from one stock level by a shipment."""

    line_id: int
    stock_level_id: int
    warehouse_id: int
    quantity: int


@dataclass
class ShipResult:
    order: Order
    units: list[ShippedUnits] = field(default_factory=list)
    closed: bool = False  # nothing is left open: the order moved to shipped

    @property
    def quantity(self) -> int:
        return sum(u.quantity for u in self.units)


# What the status machine and these services read: a carrier's file can deliver 20,000 orders,
# and loading whole rows (priority breakdown JSON, every timestamp) would cost more than the
# update itself. Touching another field would load it lazily, one query per order.
_LOCK_FIELDS = (
    "id",
    "client_id",
    "number",
    "status",
    "segment",
    "hold_from_status",
    "ship_by",
    "expedite",
    "exception_flag",
    "delay_reason",
)


def _lock_orders(order_ids: Iterable[int], **filters) -> list[Order]:
    """Lock orders in primary-key order (only the order rows), clients attached."""
    orders = list(
        Order.objects.select_for_update(of=("self",))
        .filter(pk__in=sorted(set(order_ids)), **filters)
        .only(*_LOCK_FIELDS)
        .order_by("pk")
    )
    clients = Client.objects.in_bulk({o.client_id for o in orders})
    for order in orders:
        order.client = clients[order.client_id]
    return orders


def _save_orders(orders: list[Order], fields: list[str]) -> None:
    now = timezone.now()
    for order in orders:
        order.updated_at = now
    bulk_update_columns(Order, orders, [*fields, "updated_at"])


@atomic_with_retry
def orders_start_picking(*, order_ids: Iterable[int], user=None, note: str = "") -> list[Order]:
    """Move ``ready`` orders to ``picking`` (a pick wave went to the floor).

    Locks the orders in primary-key order (no stock changes: the units stay allocated until
    they ship). Orders that are no longer ready are skipped, so a caller that selected them a
    moment ago gets only the ones it really moved. Writes one status event per order.
    """
    orders = _lock_orders(order_ids, status=S.READY)
    events = [set_status(o, S.PICKING, user=user, message=note, save=False) for o in orders]
    if orders:
        _save_orders(orders, ["status", "segment"])
        status_events_save(events)
    return orders


def _clean_quantities(quantities: Mapping[int, int]) -> dict[int, int]:
    if not quantities:
        raise OrderValidationError("Choose at least one line and quantity to ship.")
    clean = {}
    for line_id, qty in quantities.items():
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 0:
            raise OrderValidationError("Quantities to ship must be whole numbers, zero or more.")
        if qty:
            clean[int(line_id)] = qty
    if not clean:
        raise OrderValidationError("Nothing to ship: every quantity is zero.")
    return clean


@atomic_with_retry
def order_ship_lines(
    *,
    order: Order,
    quantities: Mapping[int, int],
    user=None,
    reference: str = "",
    warehouse_id: int | None = None,
    note: str = "",
) -> ShipResult:
    """Ship ``quantities`` (``{line_id: units}``) of an order: the units leave the building.

    Locks the stock levels of the order's products (primary-key order), then the order. Each
    line's units are taken from its Allocation rows — only those in ``warehouse_id`` when it is
    given, else oldest allocation first — through ``inventory.stock_ship`` (on-hand and
    allocated both go down, one SHIPMENT ledger row per stock level touched). The lines'
    ``qty_allocated`` goes down and ``qty_shipped`` up; emptied allocations are deleted.

    When nothing is left open on any line the order moves to ``shipped``; otherwise (a partial
    shipment) it stays where it is and the lines show what went. Writes one SHIPMENT timeline
    row. Raises :class:`InvalidOrderStatus` for an order that cannot ship now and
    :class:`OrderValidationError` for a line or quantity that is not allocated (nothing is
    written then).
    """
    wanted = _clean_quantities(quantities)
    product_ids = OrderLine.objects.filter(order_id=order.pk).values_list("product_id", flat=True)
    levels = {lv.pk: lv for lv in inventory.stock_levels_lock(product_ids=list(product_ids))}
    order = order_lock(order.pk)
    if order.status not in SHIPPABLE_STATUSES:
        raise InvalidOrderStatus(
            f"Order {order.number} is {order.get_status_display()}: only packed orders (or the "
            "allocated units of a backordered one) can ship."
        )
    lines = {ln.pk: ln for ln in order.lines.select_related("product")}
    unknown = set(wanted) - set(lines)
    if unknown:
        raise OrderValidationError(f"Order {order.number} has no line(s) {sorted(unknown)}.")
    allocations: dict[int, list[Allocation]] = defaultdict(list)
    for alloc in Allocation.objects.filter(line__order=order).order_by("pk"):
        allocations[alloc.line_id].append(alloc)

    reference = (reference or f"Order {order.number}")[:100]
    result = ShipResult(order=order)
    emptied, reduced = [], []
    for line_id in sorted(wanted):
        line, qty = lines[line_id], wanted[line_id]
        candidates = [
            a
            for a in allocations[line_id]
            if warehouse_id is None or levels[a.stock_level_id].warehouse_id == warehouse_id
        ]
        have = sum(a.quantity for a in candidates)
        if qty > have:
            where = ""
            if warehouse_id is not None:
                where = " in this warehouse"
            raise OrderValidationError(
                f"Order {order.number} line {line.line_no} ({line.product.sku}): only {have} "
                f"unit(s) allocated{where}, cannot ship {qty}."
            )
        left = qty
        for alloc in candidates:
            take = min(alloc.quantity, left)
            level = levels[alloc.stock_level_id]
            inventory.stock_ship(level=level, quantity=take, user=user, reference=reference)
            alloc.quantity -= take
            (reduced if alloc.quantity else emptied).append(alloc)
            result.units.append(
                ShippedUnits(
                    line_id=line.pk,
                    stock_level_id=level.pk,
                    warehouse_id=level.warehouse_id,
                    quantity=take,
                )
            )
            left -= take
            if not left:
                break
        line.qty_allocated -= qty
        line.qty_shipped += qty
    if emptied:
        Allocation.objects.filter(pk__in=[a.pk for a in emptied]).delete()
    if reduced:
        Allocation.objects.bulk_update(reduced, ["quantity"])
    OrderLine.objects.bulk_update(
        [lines[i] for i in sorted(wanted)], ["qty_allocated", "qty_shipped"]
    )

    result.closed = all(ln.qty_open == 0 for ln in lines.values())
    in_line_order = sorted(wanted, key=lambda i: lines[i].line_no)
    shipped = ", ".join(f"{wanted[i]}× {lines[i].product.sku}" for i in in_line_order)
    message = f"Shipped {shipped} ({reference})."
    if note:
        message = f"{message} {note}"
    if not result.closed:
        message += " Partial shipment: the rest stays allocated or backordered."
        OrderEvent.objects.create(
            order=order, kind=OrderEvent.Kind.SHIPMENT, message=message, user=user
        )
    else:
        set_status(order, S.SHIPPED, user=user, kind=OrderEvent.Kind.SHIPMENT, message=message)
    return result


@atomic_with_retry
def orders_mark_delivered(
    *, order_ids: Iterable[int], user=None, message: str = "Delivered (carrier confirmed)."
) -> list[Order]:
    """Move ``shipped`` orders to ``delivered``: the carrier confirmed every shipment.

    Locks the orders in primary-key order (no stock is touched). Orders that are not shipped
    are skipped — already delivered (a repeated event), or still open with units to ship — so
    the call is idempotent. Delivery clears a carrier-exception flag and its delay reason.
    Writes one status event per order moved; returns the orders moved.
    """
    orders = _lock_orders(order_ids, status=S.SHIPPED)
    events = []
    for order in orders:
        text = message
        if order.exception_flag:
            text += f" Exception cleared (was: {order.delay_reason})."
            order.exception_flag = False
            order.delay_reason = ""
        events.append(set_status(order, S.DELIVERED, user=user, message=text, save=False))
    if orders:
        _save_orders(orders, ["status", "segment", "exception_flag", "delay_reason"])
        status_events_save(events)
    return orders


def order_mark_delivered(*, order: Order, user=None, message: str = "Delivered.") -> Order:
    """One order to ``delivered`` (see :func:`orders_mark_delivered`); refuses other statuses."""
    moved = orders_mark_delivered(order_ids=[order.pk], user=user, message=message)
    if not moved:
        order.refresh_from_db()
        raise InvalidOrderStatus(
            f"Order {order.number} is {order.get_status_display()}, not shipped: it cannot be "
            "marked delivered."
        )
    return moved[0]


@atomic_with_retry
def orders_flag_exception(*, reasons: Mapping[int, str], user=None) -> list[Order]:
    """Flag orders whose shipment hit a carrier exception or came back (``{order_id: reason}``).

    Locks the orders in primary-key order. Sets ``exception_flag`` (the "Carrier exceptions"
    queue) and ``delay_reason`` to the reason, and writes an EXCEPTION timeline row. An order
    already flagged with the same reason is left alone (the same event delivered twice flags
    once). Cancelled orders are skipped. Returns the orders changed.
    """
    clean = {int(k): (v or "").strip()[:255] for k, v in reasons.items()}
    if any(not v for v in clean.values()):
        raise OrderValidationError("A carrier exception needs a reason.")
    changed, events = [], []
    for order in _lock_orders(clean):
        reason = clean[order.pk]
        if order.status == S.CANCELLED or (order.exception_flag and order.delay_reason == reason):
            continue
        order.exception_flag = True
        order.delay_reason = reason
        changed.append(order)
        events.append(
            OrderEvent(order=order, kind=OrderEvent.Kind.EXCEPTION, message=reason, user=user)
        )
    if changed:
        _save_orders(changed, ["exception_flag", "delay_reason"])
        OrderEvent.objects.bulk_create(events)
    return changed


def order_flag_delay(*, order: Order, reason: str, user=None) -> Order:
    """Flag one order with a carrier exception (see :func:`orders_flag_exception`)."""
    if not reason or not reason.strip():
        raise OrderValidationError("Say what happened to the shipment.")
    changed = orders_flag_exception(reasons={order.pk: reason}, user=user)
    if changed:
        return changed[0]
    order.refresh_from_db()
    return order


@atomic_with_retry
def order_clear_exception(*, order: Order, user=None, note: str = "") -> Order:
    """An agent dealt with the carrier exception: clear the flag and the delay reason.

    Locks the order; writes a RESOLVED timeline row saying what the reason was.
    """
    order = order_lock(order.pk)
    if not order.exception_flag:
        raise OrderValidationError(f"Order {order.number} has no carrier exception to clear.")
    was = order.delay_reason
    order.exception_flag = False
    order.delay_reason = ""
    order.save(update_fields=["exception_flag", "delay_reason", "updated_at"])
    OrderEvent.objects.create(
        order=order,
        kind=OrderEvent.Kind.RESOLVED,
        message=(note.strip() + " " if note and note.strip() else "") + f"(was: {was})",
        user=user,
    )
    return order
