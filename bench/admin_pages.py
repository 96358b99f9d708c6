"""Admin pages at scale: the agent's order queue and order page over a 1,000,000-order backlog.

Data set: ``bench.generate_backlog`` (``python -m bench generate_backlog --orders N``;
``--admin-orders``, default 1,000,000: ≈ 3 M lines, 5 clients, 20,000 SKUs, orders in every
status, see that module). It is reused
when the database already holds exactly that backlog (same order count, the ``GEN*`` clients
and ``bench_agent``), so a second run starts measuring at once; ``--admin-regenerate`` builds
it again. Other benchmarks wipe the database, so run this one alone to reuse the data.

Measured server-side, through Django's test ``Client`` (the whole middleware, view and template
stack, no network) logged in as ``bench_agent``, an agent of the largest client (≈ 44 % of the
orders), each page ``--admin-warmup`` times, then ``--admin-repeat`` times timed:

- the order changelist: the default queue, every work queue (``?queue=…``), and searches by
  order number, SKU and customer name;
- order pages (the change view with breakdown, lines, allocations and timeline) of orders in
  several statuses, with one line and with six.

For each page: median and p95 wall-clock ms, the mean CPU ms per request (this process plus
its PostgreSQL backend: what the page costs, less disturbed than wall time when other work
shares the machine) and the number of SQL statements. N+1 check: the
changelist's statement count must be the same with ``list_per_page`` 50 and 200, and the order
page's the same for an order of one line and one of six (the run fails otherwise). For
comparison, a few of the same pages for ``bench_supervisor`` (all clients).

Baseline, same run and data: the same changelists through stock-Django settings — the default
``Paginator`` (full ``COUNT(*)``), ``show_full_result_count = True`` (a second count),
``units`` summed with a JOIN + GROUP BY instead of per-row subqueries, and the default
``search_fields`` search (``ILIKE '%…%'`` over number, customer name/e-mail and SKU, with
DISTINCT) — and the ratio to the optimised page. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from bench.common import heading, row

HELP = (
    "agent's order queue (every work queue, searches) and order page at 1M orders: "
    "median/p95 ms, SQL statements, N+1 check, stock-admin baseline"
)

QUEUES = (
    "open",
    "mine",
    "unassigned",
    "due_today",
    "overdue",
    "at_risk",
    "backordered",
    "on_hold",
    "expedited",
    "closed",
    "all",
)
TARGET_MS = 150.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--admin-orders",
        type=int,
        default=1_000_000,
        help="orders in the generated backlog (default %(default)s)",
    )
    group.add_argument(
        "--admin-repeat", type=int, default=15, help="timed requests per page (default %(default)s)"
    )
    group.add_argument(
        "--admin-warmup", type=int, default=2, help="untimed requests first (default %(default)s)"
    )
    group.add_argument(
        "--admin-baseline-repeat",
        type=int,
        default=3,
        help="timed requests per baseline page, 0 to skip the baseline (default %(default)s)",
    )
    group.add_argument(
        "--admin-regenerate",
        action="store_true",
        help="generate the backlog again even if the database holds one of that size",
    )
    group.add_argument(
        "--admin-search-only",
        action="store_true",
        help="measure only the default queue and the searches (and the search before #18)",
    )
    group.add_argument(
        "--admin-explain",
        action="store_true",
        help="print the slowest SQL statement of each page with EXPLAIN ANALYZE",
    )


# -- data ---------------------------------------------------------------------------------------
def _backlog_present(orders: int) -> bool:
    from django.contrib.auth import get_user_model

    from bench.generate_backlog import AGENT_USERNAME, CODE_PREFIX
    from clients.models import Membership
    from orders.models import Order

    agent = get_user_model().objects.filter(username=AGENT_USERNAME).first()
    return (
        agent is not None
        and Membership.objects.filter(user=agent, client__code=f"{CODE_PREFIX}01").exists()
        and Order.objects.count() == orders
    )


def ensure_backlog(orders: int, regenerate: bool) -> None:
    from bench.generate_backlog import generate_backlog

    heading(f"Data set: generate_backlog --orders {orders:,}")
    if not regenerate and _backlog_present(orders):
        row("backlog", "reused (already in the database)")
        return
    started = time.perf_counter()
    generate_backlog(orders=orders, flush=True)
    row("generated in", time.perf_counter() - started, "s")


@dataclass
class Targets:
    agent: object
    client: object
    orders_total: int
    orders_client: int
    open_client: int
    number: str
    sku: str  # of median popularity
    sku_lines: int
    popular_sku: str  # among the ten most ordered
    popular_sku_lines: int
    customer_name: str
    customer_email: str = ""
    customer_phone: str = ""
    product_name: str = ""
    order_pages: list[tuple[str, int]] = field(default_factory=list)
    one_line_order: int = 0
    six_line_order: int = 0


def pick_targets() -> Targets:
    """The agent, and real values of their client to search for and open."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from bench.generate_backlog import AGENT_USERNAME, CODE_PREFIX
    from clients.models import Client
    from inventory.models import Product
    from orders.models import CLOSED_STATUSES, Customer, Order, OrderLine

    agent = get_user_model().objects.get(username=AGENT_USERNAME)
    client = Client.objects.get(code=f"{CODE_PREFIX}01")
    mine = Order.objects.filter(client=client)
    open_orders = mine.exclude(status__in=CLOSED_STATUSES)
    # A mid-queue open order; a SKU of median popularity and a popular one (the 10th most
    # ordered, in a sample of recent orders); a customer with orders (names repeat, as real
    # ones do: the search finds every namesake).
    open_count = open_orders.count()
    ranked = open_orders.order_by("-priority_score", "id").values_list("number", flat=True)
    number = ranked[min(1_000, open_count // 2)]
    recent = mine.order_by("-id").values("id")[:20_000]
    sample = (
        OrderLine.objects.filter(order_id__in=recent)
        .values("product__sku")
        .annotate(n=Count("id"))
        .order_by("-n", "product__sku")
    )
    skus = [r["product__sku"] for r in sample]
    sku, popular_sku = skus[len(skus) // 2], skus[min(9, len(skus) - 1)]

    def lines_of(sku: str) -> int:
        return OrderLine.objects.filter(product__sku=sku, product__client=client).count()

    customer = Customer.objects.filter(client=client, orders__status="ready").first()
    _ensure_phones()
    customer.refresh_from_db()
    product_name = (
        Product.objects.filter(client=client, sku=sku).values_list("name", flat=True).first()
    )
    pages = []
    for status in ("ready", "backordered", "picking", "on_hold", "delivered"):
        order = mine.filter(status=status).order_by("-id").values_list("id", flat=True).first()
        if order:
            pages.append((status, order))
    six = (
        OrderLine.objects.filter(order__client=client, line_no=6, order__status="ready")
        .order_by("-order_id")
        .values_list("order_id", flat=True)
        .first()
    )
    recent = list(mine.filter(status="ready").order_by("-id").values_list("id", flat=True)[:200])
    with_two = set(
        OrderLine.objects.filter(order_id__in=recent, line_no=2).values_list("order_id", flat=True)
    )
    one = next(i for i in recent if i not in with_two)
    return Targets(
        agent=agent,
        client=client,
        orders_total=Order.objects.count(),
        orders_client=mine.count(),
        open_client=open_count,
        number=number,
        sku=sku,
        sku_lines=lines_of(sku),
        popular_sku=popular_sku,
        popular_sku_lines=lines_of(popular_sku),
        customer_name=customer.name,
        customer_email=customer.email,
        customer_phone=customer.phone,
        product_name=product_name,
        order_pages=pages,
        one_line_order=one,
        six_line_order=six,
    )


def _ensure_phones() -> None:
    """Give the generated customers phone numbers (the generator leaves them empty) so the
    phone search has something to find: ``+1 555 NNNNNNN`` from the id. Idempotent."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_customer SET phone = '+1 555 ' || lpad(id::text, 7, '0') "
            "WHERE phone = ''"
        )
        if cursor.rowcount:
            cursor.execute("ANALYZE orders_customer")


def _typed_phone(phone: str) -> str:
    """The same number as an agent might type it: other punctuation, no country code."""
    digits = "".join(ch for ch in phone if ch.isdigit())[1:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


# -- measuring ----------------------------------------------------------------------------------
@dataclass
class Result:
    label: str
    times: list[float]
    queries: int
    rows: int
    status: int
    cpu: float = 0.0  # mean CPU seconds per request: this process + our PostgreSQL backend
    db_cpu: float = 0.0  # of which the PostgreSQL backend
    slowest: list[tuple[float, str]] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.times)
        return ordered[max(0, round(0.95 * len(ordered) + 0.5) - 1)] * 1000


def _rows(content: bytes) -> int:
    return content.count(b'class="field-number"')


def measure_page(client, label: str, url: str, repeat: int, warmup: int) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.common import measure

    for _ in range(warmup):
        client.get(url)
    times, cpu, db_cpu = [], 0.0, 0.0
    for _ in range(repeat):
        with measure() as m:
            response = client.get(url)
        times.append(m.seconds)
        cpu += m.cpu + (m.db_cpu or 0.0)
        db_cpu += m.db_cpu or 0.0
    # Count the statements in one more request (query logging on only for that one).
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    slowest = sorted(((float(q["time"]), q["sql"]) for q in ctx.captured_queries), reverse=True)
    return Result(
        label=label,
        times=times,
        queries=len(ctx),
        rows=_rows(response.content),
        status=response.status_code,
        cpu=cpu / max(repeat, 1),
        db_cpu=db_cpu / max(repeat, 1),
        slowest=slowest[:3],
    )


def count_queries(client, url: str) -> tuple[int, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return len(ctx), _rows(response.content), response.status_code


@contextmanager
def per_page(model_admin, n: int):
    saved = model_admin.list_per_page
    model_admin.list_per_page = n
    try:
        yield
    finally:
        model_admin.list_per_page = saved


@contextmanager
def stock_admin(model_admin):
    """The same OrderAdmin with stock-Django list machinery (the baseline)."""
    from unittest import mock

    from django.contrib import admin
    from django.contrib.admin.views.main import ChangeList
    from django.core.paginator import Paginator
    from django.db.models import Sum

    class JoinChangeList(ChangeList):
        def get_queryset(self, request, exclude_parameters=None):
            qs = super().get_queryset(request, exclude_parameters)
            return qs.annotate(
                units_allocated=Sum("lines__qty_allocated"),
                units_backordered=Sum("lines__qty_backordered"),
            )

    def get_search_results(request, queryset, search_term):
        return admin.ModelAdmin.get_search_results(model_admin, request, queryset, search_term)

    with ExitStack() as stack:
        for name, value in {
            "paginator": Paginator,
            "show_full_result_count": True,
            "search_fields": ("number", "customer__name", "customer__email", "lines__product__sku"),
            "get_search_results": get_search_results,
            "get_changelist": lambda request, **kwargs: JoinChangeList,
        }.items():
            stack.enter_context(mock.patch.object(model_admin, name, value, create=True))
        yield


@contextmanager
def previous_search(model_admin):
    """The queue's search before issue #18 (exact number, customer name contains or e-mail
    exact, exact SKU; a UNION of ids, case-sensitive number and SKU): the "before" figures."""
    from unittest import mock

    from django.db.models import Q

    from clients.scoping import client_ids_for
    from orders.models import Customer, Order, OrderLine

    def get_search_results(request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        customers = Customer.objects.filter(Q(name__icontains=term) | Q(email__iexact=term))
        ids = client_ids_for(request.user)
        if ids is not None:
            customers = customers.filter(client_id__in=ids)
        lines = OrderLine.objects.filter(product__sku=term)
        if ids is not None:
            lines = lines.filter(product__client_id__in=ids)
        matches = (
            queryset.order_by()
            .filter(number=term)
            .values("id")
            .union(
                Order.objects.order_by()
                .filter(customer_id__in=customers.values("id"))
                .values("id"),
                lines.order_by().values("order_id"),
            )
        )
        return queryset.filter(id__in=matches), False

    with mock.patch.object(model_admin, "get_search_results", get_search_results):
        yield


def _explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return [r[0] for r in cursor.fetchall()]


def _print_table(results: list[Result], per_200: dict[str, tuple[int, int]] | None) -> None:
    head = (
        f"  {'page':<34} {'median ms':>9} {'p95 ms':>8} {'CPU ms':>7} {'(db)':>5} "
        f"{'queries':>8} {'rows':>5}"
    )
    if per_200 is not None:
        head += f" {'queries@200':>12} {'rows@200':>9}"
    print(head)
    for r in results:
        flag = "" if r.median_ms <= TARGET_MS else f"  > {TARGET_MS:.0f} ms"
        if r.status != 200:
            flag += f"  HTTP {r.status}"
        line = (
            f"  {r.label:<34} {r.median_ms:9.1f} {r.p95_ms:8.1f} {r.cpu * 1000:7.1f} "
            f"{r.db_cpu * 1000:5.0f} {r.queries:8d} {r.rows if r.rows else '':>5}"
        )
        if per_200 is not None and r.label in per_200:
            q200, rows200 = per_200[r.label]
            line += f" {q200:12d} {rows200:9d}"
        print(line + flag, flush=True)


# -- the benchmark ------------------------------------------------------------------------------
def _search_before_and_now(client, model_admin, lists, list_results, args) -> bool:
    heading(
        "Search before issue #18 (exact, case-sensitive number and SKU) beside the search now; "
        f"{args.admin_warmup} warm-up + {args.admin_repeat} timed requests"
    )
    ours = {r.label: r for r in list_results}
    with previous_search(model_admin):
        before = [
            measure_page(client, label, url, args.admin_repeat, args.admin_warmup)
            for label, url in lists
            if label.startswith("search:")
        ]
    print(
        f"  {'search':<34} {'before ms':>9} {'CPU':>6} {'rows':>5} {'now ms':>8} {'CPU':>6} "
        f"{'rows':>5} {'now/before':>10}"
    )
    for r in before:
        now = ours[r.label]
        print(
            f"  {r.label:<34} {r.median_ms:9.1f} {r.cpu * 1000:6.1f} {r.rows:5d} "
            f"{now.median_ms:8.1f} {now.cpu * 1000:6.1f} {now.rows:5d} "
            f"{now.median_ms / r.median_ms:9.2f}x",
            flush=True,
        )
    searches = [r for r in list_results if r.label.startswith("search:")]
    row(
        f"searches with median <= {TARGET_MS:.0f} ms",
        f"{sum(r.median_ms <= TARGET_MS for r in searches)} of {len(searches)}",
    )

    return True


def run(args) -> bool:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from bench.generate_backlog import SUPERVISOR_USERNAME
    from orders.models import Order

    ensure_backlog(args.admin_orders, args.admin_regenerate)
    t = pick_targets()
    row("orders / of the agent's client", f"{t.orders_total:,} / {t.orders_client:,}")
    row("open orders of the agent's client", t.open_client)
    row("searched: order number", t.number)
    row("searched: SKU (lines with it)", f"{t.sku} ({t.sku_lines:,})")
    row("searched: popular SKU (lines with it)", f"{t.popular_sku} ({t.popular_sku_lines:,})")
    row("searched: customer name", t.customer_name)
    row(
        "searched: customer e-mail / phone",
        f"{t.customer_email} / {_typed_phone(t.customer_phone)}",
    )
    row("searched: product name", t.product_name)

    model_admin = admin.site._registry[Order]
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(t.agent)
    changelist = reverse("admin:orders_order_changelist")

    lists: list[tuple[str, str]] = [("queue: default (open)", changelist)]
    lists += [(f"queue: {q}", f"{changelist}?{urlencode({'queue': q})}") for q in QUEUES]
    lists += [
        ("search: order number", f"{changelist}?{urlencode({'q': t.number})}"),
        ("search: SKU", f"{changelist}?{urlencode({'q': t.sku})}"),
        ("search: popular SKU", f"{changelist}?{urlencode({'q': t.popular_sku})}"),
        ("search: customer name", f"{changelist}?{urlencode({'q': t.customer_name})}"),
        (
            "search: customer name, all queues",
            f"{changelist}?{urlencode({'q': t.customer_name, 'queue': 'all'})}",
        ),
        # issue #18: what people type
        ("search: number, no prefix", f"{changelist}?{urlencode({'q': t.number.split('-')[-1]})}"),
        ("search: number, lower case", f"{changelist}?{urlencode({'q': t.number.lower()})}"),
        ("search: #number (Shopify)", f"{changelist}?{urlencode({'q': '#' + t.number})}"),
        ("search: SKU, lower case", f"{changelist}?{urlencode({'q': t.sku.lower()})}"),
        ("search: product name", f"{changelist}?{urlencode({'q': t.product_name})}"),
        ("search: customer e-mail", f"{changelist}?{urlencode({'q': t.customer_email})}"),
        (
            "search: customer phone",
            f"{changelist}?{urlencode({'q': _typed_phone(t.customer_phone)})}",
        ),
        ("search: no match (b9001)", f"{changelist}?{urlencode({'q': 'b9001'})}"),
        ("home page (panels, bounded counts)", reverse("admin:index")),
    ]
    pages = [
        (f"order page: {status}", reverse("admin:orders_order_change", args=[pk]))
        for status, pk in t.order_pages
    ]
    pages += [
        ("order page: 1 line", reverse("admin:orders_order_change", args=[t.one_line_order])),
        ("order page: 6 lines", reverse("admin:orders_order_change", args=[t.six_line_order])),
    ]

    if args.admin_search_only:
        lists = [
            (lb, u)
            for lb, u in lists
            if lb == "queue: default (open)" or "search" in lb or lb.startswith("home")
        ]
        pages = []

    ok = True
    heading(
        f"Agent {t.agent.username} ({t.client.code}): changelist, list_per_page "
        f"{model_admin.list_per_page} ({args.admin_warmup} warm-up + {args.admin_repeat} timed "
        "requests per page)"
    )
    list_results = [
        measure_page(client, label, url, args.admin_repeat, args.admin_warmup)
        for label, url in lists
    ]
    per_200 = {}
    with per_page(model_admin, 200):
        for label, url in lists:
            queries, rows, _status = count_queries(client, url)
            per_200[label] = (queries, rows)
    _print_table(list_results, per_200)
    for r in list_results:
        q200, _ = per_200[r.label]
        if r.status != 200:
            ok = False
            print(f"  FAILED: {r.label} answered HTTP {r.status}")
        if q200 != r.queries:
            ok = False
            print(f"  FAILED (N+1?): {r.label}: {r.queries} queries at 50 rows, {q200} at 200")

    if args.admin_search_only:
        return _search_before_and_now(client, model_admin, lists, list_results, args) and ok
    heading("Order pages")
    page_results = [
        measure_page(client, label, url, args.admin_repeat, args.admin_warmup)
        for label, url in pages
    ]
    _print_table(page_results, None)
    by_label = {r.label: r for r in page_results}
    one, six = by_label["order page: 1 line"], by_label["order page: 6 lines"]
    if one.queries != six.queries:
        ok = False
        print(f"  FAILED (N+1?): order page: {one.queries} queries for 1 line, {six.queries} for 6")
    for r in page_results:
        if r.status != 200:
            ok = False
            print(f"  FAILED: {r.label} answered HTTP {r.status}")

    heading("For comparison: bench_supervisor (every client; not an agent's page)")
    supervisor = Client(SERVER_NAME="127.0.0.1")
    supervisor.force_login(get_user_model().objects.get(username=SUPERVISOR_USERNAME))
    _print_table(
        [
            measure_page(supervisor, f"supervisor {label}", url, args.admin_repeat, 1)
            for label, url in lists
            if label
            in ("queue: default (open)", "queue: all", "search: SKU", "search: customer name")
        ],
        None,
    )

    everything = list_results + page_results
    medians = [r.median_ms for r in everything]
    row("pages measured", len(everything))
    row(f"pages with median <= {TARGET_MS:.0f} ms", sum(m <= TARGET_MS for m in medians))
    row("slowest median", max(medians), "ms")

    if args.admin_explain:
        heading("Slowest statement per page (EXPLAIN ANALYZE)")
        for r in everything:
            seconds, sql = r.slowest[0]
            print(f"\n-- {r.label}: {seconds * 1000:.1f} ms\n{sql}")
            for line in _explain(sql):
                print(f"   {line}")

    _search_before_and_now(client, model_admin, lists, list_results, args)

    if args.admin_baseline_repeat:
        heading(
            "Baseline: stock admin list machinery (Paginator COUNT, show_full_result_count, "
            f"JOIN + GROUP BY totals, ILIKE search); 1 warm-up + {args.admin_baseline_repeat} "
            "timed requests"
        )
        picked = {
            "queue: default (open)",
            "queue: on_hold",
            "queue: all",
            "search: customer name",
            "search: SKU",
        }
        ours = {r.label: r for r in list_results}
        with stock_admin(model_admin):
            base = [
                measure_page(client, label, url, args.admin_baseline_repeat, 1)
                for label, url in lists
                if label in picked
            ]
        print(
            f"  {'page':<34} {'baseline ms':>11} {'queries':>8} {'optimised ms':>12} {'ratio':>7}"
        )
        for r in base:
            mine = ours[r.label]
            print(
                f"  {r.label:<34} {r.median_ms:11.1f} {r.queries:8d} {mine.median_ms:12.1f} "
                f"{r.median_ms / mine.median_ms:6.1f}x",
                flush=True,
            )
    return ok
