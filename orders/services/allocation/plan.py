"""The allocation plan: the in-memory state of one allocation transaction, and its write.

:func:`orders.services.allocation.allocation_plan` locks, loads and decides (steps 1–3 of the
algorithm) into an :class:`AllocationPlan`; :meth:`AllocationPlan.write` is step 4. Orders
being created in the same transaction are planned before they are inserted: the caller reads
their outcome from ``plan.new_orders``/``plan.new_lines``, inserts them, hands the ids they got
to :meth:`AllocationPlan.bind_inserted`, then writes the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.utils import timezone

from clients.models import Client
from core.bulk import insert_rows, update_rows
from inventory import services as inventory
from inventory.models import Product
from inventory.services import ReservationRow
from orders.models import Allocation, Order, OrderEvent, OrderLine
from orders.services.allocation.rows import (
    PlanEvent,
    PlanLevel,
    PlanLine,
    PlanOrder,
    PlanReservation,
)
from orders.services.payments import release_gate
from orders.services.status import status_changes_announce

ALLOCATION = OrderEvent.Kind.ALLOCATION.value


@dataclass
class AllocationReport:
    orders: int = 0
    ready: int = 0
    backordered: int = 0
    units_allocated: int = 0
    units_backordered: int = 0
    preempted_orders: set[int] = field(default_factory=set)

    def merge(self, other: AllocationReport) -> None:
        self.orders += other.orders
        self.ready += other.ready
        self.backordered += other.backordered
        self.units_allocated += other.units_allocated
        self.units_backordered += other.units_backordered
        self.preempted_orders |= other.preempted_orders


class AllocationPlan:
    """What one allocation transaction decided, not written yet.

    Rows are keyed by id; orders and lines not inserted yet (``new_orders``/``new_lines``, in
    the order the caller gave them) are keyed by placeholders of the plan's own until
    :meth:`bind_inserted` gives them their ids. The ``dirty_*`` sets name what changed.
    """

    def __init__(self, levels: list[PlanLevel], user, active: dict[int, bool]) -> None:
        self.user = user
        self.user_id = user.pk if user is not None else None
        self.now = timezone.now()
        self.clients: dict[int, Client] = {}
        self._skus: dict[int, str] | None = None
        self.levels = {lv.pk: lv for lv in levels}
        self.levels_by_product: dict[int, list[PlanLevel]] = defaultdict(list)
        self.active_by_product: dict[int, list[PlanLevel]] = defaultdict(list)
        self.level_at: dict[tuple[int, int], PlanLevel] = {}
        for lv in levels:
            self.levels_by_product[lv.product_id].append(lv)
            if active[lv.warehouse_id]:
                self.active_by_product[lv.product_id].append(lv)
            self.level_at[(lv.product_id, lv.warehouse_id)] = lv
        self.active = active  # warehouse id → active
        self.reservations: dict[tuple[int, int], PlanReservation] = {}
        self.reservations_by_line: dict[int, list[PlanReservation]] = defaultdict(list)
        self.lines: dict[int, PlanLine] = {}
        self.lines_by_order: dict[int, list[PlanLine]] = defaultdict(list)
        self.orders: dict[int, PlanOrder] = {}
        self.new_orders: list[PlanOrder] = []
        self.new_lines: list[PlanLine] = []
        self._bound = True  # nothing to bind until new orders are planned
        self.dirty_levels: set[int] = set()
        self.dirty_lines: set[int] = set()
        self.dirty_orders: set[int] = set()
        self.events: list[PlanEvent] = []
        self.victims: dict[int, list[PlanReservation]] | None = None
        self.report = AllocationReport()

    # -- building the plan ----------------------------------------------------------------------
    def add_new(self, orders: list[PlanOrder], lines: list[PlanLine]) -> None:
        """Orders (and their lines) not inserted yet, keyed by their placeholders."""
        self.new_orders, self.new_lines = orders, lines
        self._bound = not orders
        for line in lines:
            self.lines[line.pk] = line
            self.lines_by_order[line.order_id].append(line)

    def add_reservation(self, reservation: PlanReservation) -> PlanReservation:
        key = (reservation.line.pk, reservation.level.pk)
        if key not in self.reservations:
            self.reservations[key] = reservation
            self.reservations_by_line[reservation.line.pk].append(reservation)
        return self.reservations[key]

    def sku(self, product_id: int) -> str:
        if self._skus is None:  # only messages need SKUs: one query, on first use
            ids = {lv.product_id for lv in self.levels.values()}
            self._skus = dict(Product.objects.filter(pk__anyof=list(ids)).values_list("pk", "sku"))
        return self._skus[product_id]

    def available(self, level: PlanLevel) -> int:
        if not self.active[level.warehouse_id]:
            return 0
        return level.on_hand - level.allocated

    # -- the moves the decisions are made of ----------------------------------------------------
    def reserve(self, line: PlanLine, level: PlanLevel, qty: int) -> None:
        level.allocated += qty
        line.qty_allocated += qty
        key = (line.pk, level.pk)
        reservation = self.reservations.get(key)
        if reservation is None:
            reservation = PlanReservation(None, line, level, qty)
            self.reservations[key] = reservation
            self.reservations_by_line[line.pk].append(reservation)
        else:
            reservation.quantity += qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def unreserve(self, reservation: PlanReservation, qty: int) -> None:
        level = reservation.level
        line = reservation.line
        level.allocated -= qty
        line.qty_allocated -= qty
        reservation.quantity -= qty
        self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def set_backorder(self, line: PlanLine, qty: int, level: PlanLevel) -> None:
        if line.qty_backordered:
            old = self.levels[line.backorder_level_id]
            old.backordered -= line.qty_backordered
            self.dirty_levels.add(old.pk)
        line.qty_backordered = qty
        line.backorder_level_id = level.pk if qty else None
        if qty:
            level.backordered += qty
            self.dirty_levels.add(level.pk)
        self.dirty_lines.add(line.pk)

    def event(self, order: PlanOrder, message: str, from_status: str = "", to_status: str = ""):
        self.events.append(PlanEvent(order, from_status, to_status, message))

    # -- after the caller inserted the new orders -----------------------------------------------
    def bind_inserted(self, *, order_ids: Sequence[int], line_ids: Sequence[int]) -> None:
        """Give the new orders and lines the ids they got on insert (same order as planned):
        their reservations and timeline rows are written with those ids."""
        if len(order_ids) != len(self.new_orders) or len(line_ids) != len(self.new_lines):
            raise ValueError("bind_inserted() needs one id per new order and per new line.")
        order_id = {}
        for order, pk in zip(self.new_orders, order_ids, strict=True):
            order_id[order.pk] = pk
            order.pk = pk
        for line, pk in zip(self.new_lines, line_ids, strict=True):
            line.pk = pk
            line.order_id = order_id.get(line.order_id, line.order_id)
        self._bound = True

    # -- step 4 ----------------------------------------------------------------------------------
    def write(self) -> None:
        """Write what was decided: stock levels (through ``inventory.services``, which checks
        the stock invariant), reservations, changed lines and orders, timeline rows. New
        orders and lines are the caller's to insert, with their outcome, before this (and
        :meth:`bind_inserted`)."""
        if not self._bound:
            raise RuntimeError("Insert the new orders and call bind_inserted() before write().")
        inventory.stock_levels_write_reservations(
            rows=[
                ReservationRow(lv.pk, lv.on_hand, lv.allocated, lv.backordered)
                for lv in (self.levels[pk] for pk in sorted(self.dirty_levels))
            ]
        )
        new, changed, gone = [], [], []
        for reservation in self.reservations.values():
            if reservation.pk is None:
                if reservation.quantity > 0:
                    new.append((reservation.line.pk, reservation.level.pk, reservation.quantity))
            elif reservation.quantity == 0:
                gone.append(reservation.pk)
            else:
                changed.append((reservation.pk, reservation.quantity))
        if gone:
            Allocation.objects.filter(pk__in=gone).delete()
        update_rows(Allocation, ("quantity",), changed)
        insert_rows(Allocation, ("line_id", "stock_level_id", "quantity"), new, return_ids=False)
        # (The dirty sets hold the keys rows were planned under: a new row's placeholder is
        # negative. New rows were inserted with their outcome: only existing ones are updated.)
        update_rows(
            OrderLine,
            ("qty_allocated", "qty_backordered", "backorder_level_id"),
            [
                (ln.pk, ln.qty_allocated, ln.qty_backordered, ln.backorder_level_id)
                for ln in (self.lines[key] for key in self.dirty_lines if key > 0)
            ],
        )
        update_rows(
            Order,
            ("status", "segment", "updated_at"),
            [
                (o.pk, o.status, o.segment, self.now)
                for o in (self.orders[key] for key in self.dirty_orders if key > 0)
            ],
        )
        user_id = self.user_id
        insert_rows(
            OrderEvent,
            ("order_id", "kind", "from_status", "to_status", "message", "user_id"),
            [
                (e.order.pk, ALLOCATION, e.from_status, e.to_status, e.message, user_id)
                for e in self.events
            ],
            return_ids=False,
        )
        status_changes_announce(
            [(e.order.pk, e.from_status, e.to_status) for e in self.events if e.to_status]
        )
        # Every order this plan released passes the payment/credit gate in this transaction.
        release_gate(
            order_ids=[e.order.pk for e in self.events if e.to_status == Order.Status.READY],
            user=self.user,
        )
