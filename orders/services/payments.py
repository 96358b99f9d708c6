"""The payment and credit gate on releasing an order, and the payment figures of an order.

An order is *released* when it reaches ``ready`` (picking may start). Every path that puts an
order there — a new order allocated, a backorder filled, a re-import, a release from hold,
line edits that re-allocate — goes through the allocation engine's ``AllocationPlan.write``
or ``order_release``; both call :func:`release_gate` in the same transaction, so no status
path skips the check (ERPNext #33967: a credit check bypassed by closing and reopening).

Policy (per client, ``Client.payment_policy``):
- prepaid: released only when payments captured + authorised cover the total;
- terms / cash on delivery: released at once, unless the customer has a ``credit_limit`` and
  the order would take their **credit exposure** over it.

Credit exposure = what released orders of the customer (ready … delivered: open unpaid
invoices plus open orders not yet invoiced, since every invoice comes from a released order)
still owe: ``Σ (total − amount_paid)``. It is read after locking the customer rows
(``SELECT … FOR UPDATE``, primary-key order), inside the releasing transaction: two orders of
one customer released in parallel are checked one after the other, never together.

Lock order: stock levels, orders (the caller's), then customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from clients.models import Client
from core.db import atomic_with_retry
from inventory import services as inventory
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Allocation, Customer, Order, OrderEvent, OrderLine
from orders.services.locks import order_lock, order_lock_with_stock
from orders.services.status import set_status

S = Order.Status
H = Order.HoldType
P = Order.PaymentStatus

# Orders that have been released: they count towards the customer's credit exposure.
RELEASED_STATUSES = (S.READY, S.PICKING, S.PACKED, S.SHIPPED, S.DELIVERED)
GATED_HOLDS = (H.PAYMENT, H.CREDIT)


def credit_exposure(customer_id: int, *, exclude: Sequence[int] = ()) -> Decimal:
    """What the customer's released orders still owe (see the module docstring)."""
    value = (
        Order.objects.filter(customer_id=customer_id, status__in=RELEASED_STATUSES)
        .exclude(pk__in=list(exclude))
        .aggregate(owed=Sum(F("total") - F("amount_paid")))["owed"]
    )
    return max(value or Decimal("0"), Decimal("0"))


def _is_prepaid_covered(order: Order) -> bool:
    return order.amount_paid + order.amount_authorised >= order.total


def release_gate(*, order_ids: Sequence[int], user=None) -> dict[int, str]:
    """Hold the orders among ``order_ids`` that are ``ready`` but may not be released.

    Must run inside the transaction that released them, which holds their locks (allocation
    and ``order_release`` lock them; new orders are not visible to others yet); locks the
    customers with a credit limit, by primary key. Only orders of prepaid clients or of
    customers with a credit limit are read (one query; none for everyone else). Orders with a
    supervisor's ``release_override`` pass. Orders are checked most urgent first, so that a
    customer's limit goes to their most urgent orders. Returns ``{order_id: hold_type}`` for
    the orders it held; writes a hold timeline row for each.
    """
    if not order_ids:
        return {}
    orders = list(
        Order.objects.filter(pk__in=list(order_ids), status=S.READY, release_override=False)
        .filter(
            Q(client__payment_policy=Client.PaymentPolicy.PREPAID)
            | Q(customer__credit_limit__isnull=False)
        )
        .order_by("pk")
    )
    if not orders:
        return {}
    clients = Client.objects.in_bulk({o.client_id for o in orders})
    customer_ids = sorted({o.customer_id for o in orders if o.customer_id})
    customers = {
        c.pk: c
        for c in Customer.objects.select_for_update()
        .filter(pk__in=customer_ids, credit_limit__isnull=False)
        .order_by("pk")
    }
    batch = {o.pk for o in orders}
    exposure: dict[int, Decimal] = {cid: credit_exposure(cid, exclude=batch) for cid in customers}
    held: dict[int, str] = {}
    orders.sort(key=lambda o: (-o.priority_score, o.ship_by, o.placed_at, o.pk))
    for order in orders:
        client = clients[order.client_id]
        hold = ""
        if client.payment_policy == Client.PaymentPolicy.PREPAID and not _is_prepaid_covered(order):
            hold = H.PAYMENT
        if not hold and order.customer_id in customers:
            owed = max(order.total - order.amount_paid, Decimal("0"))
            limit = customers[order.customer_id].credit_limit
            if exposure[order.customer_id] + owed > limit:
                hold = H.CREDIT
            else:
                exposure[order.customer_id] += owed
        if hold:
            _hold(order, hold, client=client, user=user, customer=customers.get(order.customer_id))
            held[order.pk] = hold
    return held


def _hold(order: Order, hold: str, *, client: Client, user, customer=None) -> None:
    order.client = client
    order.hold_from_status = order.status
    order.hold_type = hold
    order.held_at = timezone.now()
    if hold == H.PAYMENT:
        order.hold_reason = (
            f"Awaiting payment: {order.amount_paid + order.amount_authorised} of "
            f"{order.total} {order.currency} paid or authorised."
        )
    else:
        order.hold_reason = (
            f"Credit limit: {customer.credit_limit} {order.currency} would be exceeded."
        )
    set_status(order, S.ON_HOLD, user=user, kind=OrderEvent.Kind.HOLD, message=order.hold_reason)


