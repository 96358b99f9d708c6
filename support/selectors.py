"""Reads for customer communication: the plain facts a notification is rendered from, the
delay scan, the tracking page. Nothing here writes."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import (
    Case,
    Count,
    DateField,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from clients.models import Client
from fulfillment.models import ServiceLevelRule, Shipment, TrackingStatus
from orders.models import UNSHIPPED_STATUSES, Order, OrderLine
from support.models import Event, Notification, NotificationPolicy, TrackingLink

CHUNK = 2000

# Open orders a delay notice can be about: on-hold orders are being dealt with by an agent.
# The same tuple is the condition of the index the scan reads (order_unshipped_due_idx).
DELAY_SCAN_STATUSES = UNSHIPPED_STATUSES


@dataclass(slots=True)
class OrderFacts:
    """What a notification may say about an order (plain values, no model instances)."""

    order_id: int
    client_id: int
    number: str
    status: str
    status_label: str
    placed_at: datetime
    ship_by: datetime
    service_level: str
    customer_name: str
    email: str
    opted_out: bool
    city: str
    public_id: str = ""
    link_version: int = 1
    lines: list[dict] = field(default_factory=list)


def first_name(full_name: str) -> str:
    return (full_name or "").strip().split(" ")[0][:50]


def order_facts(order_ids: Iterable[int]) -> dict[int, OrderFacts]:
    """Facts of the orders, lines included: three queries per chunk of 2,000 orders."""
    ids = sorted(set(order_ids))
    facts: dict[int, OrderFacts] = {}
    labels = dict(Order.Status.choices)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = Order.objects.filter(pk__in=chunk).values_list(
            "pk",
            "client_id",
            "number",
            "status",
            "placed_at",
            "ship_by",
            "service_level",
            "customer__name",
            "customer__email",
            "customer__notifications_opt_out",
            "ship_to_city",
            "ship_to_name",
        )
        for (
            pk,
            client_id,
            number,
            status,
            placed,
            ship_by,
            level,
            name,
            email,
            out,
            city,
            to,
        ) in rows:
            facts[pk] = OrderFacts(
                order_id=pk,
                client_id=client_id,
                number=number,
                status=status,
                status_label=labels.get(status, status),
                placed_at=placed,
                ship_by=ship_by,
                service_level=level,
                customer_name=name or to or "",
                email=email or "",
                opted_out=bool(out),
                city=city or "",
            )
        for order_id, sku, pname, qty, shipped, backordered, cancelled in (
            OrderLine.objects.filter(order_id__in=chunk)
            .order_by("order_id", "line_no")
            .values_list(
                "order_id",
                "product__sku",
                "product__name",
                "quantity",
                "qty_shipped",
                "qty_backordered",
                "qty_cancelled",
            )
        ):
            facts[order_id].lines.append(
                {
                    "sku": sku,
                    "name": pname,
                    "quantity": qty,
                    "shipped": shipped,
                    "backordered": backordered,
                    "cancelled": cancelled,
                }
            )
        for order_id, public_id, version in TrackingLink.objects.filter(
            order_id__in=chunk
        ).values_list("order_id", "public_id", "version"):
            facts[order_id].public_id = public_id
            facts[order_id].link_version = version
    return facts


def policies_for(client_ids: Iterable[int]) -> dict[int, NotificationPolicy]:
    """Each client's policy; a client without a row gets an unsaved one with the defaults."""
    ids = set(client_ids)
    found = NotificationPolicy.objects.in_bulk(ids)
    return {cid: found.get(cid) or NotificationPolicy(client_id=cid) for cid in ids}


def client_zones(client_ids: Iterable[int]) -> dict[int, zoneinfo.ZoneInfo]:
    return {
        pk: zoneinfo.ZoneInfo(tz)
        for pk, tz in Client.objects.filter(pk__in=set(client_ids)).values_list("pk", "timezone")
    }


