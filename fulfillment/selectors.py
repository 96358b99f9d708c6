"""Reads with logic: service selection, wave candidates, pick lists, packing slips, panels."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from clients.models import Client
from clients.scoping import scope_queryset
from fulfillment.models import (
    CarrierAccountRate,
    CarrierService,
    PickWave,
    PickWaveOrder,
    ServiceLevelRule,
    Shipment,
    ShipmentLine,
)
from inventory.models import StockLevel, Warehouse
from orders.models import Allocation, Order, OrderLine
from orders.services import SHIPPABLE_STATUSES, priority_key


# -- scoping ------------------------------------------------------------------------------------
def shipments_visible_to(user) -> QuerySet[Shipment]:
    return scope_queryset(Shipment.objects.all(), user)


def waves_visible_to(user) -> QuerySet[PickWave]:
    return scope_queryset(PickWave.objects.all(), user)


# -- service selection --------------------------------------------------------------------------
@dataclass
class ServiceOption:
    service: CarrierService
    eta: date
    deliver_by: date | None  # the delivery promise; None when no rule exists for the level
    acceptable: bool  # listed for the order's service level
    suggested: bool = False
    price: Decimal | None = None  # the client's negotiated rate, else the service's list price

    def __post_init__(self) -> None:
        if self.price is None:
            self.price = self.service.price

    @property
    def on_time(self) -> bool:
        return self.deliver_by is None or self.eta <= self.deliver_by

    @property
    def days_late(self) -> int:
        return 0 if self.on_time else (self.eta - self.deliver_by).days  # type: ignore[operator]

    @property
    def label(self) -> str:
        s = self.service
        text = (
            f"{s.carrier.name} {s.name} – {self.price} – {s.transit_days} d, "
            f"ETA {self.eta:%Y-%m-%d}"
        )
        if self.suggested:
            text += " (suggested)"
        if not self.acceptable:
            text += " (not listed for this service level)"
        elif not self.on_time:
            text += f" ({self.days_late} d after the promise)"
        return text


class ServiceCatalog:
    """Active carrier services and the service-level rules, loaded once per request/batch."""

    def __init__(
        self,
        services: list[CarrierService],
        rules: dict[str, tuple[int, set[int]]],
        client_rates: dict[tuple[int, int], Decimal] | None = None,
    ):
        self.services = services
        self.rules = rules  # {service_level: (deliver_within_days, {acceptable service ids})}
        # {(client_id, service_id): price} from the clients' active carrier accounts.
        self.client_rates = client_rates or {}

    @classmethod
    def load(cls) -> ServiceCatalog:
        services = list(
            CarrierService.objects.filter(active=True, carrier__active=True)
            .select_related("carrier")
            .order_by("price", "transit_days", "carrier__code", "code")
        )
        rules: dict[str, tuple[int, set[int]]] = {}
        for rule in ServiceLevelRule.objects.prefetch_related("services"):
            rules[rule.service_level] = (
                rule.deliver_within_days,
                {s.pk for s in rule.services.all()},
            )
        client_rates = {
            (client_id, service_id): price
            for client_id, service_id, price in CarrierAccountRate.objects.filter(
                account__active=True
            ).values_list("client_id", "service_id", "price")
        }
        return cls(services, rules, client_rates)

    def price(self, order: Order, service: CarrierService) -> Decimal:
        return self.client_rates.get((order.client_id, service.pk), service.price)

    def deliver_by(self, order: Order) -> date | None:
        rule = self.rules.get(order.service_level)
        if rule is None:
            return None
        return timezone.localdate(order.ship_by) + timedelta(days=rule[0])

    def options(
        self, order: Order, *, now: datetime | None = None, include_all: bool = False
    ) -> list[ServiceOption]:
        """Services for ``order`` shipped now, the suggestion first.

        The suggestion is the cheapest acceptable service whose ETA (today + transit days) is
        on or before the delivery promise (ship-by date + the level's ``deliver_within_days``);
        when none can make it any more, the fastest acceptable one (then the cheapest). With
        no rule for the level every active service is acceptable. ``include_all`` adds the
        other active services too, for an agent who overrides the rule.
        """
        today = timezone.localdate(now or timezone.now())
        rule = self.rules.get(order.service_level)
        acceptable_ids = rule[1] if rule else None
        deliver_by = self.deliver_by(order)
        options = []
        for service in self.services:
            acceptable = acceptable_ids is None or service.pk in acceptable_ids
            if not acceptable and not include_all:
                continue
            options.append(
                ServiceOption(
                    service=service,
                    eta=today + timedelta(days=service.transit_days),
                    deliver_by=deliver_by,
                    acceptable=acceptable,
                    price=self.price(order, service),
                )
            )
        candidates = [o for o in options if o.acceptable]
        in_time = [o for o in candidates if o.on_time]
        if in_time:
            best = min(in_time, key=lambda o: (o.price, o.service.transit_days))
        elif candidates:
            best = min(candidates, key=lambda o: (o.service.transit_days, o.price))
        else:
            best = None
        if best is not None:
            best.suggested = True
        options.sort(
            key=lambda o: (not o.suggested, not o.acceptable, o.price, o.eta, o.service.pk)
        )
        return options

    def suggest(self, order: Order, *, now: datetime | None = None) -> CarrierService | None:
        options = self.options(order, now=now)
        return options[0].service if options and options[0].suggested else None


def service_options(
    *, order: Order, now: datetime | None = None, include_all: bool = False
) -> list[ServiceOption]:
    return ServiceCatalog.load().options(order, now=now, include_all=include_all)


def suggest_service(*, order: Order, now: datetime | None = None) -> CarrierService | None:
    """The cheapest acceptable service that still delivers by the promise (see ServiceCatalog)."""
    return ServiceCatalog.load().suggest(order, now=now)


# -- waves --------------------------------------------------------------------------------------
def wave_candidates(*, client: Client, warehouse: Warehouse) -> QuerySet[Order]:
    """Ready orders of ``client`` whose every allocated unit is in ``warehouse``, most urgent
    first (the allocation engine's order: priority, promise, age, id).

    Orders split over several warehouses are left out: one wave picks in one building; the
    agent ships such an order per warehouse after moving it to picking from its page.
    """
    here = Allocation.objects.filter(line__order=OuterRef("pk"), stock_level__warehouse=warehouse)
    elsewhere = Allocation.objects.filter(line__order=OuterRef("pk")).exclude(
        stock_level__warehouse=warehouse
    )
    return (
        Order.objects.filter(client=client, status=Order.Status.READY)
        .filter(Exists(here))
        .exclude(Exists(elsewhere))
        .order_by("-priority_score", "ship_by", "placed_at", "id")
    )


def ready_orders_by_warehouse(client_ids) -> list[dict]:
    """For the wave form: ready orders per client and warehouse (split orders counted apart)."""
    orders = Order.objects.filter(status=Order.Status.READY)
    if client_ids is not None:
        orders = orders.filter(client_id__in=client_ids)
    rows = (
        Allocation.objects.filter(line__order__in=orders.values("pk"))
        .values("line__order_id", "line__order__client_id", "stock_level__warehouse_id")
        .distinct()
    )
    per_order: dict[int, set[int]] = defaultdict(set)
    client_of: dict[int, int] = {}
    for r in rows:
        per_order[r["line__order_id"]].add(r["stock_level__warehouse_id"])
        client_of[r["line__order_id"]] = r["line__order__client_id"]
    counts: dict[tuple[int, int | None], int] = defaultdict(int)
    for order_id, warehouses in per_order.items():
        key = (client_of[order_id], next(iter(warehouses)) if len(warehouses) == 1 else None)
        counts[key] += 1
    clients = Client.objects.in_bulk({c for c, _ in counts})
    warehouses = Warehouse.objects.in_bulk({w for _, w in counts if w})
    return sorted(
        (
            {
                "client": clients[c],
                "warehouse": warehouses.get(w) if w else None,
                "count": n,
            }
            for (c, w), n in counts.items()
        ),
        key=lambda r: (r["client"].code, r["warehouse"].code if r["warehouse"] else "~"),
    )


@dataclass
class PickRow:
    bin_location: str
    sku: str
    name: str
    quantity: int = 0
    orders: list[tuple[str, int]] = field(default_factory=list)  # (order number, units)


@dataclass
class WaveOrderRow:
    sequence: int
    order: Order
    lines: list[dict] = field(default_factory=list)  # sku, name, quantity, bin_location

    @property
    def units(self) -> int:
        return sum(ln["quantity"] for ln in self.lines)


@dataclass
class PickList:
    wave: PickWave
    rows: list[PickRow]
    orders: list[WaveOrderRow]

    @property
    def units(self) -> int:
        return sum(r.quantity for r in self.rows)

    @property
    def line_count(self) -> int:
        return sum(len(o.lines) for o in self.orders)


def pick_list(wave: PickWave) -> PickList:
    """What to take from the shelves for a wave: units per SKU and bin (walk order: bin, then
    SKU) with the orders they go to, and the orders in wave (priority) order.

    The units of an order are those allocated in the wave's warehouse plus those that already
    shipped from it, so a reprint after shipping still shows the whole wave. Four queries.
    """
    entries = list(
        PickWaveOrder.objects.filter(wave=wave)
        .select_related("order", "order__customer")
        .order_by("sequence")
    )
    order_ids = [e.order_id for e in entries]
    units: dict[int, int] = defaultdict(int)  # line id → units picked in this warehouse
    for line_id, qty in Allocation.objects.filter(
        line__order_id__in=order_ids, stock_level__warehouse_id=wave.warehouse_id
    ).values_list("line_id", "quantity"):
        units[line_id] += qty
    for line_id, qty in ShipmentLine.objects.filter(
        order_line__order_id__in=order_ids, stock_level__warehouse_id=wave.warehouse_id
    ).values_list("order_line_id", "quantity"):
        units[line_id] += qty
    lines = list(
        OrderLine.objects.filter(pk__in=list(units))
        .values("pk", "order_id", "line_no", "product_id", "product__sku", "product__name")
        .order_by("order_id", "line_no")
    )
    bins = dict(
        StockLevel.objects.filter(
            warehouse_id=wave.warehouse_id, product_id__in={ln["product_id"] for ln in lines}
        ).values_list("product_id", "bin_location")
    )
    order_rows = {e.order_id: WaveOrderRow(sequence=e.sequence, order=e.order) for e in entries}
    by_sku: dict[tuple[str, str], PickRow] = {}
    for ln in lines:
        qty = units[ln["pk"]]
        bin_location = bins.get(ln["product_id"]) or ""
        order = order_rows[ln["order_id"]].order
        order_rows[ln["order_id"]].lines.append(
            {
                "sku": ln["product__sku"],
                "name": ln["product__name"],
                "quantity": qty,
                "bin_location": bin_location,
            }
        )
        key = (bin_location, ln["product__sku"])
        row = by_sku.get(key)
        if row is None:
            row = by_sku[key] = PickRow(bin_location, ln["product__sku"], ln["product__name"])
        row.quantity += qty
        row.orders.append((order.number, qty))
    # Bins first in walk order; SKUs without a known bin at the end.
    rows = sorted(by_sku.values(), key=lambda r: (r.bin_location == "", r.bin_location, r.sku))
    return PickList(wave=wave, rows=rows, orders=[order_rows[i] for i in order_ids])


def wave_progress(wave: PickWave) -> dict[str, int]:
    """``{order status: number of the wave's orders in it}``."""
    return dict(
        PickWaveOrder.objects.filter(wave=wave)
        .values("order__status")
        .annotate(n=Count("id"))
        .values_list("order__status", "n")
    )


# -- packing slips -------------------------------------------------------------------------------
@dataclass
class PackingSlip:
    order: Order
    lines: list[dict]
    shipments: list[Shipment]


def packing_slips(order_ids: list[int]) -> list[PackingSlip]:
    """Packing slips in the given order: client, order, customer, ship-to, lines, quantities.

    A line's quantity "in this parcel" is what is allocated or shipped (not cancelled or
    still backordered); ordered and backordered are shown beside it.
    """
    orders = Order.objects.select_related("client", "customer").in_bulk(order_ids)
    lines_by_order: dict[int, list[dict]] = defaultdict(list)
    for ln in (
        OrderLine.objects.filter(order_id__in=order_ids)
        .select_related("product")
        .order_by("order_id", "line_no")
    ):
        lines_by_order[ln.order_id].append(
            {
                "line_no": ln.line_no,
                "sku": ln.product.sku,
                "name": ln.product.name,
                "ordered": ln.quantity,
                "packed": ln.qty_allocated + ln.qty_shipped,
                "backordered": ln.qty_backordered,
                "cancelled": ln.qty_cancelled,
            }
        )
    shipments: dict[int, list[Shipment]] = defaultdict(list)
    for s in Shipment.objects.filter(order_id__in=order_ids).select_related("carrier", "service"):
        shipments[s.order_id].append(s)
    return [
        PackingSlip(order=orders[i], lines=lines_by_order[i], shipments=shipments[i])
        for i in order_ids
        if i in orders
    ]


# -- the order page panel ------------------------------------------------------------------------
def order_fulfillment(order: Order) -> dict:
    """Shipments (with their last events), waves and shippable units of one order."""
    shipments = list(
        Shipment.objects.filter(order=order)
        .select_related("carrier", "service", "warehouse")
        .prefetch_related("events", "lines__order_line__product")
        .order_by("shipped_at", "id")
    )
    waves = list(
        PickWave.objects.filter(entries__order=order).select_related("warehouse").order_by("-id")
    )
    allocated = OrderLine.objects.filter(order=order).aggregate(n=Sum("qty_allocated"))["n"] or 0
    return {"shipments": shipments, "waves": waves, "allocated_units": allocated}


def orders_by_priority(orders: list[Order]) -> list[Order]:
    return sorted(orders, key=priority_key)


# -- what can be shipped --------------------------------------------------------------------------
def allocated_by_warehouse(order: Order) -> dict[int, dict[int, int]]:
    """``{warehouse_id: {line_id: units}}`` allocated for the order right now."""
    result: dict[int, dict[int, int]] = defaultdict(dict)
    for line_id, warehouse_id, qty in Allocation.objects.filter(line__order=order).values_list(
        "line_id", "stock_level__warehouse_id", "quantity"
    ):
        result[warehouse_id][line_id] = result[warehouse_id].get(line_id, 0) + qty
    return result


def order_is_shippable(order: Order) -> bool:
    """Whether the order's "Ship…" action applies: packed, or backordered with units
    allocated that can go ahead of the rest ("ship what we have")."""
    if order.status == Order.Status.PACKED:
        return True
    return (
        order.status == Order.Status.BACKORDERED
        and order.lines.filter(qty_allocated__gt=0).exists()
    )


def orders_split_shippable(orders: list[Order]) -> tuple[list[Order], list[Order]]:
    """``(shippable, skipped)``: the orders in a shipping status
    (``orders.services.SHIPPABLE_STATUSES``) and the others, each in the given order."""
    shippable = [o for o in orders if o.status in SHIPPABLE_STATUSES]
    skipped = [o for o in orders if o.status not in SHIPPABLE_STATUSES]
    return shippable, skipped


def lines_to_ship(order: Order) -> list[OrderLine]:
    """The order's lines that hold allocated units, in line order, products attached."""
    return [
        ln for ln in order.lines.select_related("product").order_by("line_no") if ln.qty_allocated
    ]


def tracking_numbers_unknown(*, carrier, events, client_ids) -> list[tuple[int, str]]:
    """``(row, tracking number)`` of the events whose number is not a shipment of
    ``carrier`` for one of ``client_ids`` (``None``: any client) — checking a carrier's file
    before storing it; the caller passes the clients the user *supervises*."""
    shipments = Shipment.objects.filter(
        carrier=carrier, tracking_number__in={e.tracking_number for e in events}
    )
    if client_ids is not None:
        shipments = shipments.filter(client_id__in=client_ids)
    known = set(shipments.values_list("tracking_number", flat=True))
    return [(e.row, e.tracking_number) for e in events if e.tracking_number not in known]


# -- waves: what the pages act on ------------------------------------------------------------------
def open_wave_ids(*, client_ids, limit: int = 200) -> list[int]:
    """Ids of waves still being picked, of these clients (``None``: all), at most ``limit``."""
    waves = PickWave.objects.filter(status=PickWave.Status.PICKING)
    if client_ids is not None:
        waves = waves.filter(client_id__in=client_ids)
    return list(waves.values_list("pk", flat=True)[:limit])


def wave_orders(*, wave: PickWave, order_ids) -> list[Order]:
    """These orders, those of them in ``wave``, in pick sequence."""
    return list(
        Order.objects.filter(pk__in=list(order_ids), wave_entries__wave=wave).order_by(
            "wave_entries__sequence"
        )
    )
