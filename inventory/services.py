"""Every change of stock goes through here.

Locking rule (the whole product follows it, so no two transactions can wait on each other in
a cycle): **stock levels first, locked in one statement in primary-key order, then order
rows**. A transaction locks all the stock levels it will touch up front and never adds more
later. ``allocated ≤ on_hand`` is also a CHECK constraint, so even a buggy caller cannot
oversell: the database refuses the write.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from django.db import transaction
from django.db.models import F

from core.bulk import update_rows
from core.db import atomic_with_retry
from inventory.exceptions import InsufficientStock, InvalidStockOperation
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from inventory.signals import stock_became_available


def default_warehouse() -> Warehouse:
    warehouse = Warehouse.objects.filter(active=True).order_by("pk").first()
    if warehouse is None:
        raise InvalidStockOperation("There is no active warehouse to hold stock.")
    return warehouse


def stock_levels_ensure(*, products: Iterable[Product], warehouse: Warehouse | None = None) -> None:
    """Make sure every product has at least one stock level (demand needs a place to wait)."""
    products = list(products)
    have = set(StockLevel.objects.filter(product__in=products).values_list("product_id", flat=True))
    missing = [p for p in products if p.pk not in have]
    if missing:
        warehouse = warehouse or default_warehouse()
        StockLevel.objects.bulk_create(
            [StockLevel(client_id=p.client_id, product=p, warehouse=warehouse) for p in missing],
            ignore_conflicts=True,
        )


def stock_levels_lock(
    *,
    product_ids: Iterable[int],
    related: tuple[str, ...] = ("warehouse", "product"),
    columns: tuple[str, ...] | None = None,
) -> list:
    """Lock every stock level of these products (all warehouses), in primary-key order.

    Must be called inside a transaction, before any order row is locked. ``related`` is
    loaded with each level (``()`` for callers that look up warehouses and products
    themselves). With ``columns`` the levels come back as plain tuples of those columns
    instead of instances (the allocation engine locks thousands of levels at a time).
    """
    ids = sorted(set(product_ids))
    if not ids:
        return []
    levels = (
        # of=("self",): lock only the stock rows, not the joined product and warehouse rows
        # (locking a warehouse row would serialise every allocation in that warehouse).
        StockLevel.objects.select_for_update(of=("self",))
        .filter(product_id__anyof=ids)
        .order_by("pk")
    )
    if columns is not None:
        return list(levels.values_list(*columns))
    if related:  # (select_related() without names would follow every foreign key)
        levels = levels.select_related(*related)
    return list(levels)


class ReservationRow(NamedTuple):
    """A locked stock level's reservation counts, as a caller recomputed them (plain values:
    the allocation engine decides thousands of levels at a time without model instances)."""

    pk: int
    on_hand: int  # as read under the lock: checked, never written here
    allocated: int
    backordered: int


def stock_levels_write_reservations(*, rows: Iterable[ReservationRow]) -> None:
    """Persist ``allocated``/``backordered`` of many stock levels in one set-based write.

    The caller holds the levels locked (:func:`stock_levels_lock`, inside its transaction)
    and recomputed their reservations; this is the one place that checks the stock
    invariant ``0 ≤ allocated ≤ on_hand``, ``backordered ≥ 0`` before writing (the CHECK
    constraints still refuse any oversell that got past it). Raises
    :class:`InsufficientStock` and writes nothing when one row breaks it. Triggers nothing.
    """
    rows = list(rows)
    for row in rows:
        if row.allocated > row.on_hand or row.allocated < 0 or row.backordered < 0:
            raise InsufficientStock(
                f"Stock level {row.pk}: cannot reserve {row.allocated} with {row.on_hand} on hand."
            )
    update_rows(
        StockLevel,
        ("allocated", "backordered"),
        [(row.pk, row.allocated, row.backordered) for row in rows],
    )


def stock_levels_save_reservations(*, levels: Iterable[StockLevel]) -> None:
    """Persist ``allocated``/``backordered`` of level instances the caller holds locked and
    recomputed (cancelling an order); see :func:`stock_levels_write_reservations`."""
    stock_levels_write_reservations(
        rows=[ReservationRow(lv.pk, lv.on_hand, lv.allocated, lv.backordered) for lv in levels]
    )


def _move(
    *,
    level: StockLevel,
    kind: str,
    quantity: int,
    user=None,
    reference: str = "",
    reason: str = "",
) -> StockMovement:
    """Change on_hand of a locked level by ``quantity`` and write the ledger row."""
    StockLevel.objects.filter(pk=level.pk).update(on_hand=F("on_hand") + quantity)
    level.on_hand += quantity
    return StockMovement.objects.create(
        client_id=level.client_id,
        stock_level=level,
        product_id=level.product_id,
        warehouse_id=level.warehouse_id,
        kind=kind,
        quantity=quantity,
        balance_after=level.on_hand,
        reference=reference[:100],
        reason=reason[:255],
        user=user,
    )


def _locked_level(*, product: Product, warehouse: Warehouse) -> StockLevel:
    StockLevel.objects.get_or_create(
        product=product, warehouse=warehouse, defaults={"client_id": product.client_id}
    )
    levels = stock_levels_lock(product_ids=[product.pk])
    return next(lv for lv in levels if lv.warehouse_id == warehouse.pk)


def _positive(quantity: int) -> int:
    if not isinstance(quantity, int) or quantity <= 0:
        raise InvalidStockOperation("The quantity must be a whole number greater than zero.")
    return quantity


@atomic_with_retry
def stock_receive(
    *,
    product: Product,
    warehouse: Warehouse,
    quantity: int,
    user=None,
    reference: str = "",
    kind: str = StockMovement.Kind.RECEIPT,
) -> StockLevel:
    """Book goods in (receipt or customer return) and fill waiting backorders.

    Locks all stock levels of the product, writes one ledger row, then sends
    ``stock_became_available`` in the same transaction so that the freed units go to the
    most urgent backorders before anyone else can take them.
    """
    _positive(quantity)
    if kind not in (StockMovement.Kind.RECEIPT, StockMovement.Kind.RETURN):
        raise InvalidStockOperation("Receive books receipts and returns only.")
    if not warehouse.active:
        raise InvalidStockOperation(f"Warehouse {warehouse.code} is not active.")
    level = _locked_level(product=product, warehouse=warehouse)
    _move(level=level, kind=kind, quantity=quantity, user=user, reference=reference)
    stock_became_available.send(sender=StockLevel, product_ids=[product.pk])
    level.refresh_from_db()
    return level


@atomic_with_retry
def stock_adjust(
    *, product: Product, warehouse: Warehouse, delta: int, reason: str, user=None
) -> StockLevel:
    """Correct on-hand after a count, damage or loss (``reason`` is required).

    Going down never touches reserved units: taking away more than is available raises
    :class:`InsufficientStock` (re-allocate or cancel the orders first). Going up fills
    backorders like a receipt does.
    """
    if not reason or not reason.strip():
        raise InvalidStockOperation("An adjustment needs a reason.")
    if not isinstance(delta, int) or delta == 0:
        raise InvalidStockOperation("The adjustment must be a non-zero whole number.")
    level = _locked_level(product=product, warehouse=warehouse)
    if delta < 0 and level.available < -delta:
        raise InsufficientStock(
            f"Cannot remove {-delta} of {product.sku} at {warehouse.code}: only "
            f"{level.available} available ({level.allocated} reserved for orders)."
        )
    _move(level=level, kind=StockMovement.Kind.ADJUSTMENT, quantity=delta, user=user, reason=reason)
    if delta > 0:
        stock_became_available.send(sender=StockLevel, product_ids=[product.pk])
    level.refresh_from_db()
    return level


@atomic_with_retry
def stock_transfer(
    *,
    product: Product,
    from_warehouse: Warehouse,
    to_warehouse: Warehouse,
    quantity: int,
    user=None,
    reference: str = "",
) -> tuple[StockLevel, StockLevel]:
    """Move available units between warehouses: two ledger rows, both levels locked together."""
    _positive(quantity)
    if from_warehouse.pk == to_warehouse.pk:
        raise InvalidStockOperation("Choose two different warehouses.")
    if not to_warehouse.active:
        raise InvalidStockOperation(f"Warehouse {to_warehouse.code} is not active.")
    StockLevel.objects.get_or_create(
        product=product, warehouse=to_warehouse, defaults={"client_id": product.client_id}
    )
    levels = {lv.warehouse_id: lv for lv in stock_levels_lock(product_ids=[product.pk])}
    source = levels.get(from_warehouse.pk)
    if source is None or source.available < quantity:
        have = source.available if source else 0
        raise InsufficientStock(
            f"Only {have} of {product.sku} available at {from_warehouse.code} to transfer."
        )
    target = levels[to_warehouse.pk]
    _move(
        level=source,
        kind=StockMovement.Kind.TRANSFER_OUT,
        quantity=-quantity,
        user=user,
        reference=reference or f"to {to_warehouse.code}",
    )
    _move(
        level=target,
        kind=StockMovement.Kind.TRANSFER_IN,
        quantity=quantity,
        user=user,
        reference=reference or f"from {from_warehouse.code}",
    )
    stock_became_available.send(sender=StockLevel, product_ids=[product.pk])
    source.refresh_from_db()
    target.refresh_from_db()
    return source, target


def stock_ship(*, level: StockLevel, quantity: int, user=None, reference: str = "") -> None:
    """Consume reserved units that leave the building: on-hand and allocated both go down.

    The caller holds the level's lock (taken with :func:`stock_levels_lock`) and the order's.
    """
    _positive(quantity)
    if not transaction.get_connection().in_atomic_block:
        raise InvalidStockOperation("stock_ship must run inside the caller's transaction.")
    updated = StockLevel.objects.filter(pk=level.pk, allocated__gte=quantity).update(
        allocated=F("allocated") - quantity
    )
    if not updated:
        raise InsufficientStock(f"{level}: fewer than {quantity} units are reserved.")
    level.allocated -= quantity
    _move(
        level=level,
        kind=StockMovement.Kind.SHIPMENT,
        quantity=-quantity,
        user=user,
        reference=reference,
    )


@atomic_with_retry
def stock_on_order_change(*, changes: Iterable[tuple[int, int, int]]) -> None:
    """Raise or lower ``on_order`` (units on sent purchase orders) by ``(product_id,
    warehouse_id, delta)``.

    Called by the purchasing services when a PO is sent (up), received or cancelled (down),
    in their transaction, so ``on_order`` always equals the open quantity of sent POs. Locks
    every stock level of the products in primary-key order (the product-wide lock rule),
    creating missing levels first; the CHECK ``on_order ≥ 0`` refuses a count going negative.
    """
    deltas: dict[tuple[int, int], int] = {}
    for product_id, warehouse_id, delta in changes:
        if delta:
            key = (product_id, warehouse_id)
            deltas[key] = deltas.get(key, 0) + delta
    deltas = {key: delta for key, delta in deltas.items() if delta}
    if not deltas:
        return
    product_ids = {p for p, _ in deltas}
    clients = dict(Product.objects.filter(pk__in=product_ids).values_list("pk", "client_id"))
    StockLevel.objects.bulk_create(
        [StockLevel(client_id=clients[p], product_id=p, warehouse_id=w) for p, w in deltas],
        ignore_conflicts=True,
    )
    levels = stock_levels_lock(product_ids=product_ids, related=())
    for level in levels:
        delta = deltas.get((level.product_id, level.warehouse_id))
        if delta:
            if level.on_order + delta < 0:
                raise InvalidStockOperation(
                    f"On order of product {level.product_id} at warehouse {level.warehouse_id} "
                    f"would fall below zero ({level.on_order} {delta:+d})."
                )
            StockLevel.objects.filter(pk=level.pk).update(on_order=F("on_order") + delta)