# -- the delay scan -----------------------------------------------------------------------------
def expected_availability():
    """THE source of an order's expected availability date (when its backordered units are
    expected in stock), as an SQL expression on Order: the latest ``expected_available_on`` of
    its backordered lines (set from open purchase orders in priority order by
    ``orders.services.backorders_expected_refresh``), or NULL when any backordered line has no
    date (no purchase order covers it) — a backordered order with no stock and no date counts
    as late. A correlated subquery keeps the big scan free of GROUP BY."""
    per_order = (
        OrderLine.objects.filter(order=OuterRef("pk"), qty_backordered__gt=0)
        .order_by()
        .values("order")
        .annotate(
            latest=Max("expected_available_on"),
            undated=Count("pk", filter=Q(expected_available_on__isnull=True)),
        )
        .annotate(
            expected=Case(
                When(undated__gt=0, then=Value(None, output_field=DateField())),
                default=F("latest"),
                output_field=DateField(),
            )
        )
        .values("expected")[:1]
    )
    return Subquery(per_order, output_field=DateField())


@dataclass(frozen=True, slots=True)
class DelayFinding:
    """An order that will miss (or has missed) its promise, and the new date to announce."""

    order_id: int
    client_id: int
    revised_date: date
    revised_kind: str  # "ship" or "delivery"
    reason: str  # in the customer's words

    @property
    def announces(self) -> str:
        return f"{self.revised_kind}:{self.revised_date.isoformat()}"


REASON_BACKORDER = "An item you ordered is out of stock."
REASON_BACKORDER_DATED = "An item you ordered is out of stock; we expect it on {date}."
REASON_LATE = "We could not ship it by the date we promised."
REASON_CARRIER = "The carrier now expects to deliver it later than planned."


def _stepped(ship_date: date, today: date, step: int) -> date:
    """A revised date when none is known: the promise plus ``step`` days, then further steps
    once that passes — stable between steps, so a notice goes once per revised date."""
    k = max(0, (today - ship_date).days) // step + 1
    return ship_date + timedelta(days=k * step)


class LocalDate(Func):
    """PostgreSQL: the date of a timestamptz in a named time zone (``timezone(zone, ts)``)."""

    template = "(timezone(%(expressions)s))::date"
    output_field = DateField()


def _late_shipments(shipments) -> dict[int, tuple[int, date, datetime]]:
    """``{order_id: (client_id, latest ETA, ship_by)}`` of shipped orders whose open parcel's
    ETA is after the promised delivery (ship-by + the service level's delivery days).

    Two queries, no join: the open shipments (a small table), then their orders by primary
    key — on PostgreSQL one array parameter (``anyof``); a join let the planner walk the
    whole orders table."""
    open_parcels: dict[int, tuple[int, date]] = {}
    for order_id, client_id, eta in shipments.values_list("order_id", "client_id", "eta").iterator(
        chunk_size=20_000
    ):
        known = open_parcels.get(order_id)
        if known is None or eta > known[1]:
            open_parcels[order_id] = (client_id, eta)
    if not open_parcels:
        return {}
    days = dict(ServiceLevelRule.objects.values_list("service_level", "deliver_within_days"))
    ids = sorted(open_parcels)
    step = len(ids) if connection.vendor == "postgresql" else 5000  # SQLite: bounded IN lists
    late: dict[int, tuple[int, date, datetime]] = {}
    for start in range(0, len(ids), step):
        for order_id, ship_by, level in (
            Order.objects.filter(pk__anyof=ids[start : start + step], status=Order.Status.SHIPPED)
            .order_by()
            .values_list("pk", "ship_by", "service_level")
            .iterator(chunk_size=20_000)
        ):
            within = days.get(level)
            client_id, eta = open_parcels[order_id]
            if within is not None and eta > (ship_by + timedelta(days=within)).date():
                late[order_id] = (client_id, eta, ship_by)
    return late


