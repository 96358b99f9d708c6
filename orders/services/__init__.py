"""Order services: every write that changes an order's business state goes through here."""

from orders.services.allocation import (
    AllocationReport,
    backorders_fill,
    orders_allocate,
    orders_allocate_in_priority_order,
    priority_key,
)
from orders.services.customers import (
    CustomerDetails,
    customer_match_or_create,
    customers_match_or_create,
)
from orders.services.expected import backorders_expected_refresh
from orders.services.intake import (
    LineInput,
    OrderInput,
    OrderProblem,
    compute_ship_by,
    order_input_problems,
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
from orders.services.shipping import (
    SHIPPABLE_STATUSES,
    ShippedUnits,
    ShipResult,
    order_clear_exception,
    order_flag_delay,
    order_mark_delivered,
    order_ship_lines,
    orders_flag_exception,
    orders_mark_delivered,
    orders_start_picking,
)
from orders.services.status import TRANSITIONS, check_transition

__all__ = [
    "SHIPPABLE_STATUSES",
    "TRANSITIONS",
    "AllocationReport",
    "CustomerDetails",
    "LineInput",
    "OrderInput",
    "OrderProblem",
    "ShipResult",
    "ShippedUnits",
    "backorders_expected_refresh",
    "backorders_fill",
    "check_transition",
    "compute_ship_by",
    "customer_match_or_create",
    "customers_match_or_create",
    "order_add_note",
    "order_assign",
    "order_cancel",
    "order_clear_exception",
    "order_create",
    "order_expedite",
    "order_flag_delay",
    "order_hold",
    "order_input_problems",
    "order_mark_delivered",
    "order_move",
    "order_reallocate",
    "order_refresh_priority",
    "order_release",
    "order_ship_lines",
    "order_take_next",
    "orders_allocate",
    "orders_allocate_in_priority_order",
    "orders_create_batch",
    "orders_flag_exception",
    "orders_mark_delivered",
    "orders_start_picking",
    "priorities_refresh",
    "priority_key",
    "validate_order_input",
]
