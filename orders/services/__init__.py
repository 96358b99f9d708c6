"""Order services: every write that changes an order's business state goes through here."""

from orders.services.allocation import (
    AllocationReport,
    backorders_fill,
    orders_allocate,
    orders_allocate_in_priority_order,
    priority_key,
)
from orders.services.intake import (
    LineInput,
    OrderInput,
    compute_ship_by,
    orders_create_batch,
    validate_order_input,
)
from orders.services.lifecycle import (
    order_add_note,
    order_assign,
    order_cancel,
    order_create,
    order_expedite,
    order_hold,
    order_move,
    order_reallocate,
    order_release,
    order_take_next,
)
from orders.services.priority import order_refresh_priority, priorities_refresh
from orders.services.status import TRANSITIONS, check_transition

__all__ = [
    "TRANSITIONS",
    "AllocationReport",
    "LineInput",
    "OrderInput",
    "backorders_fill",
    "check_transition",
    "compute_ship_by",
    "order_add_note",
    "order_assign",
    "order_cancel",
    "order_create",
    "order_expedite",
    "order_hold",
    "order_move",
    "order_reallocate",
    "order_refresh_priority",
    "order_release",
    "order_take_next",
    "orders_allocate",
    "orders_allocate_in_priority_order",
    "orders_create_batch",
    "priorities_refresh",
    "priority_key",
    "validate_order_input",
]