def delay_scan(*, now: datetime | None = None, order_ids: Iterable[int] | None = None):
    """Open orders that will miss their promise, with the revised date not yet announced.

    Set-based: a fixed number of queries whatever the number of orders (one over open orders,
    two for the open shipments and their orders, one for the service levels, one for the
    notices already sent, two for the clients and policies; on SQLite the shipments' orders
    are read 5,000 at a time). Cases:

    - backordered with expected availability after the ship-by date, or with no date;
    - promise (ship-by) passed and not shipped;
    - shipped, with a carrier ETA after the promised delivery (ship-by + the service level's
      delivery days).
    """
    now = now or timezone.now()
    # .order_by(): the models' default orderings would add a sort and defeat the index-only
    # scan of order_unshipped_due_idx.
    orders = Order.objects.filter(status__in=DELAY_SCAN_STATUSES).order_by()
    shipments = (
        Shipment.objects.filter(delivered_at__isnull=True)
        .exclude(status=TrackingStatus.RETURNED)
        .order_by()
    )
    if order_ids is not None:
        ids = sorted(set(order_ids))
        orders = orders.filter(pk__in=ids)
        shipments = shipments.filter(order_id__in=ids)
    in_sql = connection.vendor == "postgresql"
    # The promise as a date in the client's time zone: computed by PostgreSQL (reading 500,000
    # timestamps into Python costs more than the whole query); elsewhere in Python below.
    ship_date = LocalDate(F("client__timezone"), F("ship_by")) if in_sql else TruncDate("ship_by")
    rows = (
        orders.annotate(expected=expected_availability(), ship_date=ship_date)
        .filter(
            (
                Q(status=Order.Status.BACKORDERED)
                & (Q(expected__isnull=True) | Q(expected__gt=F("ship_date")))
            )
            | Q(ship_by__lt=now)
        )
        .values_list("pk", "client_id", "ship_date" if in_sql else "ship_by", "status", "expected")
    )
    candidates = list(rows.iterator(chunk_size=20_000))
    late_shipments = _late_shipments(shipments)
    client_ids = {c[1] for c in candidates} | {v[0] for v in late_shipments.values()}
    zones = client_zones(client_ids)
    policies = policies_for(client_ids)
    findings: list[DelayFinding] = []
    today_of = {cid: now.astimezone(tz).date() for cid, tz in zones.items()}
    step_of = {cid: policy.unknown_delay_days for cid, policy in policies.items()}
    for order_id, client_id, ship_by, status, expected in candidates:
        today = today_of[client_id]
        ship_date = ship_by if in_sql else ship_by.astimezone(zones[client_id]).date()
        step = step_of[client_id]
        if expected is not None and expected + timedelta(days=1) > max(today, ship_date):
            revised = expected + timedelta(days=1)
            reason = REASON_BACKORDER_DATED.format(date=expected.strftime("%d %B"))
        else:
            revised = _stepped(ship_date, today, step)
            reason = REASON_BACKORDER if status == Order.Status.BACKORDERED else REASON_LATE
        findings.append(DelayFinding(order_id, client_id, revised, "ship", reason))
    for order_id, (client_id, eta, _ship_by) in late_shipments.items():
        findings.append(DelayFinding(order_id, client_id, eta, "delivery", REASON_CARRIER))
    if not findings:
        return []
    notices = Notification.objects.filter(event=Event.DELAY)
    if order_ids is not None or len(findings) < CHUNK:
        notices = notices.filter(order_id__in=sorted({f.order_id for f in findings}))
    else:  # a join, not a list of a million ids
        notices = notices.filter(order__status__in=(*DELAY_SCAN_STATUSES, Order.Status.SHIPPED))
    notices = notices.order_by()
    announced = set(notices.values_list("order_id", "announces").iterator(chunk_size=20_000))
    return [f for f in findings if (f.order_id, f.announces) not in announced]


# -- the public tracking page ---------------------------------------------------------------------
CUSTOMER_STATUS = {
    "new": "Received",
    "backordered": "Waiting for stock",
    "ready": "Being prepared",
    "picking": "Being prepared",
    "packed": "Packed, waiting for the carrier",
    "shipped": "On its way",
    "delivered": "Delivered",
    "on_hold": "Being reviewed",
    "cancelled": "Cancelled",
}


