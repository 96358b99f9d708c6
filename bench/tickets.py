"""Support tickets at scale: the agent's ticket queue and ticket page, and the SLA/escalation
scan, over 1,000,000 tickets (300,000 open) in PostgreSQL.

Data (its own, loaded with ``COPY`` through ``core.bulk.insert_rows``; the database is wiped
first): 5 clients (the agent's client holds 40 % of the tickets), 100,000 customers (1 % VIP),
50,000 orders with lines, 1,000,000 tickets — 30 % active (new, open, pending customer,
pending internal) with stored due and risk moments around now, 70 % resolved or closed over
the past year — and one inbound message per ticket (more on the sampled tickets).

Measured through Django's test ``Client`` (whole middleware, view and template stack) as an
agent of the largest client, each page ``--tickets-warmup`` times untimed, then
``--tickets-repeat`` times: the queue (default open queue, every saved queue, searches by
ticket reference, e-mail, order number, customer name) and ticket pages (linked order with
lines, shipments, timeline; 1 and 11 messages). Median/p95 ms and SQL statements; the N+1
check requires the same statement count at 50 and 200 rows per page, and for 1 and 11 messages.

Baseline, same run and data: the stock ModelAdmin machinery — a plain ``ModelAdmin`` on its
own ``AdminSite`` (same client scoping, ``list_display``/``list_filter``, the default paginator
with its full ``COUNT(*)`` and ``show_full_result_count``, ``search_fields`` with ``ILIKE``
over subject, e-mail, customer name and order number, messages as a ``TabularInline``).

Scan: a previous run at now − 5 min (untimed: the catch-up), then the timed run at now (the
tickets that crossed a threshold in those 5 minutes), then a re-run (must create nothing).
Baseline: evaluating every active ticket in Python with the business-hours arithmetic (what a
helpdesk without stored due times does), timed on a sample and extrapolated — labelled so.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta
from types import ModuleType, SimpleNamespace
from urllib.parse import urlencode

from bench.common import analyze, heading, measure, row, wipe_business_data

HELP = (
    "support tickets at 1M (300k open): agent's ticket queue and ticket page (median/p95 ms, "
    "SQL statements, N+1 check) and the SLA/escalation scan, beside the stock ModelAdmin"
)
TARGET_MS = 150.0
SCAN_TARGET_S = 5.0
AGENT = "bench_ticket_agent"
SUPERVISOR = "bench_ticket_supervisor"


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--tickets", type=int, default=1_000_000, help="tickets (%(default)s)")
    group.add_argument(
        "--tickets-open-share", type=float, default=0.3, help="active share (%(default)s)"
    )
    group.add_argument("--tickets-repeat", type=int, default=15, help="timed requests per page")
    group.add_argument("--tickets-warmup", type=int, default=2, help="untimed requests first")
    group.add_argument(
        "--tickets-baseline-repeat", type=int, default=3, help="timed stock-admin requests"
    )
    group.add_argument("--tickets-seed", type=int, default=16)
    group.add_argument("--tickets-skip-pages", action="store_true", help="only the scan")


# -- data ---------------------------------------------------------------------------------------
def _load(args, rng: random.Random) -> SimpleNamespace:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from clients.models import Client, Membership
    from clients.services import membership_set
    from core.bulk import insert_rows
    from inventory.models import Product
    from orders.models import Customer, Order, OrderLine
    from support.models import SLAPolicy, SupportSettings, Ticket, TicketMessage
    from support.sla import DEFAULT_TARGETS

    wipe_business_data()
    now = timezone.now()
    User = get_user_model()
    clients = [
        Client.objects.create(
            code=f"TK{i:02d}", name=f"Ticket client {i}", currency="EUR", timezone="Europe/Berlin"
        )
        for i in range(1, 6)
    ]
    agent, _ = User.objects.get_or_create(username=AGENT, defaults={"is_staff": True})
    supervisor, _ = User.objects.get_or_create(username=SUPERVISOR, defaults={"is_staff": True})
    Membership.objects.filter(user__in=[agent, supervisor]).delete()
    membership_set(user=agent, client=clients[0], role=Membership.Role.AGENT)
    for c in clients:
        membership_set(user=supervisor, client=c, role=Membership.Role.SUPERVISOR)
    others = []
    for i in range(20):
        u, _ = User.objects.get_or_create(username=f"bench_ticket_agent{i}")
        membership_set(user=u, client=clients[i % 5], role=Membership.Role.AGENT)
        others.append(u.pk)
    for c in clients:
        SupportSettings.objects.create(client=c, inbound_address=f"help@{c.code.lower()}.test")
        for priority, (first, resolution) in DEFAULT_TARGETS.items():
            SLAPolicy.objects.create(
                client=c,
                priority=priority,
                first_response_hours=first,
                resolution_hours=resolution,
            )
    weights = [0.4, 0.15, 0.15, 0.15, 0.15]
    client_ids = [c.pk for c in clients]

    started = time.perf_counter()
    tiers = ["standard"] * 80 + ["silver"] * 12 + ["gold"] * 7 + ["vip"]
    customer_rows = []
    for i in range(100_000):
        cid = client_ids[i % 5]
        customer_rows.append(
            (cid, f"Customer{i:06d} Example", f"customer{i}@mail.test", rng.choice(tiers))
        )
    customer_ids = insert_rows(Customer, ("client", "name", "email", "tier"), customer_rows)
    customers_by_client: dict[int, list[int]] = {cid: [] for cid in client_ids}
    for (cid, *_), pk in zip(customer_rows, customer_ids, strict=True):
        customers_by_client[cid].append(pk)
    product_rows = [
        (cid, f"{cid}-SKU{j:03d}", f"Product {j}") for cid in client_ids for j in range(50)
    ]
    product_ids = insert_rows(Product, ("client", "sku", "name"), product_rows)
    products_by_client: dict[int, list[int]] = {cid: [] for cid in client_ids}
    for (cid, *_), pk in zip(product_rows, product_ids, strict=True):
        products_by_client[cid].append(pk)
    statuses = ["new", "ready", "backordered", "picking", "packed", "shipped", "delivered"]
    order_rows = []
    for i in range(50_000):
        cid = client_ids[i % 5]
        placed = now - timedelta(hours=rng.uniform(1, 24 * 30))
        order_rows.append(
            (
                cid,
                f"TK-{i:07d}",
                rng.choice(customers_by_client[cid]),
                placed,
                placed + timedelta(hours=72),
                "EUR",
                rng.choice(statuses),
            )
        )
    order_ids = insert_rows(
        Order,
        ("client", "number", "customer", "placed_at", "ship_by", "currency", "status"),
        order_rows,
    )
    orders_by_client: dict[int, list[int]] = {cid: [] for cid in client_ids}
    order_number = {}
    line_rows = []
    for (cid, number, *_), pk in zip(order_rows, order_ids, strict=True):
        orders_by_client[cid].append(pk)
        order_number[pk] = number
        for n in range(1, rng.randint(1, 3) + 1):
            line_rows.append((pk, n, rng.choice(products_by_client[cid]), rng.randint(1, 4)))
    insert_rows(OrderLine, ("order", "line_no", "product", "quantity"), line_rows, return_ids=False)
    row(
        "customers / orders / lines",
        f"{len(customer_ids):,} / {len(order_ids):,} / {len(line_rows):,}",
    )

    active = ["new"] * 8 + ["open"] * 12 + ["pending_customer"] * 5 + ["pending_internal"] * 5
    categories = [c for c, _ in Ticket.Category.choices]
    priorities = ["low", "normal", "normal", "normal", "high", "urgent"]
    fields = (
        "client",
        "customer",
        "order",
        "requester_email",
        "requester_name",
        "subject",
        "channel",
        "category",
        "priority",
        "status",
        "assignee",
        "created_at",
        "status_changed_at",
        "resolved_at",
        "first_response_due",
        "first_response_risk_at",
        "resolution_due",
        "resolution_risk_at",
        "first_responded_at",
        "paused_at",
        "agreement_status",
        "complaint_counted",
        "arrival_checked",
    )
    ticket_rows = []
    H = timedelta(hours=1)
    for i in range(args.tickets):
        cid = rng.choices(client_ids, weights)[0]
        customer = rng.choice(customers_by_client[cid])
        order = rng.choice(orders_by_client[cid]) if rng.random() < 0.5 else None
        is_active = rng.random() < args.tickets_open_share
        if is_active:
            status = rng.choice(active)
            created = now - timedelta(hours=rng.uniform(0, 240))
            responded = created + H if rng.random() < 0.7 else None
            fr_due = created + timedelta(hours=rng.uniform(1, 48))
            res_due = now + timedelta(hours=rng.uniform(-2, 24 * 14))
            resolved = None
            paused = now - H if status == "pending_customer" else None
            agreement = (
                "paused" if paused else ("resolution_due" if responded else "first_response_due")
            )
        else:
            status = rng.choice(["resolved", "closed", "closed"])
            created = now - timedelta(days=rng.uniform(10, 365))
            responded = created + H
            fr_due = created + 4 * H
            res_due = created + 40 * H
            resolved = created + 20 * H
            paused = None
            agreement = "fulfilled"
        category = rng.choice(categories)
        assignee = (
            (agent.pk if cid == client_ids[0] and rng.random() < 0.1 else rng.choice(others))
            if rng.random() < 0.4
            else None
        )
        ticket_rows.append(
            (
                cid,
                customer,
                order,
                f"customer{customer}@mail.test",
                "A Customer",
                f"Question {i}" + (f" about {order_number[order]}" if order else ""),
                "email",
                category,
                rng.choice(priorities),
                status,
                assignee,
                created,
                created,
                resolved,
                fr_due,
                fr_due - (fr_due - created) * 0.2,
                res_due,
                res_due - 4 * H,
                responded,
                paused,
                agreement,
                is_active and order is not None and category == "delay",
                not is_active,  # old tickets were checked by the scans of their time
            )
        )
    ticket_ids = []
    for start in range(0, len(ticket_rows), 100_000):
        ticket_ids += insert_rows(Ticket, fields, ticket_rows[start : start + 100_000])
    message_rows = [
        (pk, r[0], "inbound", r[3], "Hello, where is my order? " * 4, r[11])
        for pk, r in zip(ticket_ids, ticket_rows, strict=True)
    ]
    for start in range(0, len(message_rows), 200_000):
        insert_rows(
            TicketMessage,
            ("ticket", "client", "kind", "author_email", "body", "created_at"),
            message_rows[start : start + 200_000],
            return_ids=False,
        )
    load_s = time.perf_counter() - started
    del ticket_rows, message_rows
    analyze()
    row("tickets / messages loaded (COPY) in", load_s, "s")
    open_count = Ticket.objects.filter(
        status__in=["new", "open", "pending_customer", "pending_internal"]
    ).count()
    row("tickets / active", f"{Ticket.objects.count():,} / {open_count:,}")
    agent_client = clients[0]
    return SimpleNamespace(
        now=now,
        agent=agent,
        supervisor=supervisor,
        client=agent_client,
        order_number=order_number,
        orders_by_client=orders_by_client,
    )


# -- stock ModelAdmin baseline ---------------------------------------------------------------------
def _stock_site():
    from django.contrib import admin

    from clients.scoping import scope_queryset
    from support.models import Escalation, Ticket, TicketMessage

    site = admin.AdminSite(name="stockadmin")

    class Messages(admin.TabularInline):
        model = TicketMessage
        fields = ("kind", "author_email", "body", "created_at")
        readonly_fields = fields
        extra = 0

    class StockTicketAdmin(admin.ModelAdmin):
        list_display = (
            "__str__",
            "client",
            "status",
            "priority",
            "category",
            "assignee",
            "resolution_due",
            "agreement_status",
            "escalation_level",
            "order",
        )
        list_filter = ("status", "agreement_status", "category", "priority", "client")
        search_fields = ("subject", "requester_email", "customer__name", "order__number")
        ordering = ("resolution_due",)
        raw_id_fields = ("order", "customer", "assignee")
        inlines = [Messages]

        def get_queryset(self, request):  # the same tenancy rule, nothing more
            return scope_queryset(super().get_queryset(request), request.user)

    site.register(Ticket, StockTicketAdmin)
    site.register(Escalation)  # the header's inbox link reverses it
    from django.urls import path

    urlconf = ModuleType("bench_tickets_stock_urls")  # hashable, as get_resolver needs
    urlconf.urlpatterns = [path("stock/", site.urls), *_main_urls()]
    return urlconf


def _main_urls():
    from django.contrib import admin
    from django.urls import path

    return [path("admin/", admin.site.urls)]


# -- timing -------------------------------------------------------------------------------------
def _time(client, url: str, warmup: int, repeat: int):
    for _ in range(warmup):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
    times, queries = [], []
    for _ in range(repeat):
        with measure() as m:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        times.append(m.seconds * 1000)
        queries.append(m.queries)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, max(queries)


def _line(label, median, p95, queries, base=None):
    text = f"median {median:7.1f} ms  p95 {p95:7.1f} ms  {queries:3d} SQL"
    if base is not None:
        text += f"  | stock admin {base[0]:8.1f} ms {base[1]:3d} SQL  ×{base[0] / median:5.1f}"
    mark = "ok" if median <= TARGET_MS else "OVER TARGET"
    row(label, f"{text}  [{mark}]")
    return median <= TARGET_MS


def bench_pages(args, data) -> bool:
    from django.test import Client, override_settings
    from django.urls import reverse

    from support.models import Ticket
    from support.ticket_admin import TicketAdmin
    from support.tickets import ticket_customer_message

    heading("Agent's ticket queue (agent of the largest client)")
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(data.agent)
    url = reverse("admin:support_ticket_changelist")
    sample = (
        Ticket.objects.filter(client=data.client, order__isnull=False, status="open")
        .order_by("pk")
        .first()
    )
    order_number = data.order_number[sample.order_id]
    pages = [("queue: default (open)", url)]
    pages += [
        (f"queue: {q}", f"{url}?{urlencode({'queue': q})}")
        for q in ("mine", "unassigned", "at_risk", "breached", "escalated", "all")
    ]
    pages += [
        ("search: ticket reference", f"{url}?{urlencode({'q': sample.ref})}"),
        ("search: e-mail", f"{url}?{urlencode({'q': sample.requester_email})}"),
        ("search: order number", f"{url}?{urlencode({'q': order_number})}"),
        ("search: customer name", f"{url}?{urlencode({'q': 'Customer00001'})}"),
    ]
    stock = _stock_site()
    stock_url = "/stock/support/ticket/"
    stock_pages = {
        "queue: default (open)": f"{stock_url}?status__exact=open",
        "queue: all": stock_url,
        "search: e-mail": f"{stock_url}?{urlencode({'q': sample.requester_email})}",
        "search: order number": f"{stock_url}?{urlencode({'q': order_number})}",
    }
    ok = True
    for label, page_url in pages:
        median, p95, queries = _time(client, page_url, args.tickets_warmup, args.tickets_repeat)
        base = None
        if label in stock_pages and args.tickets_baseline_repeat:
            with override_settings(ROOT_URLCONF=stock):
                b_median, _, b_queries = _time(
                    client, stock_pages[label], 1, args.tickets_baseline_repeat
                )
            base = (b_median, b_queries)
        ok &= _line(label, median, p95, queries, base)
    # N+1: the same statement count at 50 and 200 rows
    per_page = TicketAdmin.list_per_page
    counts = []
    for n in (50, 200):
        TicketAdmin.list_per_page = n
        counts.append(_time(client, f"{url}?queue=all", 1, 1)[2])
    TicketAdmin.list_per_page = per_page
    same = counts[0] == counts[1]
    row("N+1 check: SQL at 50 / 200 rows", f"{counts[0]} / {counts[1]} {'ok' if same else 'FAIL'}")
    ok &= same

    heading("Ticket page (conversation + linked order: lines, shipments, timeline)")
    page = reverse("admin:support_ticket_change", args=[sample.pk])
    one = _time(client, page, args.tickets_warmup, args.tickets_repeat)
    with override_settings(ROOT_URLCONF=stock):
        b = _time(client, f"{stock_url}{sample.pk}/change/", 1, args.tickets_baseline_repeat or 1)
    ok &= _line("ticket page, 1 message", *one, (b[0], b[2]))
    for i in range(10):
        ticket_customer_message(ticket=sample, body=f"Any news? ({i})")
    eleven = _time(client, page, args.tickets_warmup, args.tickets_repeat)
    with override_settings(ROOT_URLCONF=stock):
        b = _time(client, f"{stock_url}{sample.pk}/change/", 1, args.tickets_baseline_repeat or 1)
    ok &= _line("ticket page, 11 messages", *eleven, (b[0], b[2]))
    same = one[2] == eleven[2]
    row("N+1 check: SQL at 1 / 11 messages", f"{one[2]} / {eleven[2]} {'ok' if same else 'FAIL'}")
    return ok and same


def _naive_scan(ticket_ids, now) -> int:
    """Baseline: every active ticket evaluated in Python with calendar arithmetic."""
    from support import sla
    from support.business_hours import add_business_seconds
    from support.models import Escalation, Ticket

    found = 0
    calendars = {}
    for t in Ticket.objects.filter(pk__in=ticket_ids).select_related("client", "customer"):
        cal = calendars.get(t.client_id) or calendars.setdefault(
            t.client_id, sla.calendar_for(t.client)
        )
        _first, resolution = sla.targets_for(t.client_id, t.priority)
        due = add_business_seconds(t.created_at, float(resolution) * 3600, cal)
        risk = add_business_seconds(t.created_at, float(resolution) * 3600 * 0.8, cal)
        if (risk <= now or due <= now) and not Escalation.objects.filter(ticket=t).exists():
            found += 1
    return found


def bench_scan(args, data) -> bool:
    from django.utils import timezone

    from support.escalation import escalations_scan
    from support.models import Escalation, Ticket

    heading("SLA/escalation scan")
    now = timezone.now()
    started = time.perf_counter()
    first = escalations_scan(now=now - timedelta(minutes=5))
    while Ticket.objects.filter(arrival_checked=False).exists():  # arrivals go in batches
        more = escalations_scan(now=now - timedelta(minutes=5))
        first = {k: first[k] + more[k] for k in first}
    row("previous run (catch-up, untimed target)", time.perf_counter() - started, "s")
    row("  escalations created", sum(v for k, v in first.items() if k != "breaches_marked"))
    # What autovacuum does after such a mass update (the flags moved 100,000s of rows out of
    # the scan's partial indexes; until vacuumed, their dead entries are still read).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE support_ticket, support_escalation")
    row("  then VACUUM ANALYZE (as autovacuum would)", "done")
    with measure() as m:
        counts = escalations_scan(now=now)
    created = sum(v for k, v in counts.items() if k != "breaches_marked")
    ok = m.seconds <= SCAN_TARGET_S
    row(
        "scan 5 min later",
        f"{m.seconds:.2f} s, {m.queries} SQL, {created:,} new escalations, "
        f"{counts['breaches_marked']:,} breaches marked  [{'ok' if ok else 'OVER TARGET'}]",
    )
    row("  " + m.cpu_note(), "")
    before = Escalation.objects.count()
    with measure() as again:
        escalations_scan(now=now)
    idem = Escalation.objects.count() == before
    row("re-run (idempotent)", f"{again.seconds:.2f} s, {'nothing new' if idem else 'FAIL'}")
    active = list(
        Ticket.objects.filter(status__in=["new", "open", "pending_internal"])
        .order_by("?")
        .values_list("pk", flat=True)[:5000]
    )
    total_active = Ticket.objects.filter(status__in=["new", "open", "pending_internal"]).count()
    started = time.perf_counter()
    _naive_scan(active, now)
    sample_s = time.perf_counter() - started
    row(
        "baseline: Python loop with calendar arithmetic",
        f"{sample_s:.2f} s for {len(active):,} tickets → ≈ "
        f"{sample_s * total_active / max(1, len(active)):.0f} s for {total_active:,} "
        f"(extrapolated) ×{sample_s * total_active / max(1, len(active)) / m.seconds:.0f}",
    )
    return ok and idem


def run(args) -> bool:
    import os

    rng = random.Random(args.tickets_seed)
    heading(f"Data set: {args.tickets:,} tickets ({args.tickets_open_share:.0%} active)")
    row("load average (1/5/15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    data = _load(args, rng)
    ok = True if args.tickets_skip_pages else bench_pages(args, data)
    ok &= bench_scan(args, data)
    row("load average after (1/5/15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return ok
