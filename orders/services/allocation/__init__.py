"""Allocation: which order gets which unit of stock, decided by priority.

The algorithm, step by step (one transaction per call; see inventory.services for the lock
order every write in the product follows):

1. Find the products whose lines need stock, make sure each has a stock level (demand needs
   somewhere to be counted), and **lock all their stock levels** in primary-key order.
2. Lock the orders (primary-key order) and re-read their lines: from here on nothing else can
   change these quantities until we commit.
3. Walk the orders **most urgent first** (priority score, then promise, then age, then id).
   For each order:
   a. Its uncovered need per product is ``open − allocated``; previous backorder counts are
      taken back first and re-decided below.
   b. If one active warehouse can cover the whole need, reserve everything there (preferring a
      warehouse that already holds part of the order). Otherwise take warehouses in order of
      how much of the order they can cover, so the order is split over as few as possible.
   c. Still short? Take units reserved for **less urgent** orders that are not yet on the
      floor (``ready``/``backordered``), least urgent first; those orders become backordered
      and get a timeline entry. Scarce stock therefore ends up with the most urgent orders
      whatever order requests arrive in.
   d. What is left is backordered: on the line, and on a stock level's ``backordered``.
   e. Fully covered → ``ready``; anything backordered → ``backordered``.
4. Write everything in bulk: stock levels (through ``inventory.services``, which checks
   ``allocated ≤ on_hand``; the CHECK constraint is the last line of defence), allocations,
   lines, orders, timeline rows.

``orders_allocate`` is used for one order (create, release, manual re-run) and for batches
(imports, benchmarks) alike; ``backorders_fill`` runs it over waiting orders when stock arrives.
Orders being created (``orders.services.intake``) are planned before they are inserted:
``allocation_plan(new_orders=…)`` decides, the caller inserts them with the outcome, then
``plan.bind_inserted(order_ids=…, line_ids=…)`` and ``plan.write()``.

Where each step lives:

- ``rows``: the engine's plain rows (named, slotted; one declared column list each);
- ``plan``: :class:`AllocationPlan`, the state of one transaction, its moves, binding and
  the write (step 4; stock levels through ``inventory.services``);
- ``services``: :func:`allocation_plan` (steps 1–2 and the loop of step 3) and the services;
- ``decide``: step 3 for one order (warehouses, pre-emption, backorder, status);
- ``victims``: finding and locking the reservations pre-emption may take (step 3c).
"""

from orders.services.allocation.plan import AllocationPlan, AllocationReport
from orders.services.allocation.rows import NewOrderDemand, priority_key
from orders.services.allocation.services import (
    allocation_plan,
    backorders_fill,
    orders_allocate,
    orders_allocate_in_priority_order,
)

__all__ = [
    "AllocationPlan",
    "AllocationReport",
    "NewOrderDemand",
    "allocation_plan",
    "backorders_fill",
    "orders_allocate",
    "orders_allocate_in_priority_order",
    "priority_key",
]
