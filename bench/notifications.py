"""Customer notifications at scale: the delay scan, rendering + queueing, the tracking page.

Data: the backlog of ``generate_backlog --orders N`` (``--notify-orders``, default 1,000,000;
reused from ``bench/admin_pages.py``'s ``ensure_backlog``: generated once, minutes), plus
``--notify-shipments`` open shipments (default 50,000) of shipped orders, a third of them
with a carrier ETA after the promised delivery (COPY, timed separately).

- **delay scan**: ``support.selectors.delay_scan()`` over every open order — set-based, a
  fixed number of queries — against the plain-ORM way (iterate the open orders and the open
  shipments as model instances, decide per order in Python; the notices already sent as one
  set), in the same run. Both must find the same orders.
- **render + queue**: ``notifications_queue`` for ``--notify-count`` "order confirmed"
  notifications (default 100,000; one per order): facts, sandboxed rendering of subject, text
  and HTML, the rows (unique key), timeline rows for suppressed ones, and one django-q2 task
  per notification (ORM broker, on commit), with the locmem e-mail backend. Against the plain
  ORM loop over ``--notify-baseline-count`` orders (default 5,000): per order, load it with
  its customer, lines and client, render the same compiled templates, ``create`` the row,
  ``async_task``. Then ``--notify-send`` of them (default 2,000) sent by the task function.
- **tracking page**: ``GET /track/<token>/`` through Django's test client (middleware, rate
  limit, template) for ``--notify-pages`` orders in every status (default 60, 3 warm-up + 10
  timed requests each): median and p95 against the page built the plain-ORM way (model
  instances, ``select_related``/``prefetch_related``) rendered with the same template.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta

from bench.common import analyze, heading, measure, rate, row
from core.bulk import insert_rows


def _cpu(m) -> str:
    # The backend's CPU is read from /proc by pid; a negative difference means the reading
    # is not usable (the connection was replaced meanwhile): show Python's only.
    if m.db_cpu is None or m.db_cpu < 0:
        return f"CPU: Python {m.cpu:.2f} s"
    return m.cpu_note()


HELP = "delay scan over 1M orders, render+queue 100k notifications, tracking page at 1M"
SCAN_TARGET_S = 5.0
QUEUE_TARGET_PER_S = 1000.0
PAGE_TARGET_MS = 50.0


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--notify-orders", type=int, default=1_000_000)
    group.add_argument("--notify-shipments", type=int, default=50_000)
    group.add_argument("--notify-count", type=int, default=100_000)
    group.add_argument("--notify-baseline-count", type=int, default=5_000)
    group.add_argument("--notify-send", type=int, default=2_000)
    group.add_argument("--notify-pages", type=int, default=60)
    group.add_argument("--notify-regenerate", action="store_true")


# -- data -----------------------------------------------------------------------------------------
def _reset() -> None:
    """No notifications, no queued tasks; the clients without quiet hours (a quiet-hours
    client would hold its mail, which costs less than queueing it)."""
    from django.db import connection

    from clients.models import Client
    from support.models import Notification, NotificationPolicy

    for client in Client.objects.all():
        NotificationPolicy.objects.update_or_create(
            client=client, defaults={"quiet_hours_start": None, "quiet_hours_end": None}
        )

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Notification._meta.db_table}")
        cursor.execute("DELETE FROM django_q_ormq")
        cursor.execute("DELETE FROM orders_orderevent WHERE kind = 'notification'")


def _shipments(count: int, rng: random.Random) -> None:
    """Open shipments for shipped orders: a third with an ETA after the promised delivery."""
    from django.utils import timezone

    from fulfillment.models import Carrier, CarrierService, ServiceLevelRule, Shipment
    from orders.models import Order

    heading(f"Data set: {count:,} open shipments of shipped orders")
    carrier, _ = Carrier.objects.get_or_create(
        code="BENCHN",
        defaults={
            "name": "Bench Parcel",
            "tracking_url_template": "https://t.example/{tracking_number}",
        },
    )
    service, _ = CarrierService.objects.get_or_create(
        carrier=carrier, code="GROUND", defaults={"name": "Ground", "transit_days": 3, "price": 5}
    )
    for level, days in (("standard", 5), ("expedited", 2), ("overnight", 1)):
        rule, _ = ServiceLevelRule.objects.get_or_create(
            service_level=level, defaults={"deliver_within_days": days}
        )
        rule.services.add(service)
    have = Shipment.objects.filter(carrier=carrier).count()
    if have >= count:
        row("shipments", f"reused ({have:,})")
        return
    started = time.perf_counter()
    orders = list(
        Order.objects.filter(status=Order.Status.SHIPPED)
        .exclude(shipments__isnull=False)
        .values_list("pk", "client_id", "ship_by")[: count - have]
    )
    now = timezone.now()
    rows = []
    for i, (pk, client_id, ship_by) in enumerate(orders):
        late = i % 3 == 0
        eta = timezone.localdate(ship_by) + timedelta(days=9 if late else 2)
        rows.append(
            (client_id, pk, carrier.pk, service.pk, f"BN{pk:010d}", now, eta),
        )
    insert_rows(
        Shipment,
        (
            "client_id",
            "order_id",
            "carrier_id",
            "service_id",
            "tracking_number",
            "shipped_at",
            "eta",
        ),
        rows,
        return_ids=False,
    )
    analyze()
    row("created in", time.perf_counter() - started, "s")


# -- delay scan -----------------------------------------------------------------------------------
def _baseline_scan(now):
    """The plain-ORM way: model instances, the decision per order in Python."""
    import zoneinfo

    from fulfillment.models import ServiceLevelRule, Shipment
    from orders.models import Order
    from support.models import Event, Notification, NotificationPolicy
    from support.selectors import DELAY_SCAN_STATUSES, _stepped

    rules = dict(ServiceLevelRule.objects.values_list("service_level", "deliver_within_days"))
    policies = {p.client_id: p for p in NotificationPolicy.objects.all()}
    announced = set(
        Notification.objects.filter(event=Event.DELAY).values_list("order_id", "announces")
    )
    found = {}
    for order in (
        Order.objects.filter(status__in=DELAY_SCAN_STATUSES)
        .select_related("client")
        .iterator(chunk_size=5000)
    ):
        if not (order.status == "backordered" or order.ship_by < now):
            continue
        tz = zoneinfo.ZoneInfo(order.client.timezone)
        step = policies.get(order.client_id, NotificationPolicy()).unknown_delay_days
        revised = _stepped(order.ship_by.astimezone(tz).date(), now.astimezone(tz).date(), step)
        if (order.pk, f"ship:{revised}") not in announced:
            found[order.pk] = revised
    for shipment in (
        Shipment.objects.filter(delivered_at__isnull=True, order__status="shipped")
        .exclude(status="returned")
        .select_related("order")
        .iterator(chunk_size=5000)
    ):
        days = rules.get(shipment.order.service_level)
        if days is None:
            continue
        promised = (shipment.order.ship_by + timedelta(days=days)).date()
        if (
            shipment.eta > promised
            and (shipment.order_id, f"delivery:{shipment.eta}") not in announced
        ):
            found[shipment.order_id] = shipment.eta
    return found


def bench_scan() -> bool:
    from django.utils import timezone

    from support.selectors import delay_scan

    heading("Delay scan over every open order (finds the orders to notify)")
    now = timezone.now()
    delay_scan(now=now)  # warm the caches the same way for both
    with measure() as ours:
        findings = delay_scan(now=now)
    with measure() as base:
        baseline = _baseline_scan(now)
    row(
        "orders found (ship / delivery)",
        f"{sum(f.revised_kind == 'ship' for f in findings):,} / "
        f"{sum(f.revised_kind == 'delivery' for f in findings):,}",
    )
    row("delay_scan", f"{ours.seconds:.2f} s, {ours.queries} queries; {_cpu(ours)}")
    row(
        "plain ORM (model instances)",
        f"{base.seconds:.2f} s, {base.queries} queries; {_cpu(base)}",
    )
    row("ratio", f"{base.seconds / ours.seconds:.1f}× faster (target ≤ {SCAN_TARGET_S:.0f} s)")
    same = {f.order_id for f in findings} == set(baseline)
    row("same orders found", "yes" if same else "NO")
    return same and ours.seconds <= SCAN_TARGET_S


# -- render + queue -------------------------------------------------------------------------------
def _order_sample(count: int, offset: int) -> list[int]:
    from orders.models import Order

    return list(
        Order.objects.filter(customer__isnull=False)
        .order_by("pk")
        .values_list("pk", flat=True)[offset : offset + count]
    )


def _baseline_queue(order_ids: list[int]) -> None:
    """One order at a time, the way the ORM invites: get, render, create, async_task."""
    import zoneinfo

    from django.db import transaction
    from django_q.tasks import async_task

    from orders.models import Order
    from support import links
    from support.defaults import DEFAULTS
    from support.models import Event, Notification, TrackingLink
    from support.rendering import compile_template, render

    d = DEFAULTS[Event.CONFIRMED]
    subject, text, html = (
        compile_template(d.subject, html=False),
        compile_template(d.body_text, html=False),
        compile_template(d.body_html, html=True),
    )
    for pk in order_ids:
        with transaction.atomic():
            order = Order.objects.select_related("client", "customer").get(pk=pk)
            if Notification.objects.filter(order=order, event="baseline").exists():
                continue
            link, _ = TrackingLink.objects.get_or_create(
                order=order, defaults={"client": order.client}
            )
            tz = zoneinfo.ZoneInfo(order.client.timezone)
            token = links.make_token(link.public_id, link.version)
            context = {
                "customer_first_name": order.customer.name.split(" ")[0],
                "order_number": order.number,
                "ship_by": order.ship_by.astimezone(tz).date(),
                "lines": [
                    {"name": ln.product.name, "quantity": ln.quantity}
                    for ln in order.lines.select_related("product")
                ],
                "tracking_url": links.tracking_url(token),
                "client_name": order.client.name,
            }
            n = Notification.objects.create(
                client=order.client,
                order=order,
                event="baseline",
                recipient=order.customer.email,
                subject=render(subject, context),
                body_text=render(text, context),
                body_html=render(html, context),
            )
            transaction.on_commit(lambda n=n: async_task("support.tasks.send_notification", n.pk))


def bench_queue(args) -> bool:
    from django.conf import settings
    from django.db import transaction

    from support import services
    from support.models import Event, Notification

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    heading(f"Render + queue {args.notify_count:,} notifications (one task each, ORM broker)")
    ids = _order_sample(args.notify_count, 0)
    requests = [services.NotificationRequest(pk, Event.CONFIRMED) for pk in ids]
    with measure() as ours, transaction.atomic():
        report = services.notifications_queue(requests=requests)
    from django_q.models import OrmQ

    tasks = OrmQ.objects.count()
    row(
        "queued / suppressed / held", f"{report.queued:,} / {report.suppressed:,} / {report.held:,}"
    )
    row("tasks in the broker", tasks)
    per_s = rate(len(ids), ours.seconds)
    row(
        "notifications_queue",
        f"{ours.seconds:.1f} s = {per_s:,.0f}/s, {ours.queries:,} queries; {_cpu(ours)}",
    )
    base_ids = _order_sample(args.notify_baseline_count, args.notify_count)
    with measure() as base:
        _baseline_queue(base_ids)
    base_rate = rate(len(base_ids), base.seconds)
    row(
        f"plain ORM loop ({len(base_ids):,})",
        f"{base.seconds:.1f} s = {base_rate:,.0f}/s, {base.queries:,} queries",
    )
    row("ratio", f"{per_s / base_rate:.1f}× (target ≥ {QUEUE_TARGET_PER_S:,.0f}/s)")
    row("per CPU second (Python)", f"{rate(len(ids), ours.cpu):,.0f}/s")

    from support.tasks import send_notification

    send_ids = list(
        Notification.objects.filter(status="queued", event=Event.CONFIRMED)
        .order_by("pk")
        .values_list("pk", flat=True)[: args.notify_send]
    )
    with measure() as sending:
        results = [send_notification(pk) for pk in send_ids]
    row(
        f"send task × {len(send_ids):,} (locmem)",
        f"{sending.seconds:.1f} s = {rate(len(send_ids), sending.seconds):,.0f}/s, "
        f"{sending.queries / max(1, len(send_ids)):.0f} queries each",
    )
    ok = report.queued + report.suppressed == len(ids) and tasks >= report.queued
    ok = ok and all(r == "sent" for r in results)
    return ok and per_s >= QUEUE_TARGET_PER_S


# -- tracking page --------------------------------------------------------------------------------
def _baseline_page(token: str) -> str:
    """The page the plain-ORM way: instances with select_related/prefetch_related."""
    from django.template.loader import render_to_string

    from support import links
    from support.models import Notification, TrackingLink
    from support.selectors import CUSTOMER_STATUS

    claim = links.read_token(token)
    link = TrackingLink.objects.select_related("order__client", "order__customer").get(
        public_id=claim.public_id
    )
    order = link.order
    notice = Notification.objects.filter(order=order, event="delay_notice").order_by("-id").first()
    context = {
        "order_number": order.number,
        "status": CUSTOMER_STATUS[order.status],
        "status_code": order.status,
        "first_name": order.customer.name.split(" ")[0] if order.customer else "",
        "city": order.ship_to_city,
        "placed_on": order.placed_at.date(),
        "ship_by": order.ship_by.date(),
        "lines": [
            {
                "name": ln.product.name,
                "quantity": ln.quantity,
                "shipped": ln.qty_shipped,
                "waiting": ln.qty_backordered,
                "cancelled": ln.qty_cancelled,
            }
            for ln in order.lines.select_related("product")
        ],
        "shipments": [
            {
                "carrier": s.carrier.name,
                "tracking_number": s.tracking_number,
                "tracking_url": s.tracking_url,
                "status": s.get_status_display(),
                "shipped_on": s.shipped_at.date(),
                "eta": s.eta,
                "delivered_at": s.delivered_at,
                "events": [
                    {"status": e.get_status_display(), "when": e.occurred_at, "where": e.location}
                    for e in s.events.all()
                ],
            }
            for s in order.shipments.select_related("carrier").prefetch_related("events")
        ],
        "delay": {"revised_date": notice.created_at.date(), "kind": "ship", "reason": ""}
        if notice
        else None,
        "token": token,
        "is_open": order.is_open,
    }
    return render_to_string("support/public/tracking.html", context)


def bench_page(args) -> bool:
    from django.conf import settings
    from django.test import Client

    from orders.models import Order
    from support.services import tracking_token

    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 10**9
    heading(
        f"Tracking page at {Order.objects.count():,} orders "
        f"({args.notify_pages} orders, 3 warm-up + 10 timed each)"
    )
    rng = random.Random(7)
    statuses = [
        "new",
        "backordered",
        "ready",
        "picking",
        "packed",
        "shipped",
        "delivered",
        "on_hold",
        "cancelled",
    ]
    orders = []
    per = max(1, args.notify_pages // len(statuses))
    for status in statuses:
        ids = list(Order.objects.filter(status=status).values_list("pk", flat=True)[:5000])
        orders += rng.sample(ids, min(per, len(ids)))
    shipped_with_parcel = list(
        Order.objects.filter(shipments__isnull=False).values_list("pk", flat=True)[:per]
    )
    orders += shipped_with_parcel
    tokens = [tracking_token(order=Order.objects.get(pk=pk)) for pk in orders]
    client = Client(SERVER_NAME="127.0.0.1")
    ours, base, queries = [], [], []
    for token in tokens:
        url = f"/track/{token}/"
        for _ in range(3):
            assert client.get(url).status_code == 200
            _baseline_page(token)
        for _ in range(10):
            started = time.perf_counter()
            response = client.get(url)
            ours.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            started = time.perf_counter()
            _baseline_page(token)
            base.append((time.perf_counter() - started) * 1000)
        with measure() as m:
            client.get(url)
        queries.append(m.queries)

    def p95(values):
        return statistics.quantiles(values, n=20)[-1]

    med = statistics.median(ours)
    row(
        "GET /track/<token>/ median / p95",
        f"{med:.1f} / {p95(ours):.1f} ms, {max(queries)} queries max",
    )
    row(
        "plain ORM page (render only) median / p95",
        f"{statistics.median(base):.1f} / {p95(base):.1f} ms",
    )
    row("target", f"median ≤ {PAGE_TARGET_MS:.0f} ms")
    return med <= PAGE_TARGET_MS


def run(args) -> bool:
    import os

    from bench.admin_pages import ensure_backlog

    ensure_backlog(args.notify_orders, args.notify_regenerate)
    _shipments(args.notify_shipments, random.Random(3))
    _reset()
    print(f"  load average (1/5/15 min): {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ok = bench_scan()
    ok = bench_queue(args) and ok
    ok = bench_page(args) and ok
    print(f"  load average (1/5/15 min): {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    _reset()
    return ok
