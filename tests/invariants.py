"""Whole-database stock and allocation invariants, checked after every scenario.

Read straight from the database (no cached instances), so a service that keeps a count right
in memory but writes it wrong is caught.
"""

from __future__ import annotations

from collections import defaultdict

from inventory.models import StockLevel, StockMovement
from orders.models import Allocation, Order, OrderLine


def assert_stock_invariants() -> None:
    """Fail with a precise message if any stock or allocation count disagrees with another."""
    alloc_by_line: dict[int, int] = defaultdict(int)
    alloc_by_level: dict[int, int] = defaultdict(int)
    for line_id, level_id, qty in Allocation.objects.values_list(
        "line_id", "stock_level_id", "quantity"
    ):
        assert qty > 0, f"allocation of line {line_id} at level {level_id} has quantity {qty}"
        alloc_by_line[line_id] += qty
        alloc_by_level[level_id] += qty

    ledger: dict[int, int] = defaultdict(int)
    for level_id, qty in StockMovement.objects.values_list("stock_level_id", "quantity"):
        ledger[level_id] += qty

    backordered_by_level: dict[int, int] = defaultdict(int)
    levels = {lv.pk: lv for lv in StockLevel.objects.all()}
    lines = OrderLine.objects.select_related("order")
    for line in lines:
        order = line.order
        where = f"order {order.number} line {line.line_no} ({order.status})"
        assert alloc_by_line[line.pk] == line.qty_allocated, (
            f"{where}: Allocation rows sum to {alloc_by_line[line.pk]}, "
            f"line says {line.qty_allocated}"
        )
        if line.qty_backordered:
            assert line.backorder_level_id is not None, f"{where}: backorder without a level"
            assert levels[line.backorder_level_id].product_id == line.product_id, (
                f"{where}: backorder counted on another product's level"
            )
            backordered_by_level[line.backorder_level_id] += line.qty_backordered
        if order.status in (Order.Status.CANCELLED, Order.Status.SHIPPED, Order.Status.DELIVERED):
            assert line.qty_allocated == line.qty_backordered == 0, f"{where}: closed but holds"
        elif order.status != Order.Status.NEW:
            assert line.qty_allocated + line.qty_backordered == line.qty_open, (
                f"{where}: allocated {line.qty_allocated} + backordered {line.qty_backordered}"
                f" != open {line.qty_open}"
            )
        if order.status == Order.Status.READY:
            assert line.qty_backordered == 0, f"{where}: ready with a backorder"

    for level in levels.values():
        assert 0 <= level.allocated <= level.on_hand, (
            f"{level}: allocated {level.allocated}, on hand {level.on_hand}"
        )
        assert ledger[level.pk] == level.on_hand, (
            f"{level}: ledger sums to {ledger[level.pk]}, on hand is {level.on_hand}"
        )
        assert alloc_by_level[level.pk] == level.allocated, (
            f"{level}: Allocation rows sum to {alloc_by_level[level.pk]}, "
            f"level says {level.allocated}"
        )
        assert backordered_by_level[level.pk] == level.backordered, (
            f"{level}: lines backorder {backordered_by_level[level.pk]}, "
            f"level says {level.backordered}"
        )

    for order in Order.objects.filter(status=Order.Status.BACKORDERED):
        assert order.lines.filter(qty_backordered__gt=0).exists(), (
            f"order {order.number} is backordered but no line waits for stock"
        )
