"""The allocation engine's rows: the columns it reads, as small named, mutable objects.

Building model instances for every order, line and stock level of a batch was most of the
engine's Python time (docs/benchmarks.md), so it reads the columns it needs with
``values_list`` into these slotted rows (one declared column list each) and writes back with
``core.bulk``. The decisions are the same either way.

``NewOrderDemand`` is what a caller creating orders hands the planner (see
``orders.services.intake``): an order that is not in the database yet, with its lines.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

# What the engine reads, in the order of each row type's constructor.
ORDER_COLUMNS = (
    "pk",
    "client_id",
    "number",
    "status",
    "priority_score",
    "ship_by",
    "placed_at",
    "expedite",
)
LEVEL_COLUMNS = ("pk", "product_id", "warehouse_id", "on_hand", "allocated", "backordered")
LINE_COLUMNS = (
    "pk",
    "order_id",
    "product_id",
    "quantity",
    "qty_shipped",
    "qty_cancelled",
    "qty_allocated",
    "qty_backordered",
    "backorder_level_id",
)
# Reservations held by other orders that pre-emption may take (see ``victims``).
RESERVATION_COLUMNS = ("pk", "line_id", "stock_level_id", "quantity", "line__order_id")

# Ties are broken by id, and an order not inserted yet will get a higher id than every
# existing one: its tie-break position is beyond any real id, in the order it was planned.
_NEW_ID_BASE = 2**62


def priority_key(order) -> tuple:
    """Sort key: smaller is more urgent (an ``Order`` or the engine's own order rows)."""
    return (-order.priority_score, order.ship_by, order.placed_at, order.pk)


class PlanLevel:
    """A stock level, locked for the whole transaction (``LEVEL_COLUMNS``)."""

    __slots__ = ("allocated", "backordered", "on_hand", "pk", "product_id", "warehouse_id")

    def __init__(self, pk, product_id, warehouse_id, on_hand, allocated, backordered):
        self.pk = pk
        self.product_id = product_id
        self.warehouse_id = warehouse_id
        self.on_hand = on_hand
        self.allocated = allocated
        self.backordered = backordered


class PlanLine:
    """An order line (``LINE_COLUMNS``): what is open, reserved and backordered, and where.

    After planning, ``qty_allocated``/``qty_backordered``/``backorder_level_id`` hold the
    outcome (for a new order's line: the values to insert it with)."""

    __slots__ = (
        "backorder_level_id",
        "order_id",
        "pk",
        "product_id",
        "qty_allocated",
        "qty_backordered",
        "qty_open",
    )

    def __init__(
        self, pk, order_id, product_id, quantity, shipped, cancelled, allocated, bo, bo_at
    ):
        self.pk = pk
        self.order_id = order_id
        self.product_id = product_id
        self.qty_open = quantity - shipped - cancelled
        self.qty_allocated = allocated
        self.qty_backordered = bo
        self.backorder_level_id = bo_at


class PlanOrder:
    """An order (``ORDER_COLUMNS``) with its sort ``key``; after planning, ``status`` and
    ``segment`` hold the outcome (``segment`` is None when the status did not change)."""

    __slots__ = (
        "client_id",
        "expedite",
        "key",
        "number",
        "pk",
        "placed_at",
        "priority_score",
        "segment",
        "ship_by",
        "status",
    )

    def __init__(self, pk, client_id, number, status, score, ship_by, placed_at, expedite):
        self.pk = pk
        self.client_id = client_id
        self.number = number
        self.status = status
        self.segment = None
        self.priority_score = score
        self.ship_by = ship_by
        self.placed_at = placed_at
        self.expedite = expedite
        self.key = (-score, ship_by, placed_at, pk)

    @property
    def tie_break_id(self) -> int:
        """The id that breaks ties in ``key`` (for a new order: beyond every existing id)."""
        return self.key[-1]


class PlanReservation:
    """Units of one line reserved at one stock level (an ``Allocation`` row; ``pk`` is None
    for one the plan creates). ``line`` is the line's row, so that the id a new line gets
    on insert reaches its reservations when the plan is bound."""

    __slots__ = ("level", "line", "pk", "quantity")

    def __init__(self, pk, line: PlanLine, level: PlanLevel, quantity: int):
        self.pk = pk
        self.line = line
        self.level = level
        self.quantity = quantity


class PlanEvent(NamedTuple):
    """A timeline row the plan will write (kind ``allocation``, the plan's user)."""

    order: PlanOrder
    from_status: str
    to_status: str
    message: str


class NewOrderDemand(NamedTuple):
    """An order being created in the caller's transaction, not inserted yet: planned with the
    others (same priority order, may pre-empt less urgent ones) before its insert."""

    client_id: int
    number: str
    priority_score: int
    ship_by: datetime
    placed_at: datetime
    expedite: bool
    segment: str  # its segment as a new order (kept when planning leaves it new)
    lines: list[tuple[int, int]]  # (product id, quantity) per line, in line order


def new_order_row(position: int, demand: NewOrderDemand, status: str) -> PlanOrder:
    """The engine's row for a new order; ``position`` (1, 2, …) is its place in the batch and
    gives it a placeholder key (``-position``) until :meth:`AllocationPlan.bind_inserted`."""
    order = PlanOrder(
        -position,
        demand.client_id,
        demand.number,
        status,
        demand.priority_score,
        demand.ship_by,
        demand.placed_at,
        demand.expedite,
    )
    order.segment = demand.segment
    order.key = (-demand.priority_score, demand.ship_by, demand.placed_at, _NEW_ID_BASE + position)
    return order