def derive_payment_status(
    *, total: Decimal, paid: Decimal, authorised: Decimal, refunded: Decimal
) -> str:
    """The order's payment status from its payment sums (captured net of refunds = ``paid``)."""
    if (paid >= total and total > 0) or (total == 0 and paid > 0):
        return P.PAID
    if refunded > 0:
        return P.PARTIALLY_REFUNDED if paid > 0 else P.REFUNDED
    if paid > 0:
        return P.PARTIALLY_PAID
    if authorised > 0 and authorised + paid >= total:
        return P.AUTHORIZED
    return P.PENDING


@atomic_with_retry
def order_payments_apply(
    *,
    order_id: int,
    paid: Decimal,
    authorised: Decimal,
    refunded: Decimal = Decimal("0"),
    user=None,
    note: str = "",
) -> Order:
    """Store the payment sums of an order (billing computes them from its Payment rows) and
    its derived ``payment_status``; release it when it waits for payment and is now covered,
    and retry the customer's credit-held orders (a payment lowers their exposure).

    Locks the stock levels of the orders it releases, then the order (via ``order_release``).
    """
    from orders.services.lifecycle import order_release

    order = order_lock_with_stock(order_id)
    order.amount_paid = paid
    order.amount_authorised = authorised
    order.payment_status = derive_payment_status(
        total=order.total, paid=paid, authorised=authorised, refunded=refunded
    )
    order.save(update_fields=["amount_paid", "amount_authorised", "payment_status", "updated_at"])
    if order.status == S.ON_HOLD and order.hold_type == H.PAYMENT and _is_prepaid_covered(order):
        order = order_release(order=order, user=user, note=note or "Released: payment received.")
    if order.customer_id:
        waiting = (
            Order.objects.filter(
                customer_id=order.customer_id, status=S.ON_HOLD, hold_type=H.CREDIT
            )
            .exclude(pk=order.pk)
            .order_by("-priority_score", "ship_by", "placed_at", "id")
        )
        for other in waiting:
            order_release(
                order=other, user=user, note="Released: the customer paid, credit re-checked."
            )
    order.refresh_from_db()
    return order


@atomic_with_retry
def order_release_override(*, order: Order, reason: str, user) -> Order:
    """A supervisor releases an order held for payment or credit anyway; the reason goes on
    the timeline and the gate lets the order pass from now on. Locks as ``order_release``."""
    from orders.services.lifecycle import order_release

    if not reason or not reason.strip():
        raise OrderValidationError("Say why the hold is overridden.")
    order = order_lock(order.pk)
    if order.status != S.ON_HOLD or order.hold_type not in GATED_HOLDS:
        raise InvalidOrderStatus(f"Order {order.number} is not held for payment or credit.")
    order.release_override = True
    order.save(update_fields=["release_override", "updated_at"])
    return order_release(order=order, user=user, note=f"Hold overridden: {reason.strip()}")


@atomic_with_retry
def payment_holds_expire(*, now=None, user=None) -> int:
    """Give the stock of orders held for payment/credit longer than their client's
    ``payment_hold_hours`` back to waiting orders, most urgent first (``backorders_fill``).

    The held order keeps its hold but will come back as backordered: when it is released
    (payment, override) it is allocated again by priority, like any arrival. Locks the stock
    levels of the products involved, then the orders. Returns how many orders gave stock up.
    """
    from orders.services.allocation import backorders_fill

    now = now or timezone.now()
    candidates = []
    for client in Client.objects.filter(
        pk__in=Order.objects.filter(status=S.ON_HOLD, hold_type__in=GATED_HOLDS).values("client_id")
    ):
        cutoff = now - timedelta(hours=client.payment_hold_hours)
        candidates += list(
            Order.objects.filter(
                client=client,
                status=S.ON_HOLD,
                hold_type__in=GATED_HOLDS,
                hold_from_status=S.READY,
                held_at__lte=cutoff,
            ).values_list("pk", flat=True)
        )
    if not candidates:
        return 0
    lines = list(OrderLine.objects.filter(order_id__in=candidates).order_by("pk"))
    product_ids = sorted({ln.product_id for ln in lines})
    levels = {lv.pk: lv for lv in inventory.stock_levels_lock(product_ids=product_ids)}
    orders = list(
        Order.objects.select_for_update()
        .filter(pk__in=candidates, status=S.ON_HOLD, hold_from_status=S.READY)
        .order_by("pk")
    )
    ids = {o.pk for o in orders}
    allocs = list(Allocation.objects.filter(line__order_id__in=ids))
    by_line: dict[int, list[Allocation]] = {}
    for alloc in allocs:
        by_line.setdefault(alloc.line_id, []).append(alloc)
        levels[alloc.stock_level_id].allocated -= alloc.quantity
        levels[alloc.stock_level_id].backordered += alloc.quantity
    changed = []
    for line in lines:
        if line.order_id not in ids or line.pk not in by_line:
            continue
        line.qty_backordered += line.qty_allocated
        line.qty_allocated = 0
        line.backorder_level_id = by_line[line.pk][0].stock_level_id
        changed.append(line)
    inventory.stock_levels_save_reservations(levels=levels.values())
    Allocation.objects.filter(pk__in=[a.pk for a in allocs]).delete()
    OrderLine.objects.bulk_update(changed, ["qty_allocated", "qty_backordered", "backorder_level"])
    Order.objects.filter(pk__in=ids).update(hold_from_status=S.BACKORDERED, updated_at=now)
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(
                order_id=o.pk,
                kind=OrderEvent.Kind.NOTE,
                message="Reserved stock released to other orders: held for "
                f"{o.get_hold_type_display().lower()} longer than "
                f"{o.client.payment_hold_hours} hours; reserved again by priority on release.",
                user=user,
            )
            for o in orders
        ]
    )
    backorders_fill(product_ids=product_ids, user=user)
    return len(orders)