def tracking_page_data(order: Order) -> dict:
    """What the customer sees: status, lines, dates, shipments with their events and ETA,
    the latest delay notice's revised date and reason — first name and city only, nothing
    from other orders. Four queries (lines, shipments, their events, the latest notice);
    the order and client come with the link."""
    from django.db.models import Prefetch

    from fulfillment.models import TrackingEvent

    tz = zoneinfo.ZoneInfo(order.client.timezone)
    lines = list(
        OrderLine.objects.filter(order=order)
        .order_by("line_no")
        .values_list("product__name", "quantity", "qty_shipped", "qty_backordered", "qty_cancelled")
    )
    shipments = list(
        Shipment.objects.filter(order=order)
        .select_related("carrier")
        .only(
            "tracking_number",
            "status",
            "shipped_at",
            "eta",
            "delivered_at",
            "carrier__name",
            "carrier__tracking_url_template",
        )
        .prefetch_related(
            Prefetch(
                "events",
                queryset=TrackingEvent.objects.only(
                    "shipment_id", "status", "occurred_at", "location"
                ).order_by("-occurred_at", "-id"),
            )
        )
        .order_by("shipped_at", "pk")
    )
    notice = (
        Notification.objects.filter(order=order, event=Event.DELAY)
        .exclude(status=Notification.Status.SUPPRESSED)
        .order_by("-id")
        .values_list("announces", flat=True)
        .first()
    )
    delay = None
    if notice and order.status not in (Order.Status.DELIVERED, Order.Status.CANCELLED):
        kind, _, when = notice.partition(":")
        try:
            revised = date.fromisoformat(when)
        except ValueError:
            revised = None
        if revised:
            if kind == "delivery":
                reason = REASON_CARRIER
            elif order.status == Order.Status.BACKORDERED:
                reason = REASON_BACKORDER
            else:
                reason = REASON_LATE
            delay = {"revised_date": revised, "kind": kind, "reason": reason}
    customer = order.customer.name if order.customer_id else ""  # loaded with the link
    return {
        "order_number": order.number,
        "status": CUSTOMER_STATUS.get(order.status, order.get_status_display()),
        "status_code": order.status,
        "is_open": order.is_open,
        "first_name": first_name(customer or order.ship_to_name),
        "city": order.ship_to_city,
        "placed_on": order.placed_at.astimezone(tz).date(),
        "ship_by": order.ship_by.astimezone(tz).date(),
        "lines": [
            {
                "name": name,
                "quantity": qty,
                "shipped": shipped,
                "waiting": backordered,
                "cancelled": cancelled,
            }
            for name, qty, shipped, backordered, cancelled in lines
        ],
        "shipments": [
            {
                "carrier": s.carrier.name,
                "tracking_number": s.tracking_number,
                "tracking_url": s.tracking_url,
                "status": TrackingStatus(s.status).label,
                "shipped_on": s.shipped_at.astimezone(tz).date(),
                "eta": s.eta,
                "delivered_at": s.delivered_at.astimezone(tz) if s.delivered_at else None,
                "events": [
                    {
                        "status": TrackingStatus(e.status).label,
                        "when": e.occurred_at.astimezone(tz),
                        "where": e.location,
                    }
                    for e in s.events.all()
                ],
            }
            for s in shipments
        ],
        "delay": delay,
    }


# --- Support tickets ---------------------------------------------------------------------


def ticket_page_data(ticket) -> dict:
    """Everything the ticket page shows beside the conversation, in a fixed number of
    queries: the conversation (with attachments), the linked order's lines, expected dates,
    shipments and latest timeline, the ticket's escalations."""
    from fulfillment.models import Shipment
    from orders.models import OrderEvent
    from support.models import Escalation, TicketMessage

    conversation = list(
        TicketMessage.objects.filter(ticket_id=ticket.pk)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")[:200]
    )
    escalations = list(
        Escalation.objects.filter(ticket_id=ticket.pk).select_related("acknowledged_by")
    )
    data = {
        "conversation": conversation,
        "escalations": escalations,
        "order": None,
        "lines": [],
        "shipments": [],
        "timeline": [],
    }
    order = ticket.order
    if order is not None:
        data["order"] = order
        data["lines"] = list(order.lines.select_related("product").order_by("line_no", "id"))
        data["shipments"] = list(
            Shipment.objects.filter(order_id=order.pk)
            .select_related("carrier")
            .order_by("-id")[:10]
        )
        data["timeline"] = list(
            OrderEvent.objects.filter(order_id=order.pk).select_related("user").order_by("-id")[:15]
        )
    return data
