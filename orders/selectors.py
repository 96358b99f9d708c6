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


# -- phone numbers, as people type them ----------------------------------------------------------
_PHONE_PUNCTUATION = (" ", "-", "(", ")", "+", ".", "/")


def phone_digits_of(text: str) -> str:
    """The digits of a typed phone number, if it looks like one (at least 5 digits, nothing
    but digits and phone punctuation); else ``""``."""
    text = text.strip()
    if not text or any(not (ch.isdigit() or ch in _PHONE_PUNCTUATION) for ch in text):
        return ""
    digits = "".join(ch for ch in text if ch.isdigit())
    return digits if len(digits) >= 5 else ""


def phone_digits(field: str = "phone"):
    """The column ``field`` without phone punctuation, as a database expression (the
    expression of the customers' trigram phone index on PostgreSQL, so keep them in step)."""
    from django.db.models import F, Value
    from django.db.models.functions import Replace

    expression = F(field)
    for ch in _PHONE_PUNCTUATION:
        expression = Replace(expression, Value(ch), Value(""))
    return expression


# -- order entry (keyed-in orders) ---------------------------------------------------------------
def products_with_stock(*, client_id: int, term: str = "", skus=(), limit: int = 10) -> list[dict]:
    """Active products of one client whose SKU or name contains ``term`` (SKU prefix matches
    first), or exactly ``skus``; each with what is available now per warehouse. Two queries."""
    from django.db.models import Case, Q, Value, When

    from inventory.models import Product, StockLevel

    products = Product.objects.filter(client_id=client_id, active=True)
    if skus:
        products = products.filter(sku__in=list(skus))
    else:
        term = term.strip()
        if not term:
            return []
        products = products.filter(Q(sku__icontains=term) | Q(name__icontains=term)).annotate(
            rank=Case(When(sku__istartswith=term, then=Value(0)), default=Value(1))
        )
        products = products.order_by("rank", "sku")
    found = list(products.values("id", "sku", "name")[:limit])
    levels: dict[int, list[dict]] = {}
    for product_id, code, on_hand, allocated in (
        StockLevel.objects.filter(product_id__in=[p["id"] for p in found])
        .order_by("warehouse__code")
        .values_list("product_id", "warehouse__code", "on_hand", "allocated")
    ):
        levels.setdefault(product_id, []).append(
            {"warehouse": code, "available": max(on_hand - allocated, 0)}
        )
    for product in found:
        product["stock"] = levels.get(product["id"], [])
        product["available"] = sum(level["available"] for level in product["stock"])
    return found


def customers_matching(*, client_id: int, term: str, limit: int = 10) -> list[dict]:
    """One client's customers whose name, e-mail or phone contains ``term`` (case-insensitive)."""
    from django.db.models import Q

    from orders.models import Customer

    term = term.strip()
    if len(term) < 2:
        return []
    condition = Q(name__icontains=term) | Q(email__icontains=term)
    digits = phone_digits_of(term)
    customers = Customer.objects.filter(client_id=client_id)
    if digits:
        customers = customers.alias(phone_digits=phone_digits())
        condition |= Q(phone_digits__contains=digits)
    return list(
        customers.filter(condition)
        .order_by("name", "id")
        .values("id", "name", "email", "phone", "tier")[:limit]
    )


# -- the queue's search --------------------------------------------------------------------------
def order_ids_matching(term: str, *, client_ids=None) -> QuerySet:
    """Ids of the orders (of ``client_ids``; None: all) that ``term`` finds, as a subquery:
    the way people type it, case-insensitive.

    - an order number, with or without the client's prefix or Shopify's ``#``: ``100104``
      finds ``ACME-100104``, ``acme-0034`` finds ``ACME-0034``, ``b9001`` finds ``#B9001``;
    - a SKU (exactly) or a product name (contains);
    - a customer's name or e-mail (contains) or phone (its digits, however punctuated).

    A UNION of order ids, one indexed part each (never one OR across tables, which no index
    serves): on PostgreSQL the indexes of migration ``orders 0010`` serve the numbers (a
    B-tree on the reversed number: equality and prefix) and the customers' ``UPPER(…) LIKE``
    (trigrams); the products of the user's clients are few and scanned; ``line_product_order_idx``
    the products' lines and the customer foreign key the customers' orders. Terms shorter than
    three characters match whole order numbers and SKUs only (a trigram needs three). On
    SQLite the same queries scan the tables.
    """
    from django.db.models import Q
    from django.db.models.functions import Reverse, Upper

    from inventory.models import Product
    from orders.models import Customer

    term = " ".join(term.split())
    bare = term.lstrip("#").strip()
    orders = Order.objects.order_by()
    customers = Customer.objects.order_by()
    products = Product.objects.order_by()
    if client_ids is not None:
        orders = orders.filter(client_id__in=client_ids)
        customers = customers.filter(client_id__in=client_ids)
        products = products.filter(client_id__in=client_ids)
    if not bare:
        return orders.none().values("id")
    # The number reversed: a whole number and a number's tail after '-' or '#' are an equality
    # and prefix searches there (the B-tree order_number_rev_idx on PostgreSQL).
    key = bare.upper()
    number = Q(number_reversed=key[::-1]) | Q(number_reversed__startswith=f"#{key}"[::-1])
    if len(bare) >= 3:
        number |= Q(number_reversed__startswith=f"-{key}"[::-1])
    orders = orders.alias(number_reversed=Reverse(Upper("number")))
    product = Q(sku__iexact=term)
    if len(term) >= 3:
        product |= Q(name__icontains=term)  # the products of a few clients: a short scan
    found = (
        orders.filter(number)
        .values("id")
        .union(
            OrderLine.objects.order_by()
            .filter(product_id__in=products.filter(product).values("id"))
            .values("order_id")
        )
    )
    if len(term) >= 3:
        # Names and e-mail addresses are searched for terms with a letter (digits alone are an
        # order number or a phone: their trigrams are everywhere in generated e-mail addresses).
        person = Q(name__icontains=term) | Q(email__icontains=term)
        if not any(ch.isalpha() for ch in term):
            person = Q(pk__in=[])
        digits = phone_digits_of(term)
        if digits:
            customers = customers.alias(phone_digits=phone_digits())
            person |= Q(phone_digits__contains=digits)
        found = found.union(
            Order.objects.order_by()
            .filter(customer_id__in=customers.filter(person).values("id"))
            .values("id")
        )
    return found
