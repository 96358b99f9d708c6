"""Reads with logic for the order queue, order page and product page."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from clients.scoping import scope_queryset
from orders.models import CLOSED_STATUSES, Allocation, Order, OrderEvent, OrderLine

# Statuses an agent can move forward; on-hold orders wait for a release, not for a taker.
WORKABLE_STATUSES = ("new", "ready", "backordered", "picking", "packed")


def orders_visible_to(user) -> QuerySet[Order]:
    return scope_queryset(Order.objects.all(), user)


def open_orders(qs: QuerySet[Order]) -> QuerySet[Order]:
    return qs.exclude(status__in=CLOSED_STATUSES)


def with_line_totals(qs: QuerySet[Order]) -> QuerySet[Order]:
    """Annotate units allocated/backordered per order with correlated subqueries.

    Subqueries (not JOIN + GROUP BY) so that the database computes them only for the rows of
    the page after ORDER BY … LIMIT, not for the whole million-order backlog.
    """

    def total(field: str):
        return Coalesce(
            Subquery(
                # order_by(): OrderLine's default ordering would join orders in every subquery.
                OrderLine.objects.filter(order_id=OuterRef("pk"))
                .order_by()
                .values("order_id")
                .annotate(s=Sum(field))
                .values("s")[:1],
                output_field=IntegerField(),
            ),
            0,
        )

    return qs.annotate(
        units_allocated=total("qty_allocated"), units_backordered=total("qty_backordered")
    )


def today_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = timezone.localtime(now or timezone.now())
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def order_lines_with_allocations(order: Order) -> list[OrderLine]:
    """Lines with their allocations (and warehouse codes) prefetched: two queries."""
    lines = list(order.lines.select_related("product", "backorder_level__warehouse"))
    by_line: dict[int, list[Allocation]] = {}
    for alloc in Allocation.objects.filter(line__order=order).select_related(
        "stock_level__warehouse"
    ):
        by_line.setdefault(alloc.line_id, []).append(alloc)
    for line in lines:
        line.allocation_list = by_line.get(line.pk, [])
    return lines


def order_timeline(order: Order, limit: int = 200) -> list[OrderEvent]:
    return list(order.events.select_related("user").order_by("-id")[:limit])


def orders_waiting_for_product(product_id: int, limit: int = 200) -> list[OrderLine]:
    """Backordered lines of a product in the order they will be served (priority, promise, age)."""
    return list(
        OrderLine.objects.filter(
            product_id=product_id, qty_backordered__gt=0, order__status="backordered"
        )
        .select_related("order", "order__customer")
        .order_by("-order__priority_score", "order__ship_by", "order__placed_at", "order__id")[
            :limit
        ]
    )


def daily_demand_stats(*, since, until, product_ids=None) -> dict:
    """Demand history for replenishment (registered with :mod:`inventory.demand`).

    Per product, over the UTC days ``since ≤ day < until`` of the orders' ``placed_at``: the
    sum of daily demand and the sum of its squares. Demand of a line = ordered − cancelled
    (shipped and still open alike, backorders included); cancelled orders do not count. One
    query, whatever the number of products: the daily totals are grouped in a subquery and
    summed (and squared) by the database.
    """
    from datetime import UTC, datetime, time

    from django.db import connection
    from django.db.models import F
    from django.db.models.functions import TruncDate

    from inventory.demand import DemandTotals

    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until, time.min, tzinfo=UTC)
    lines = OrderLine.objects.filter(order__placed_at__gte=start, order__placed_at__lt=end).exclude(
        order__status=Order.Status.CANCELLED
    )
    if product_ids is not None:
        lines = lines.filter(product_id__anyof=list(product_ids))
    daily = (
        lines.annotate(day=TruncDate("order__placed_at", tzinfo=UTC))
        .values("product_id", "day")
        .annotate(units=Sum(F("quantity") - F("qty_cancelled")))
        .order_by()
        .values("product_id", "units")
    )
    inner, params = daily.query.sql_with_params()
    sql = (
        "SELECT d.product_id, SUM(d.units), SUM(d.units * d.units) "
        f"FROM ({inner}) AS d GROUP BY d.product_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {
            product_id: DemandTotals(float(total or 0), float(squares or 0))
            for product_id, total, squares in cursor.fetchall()
        }
