"""Demo data for fulfillment, on top of ``seed_demo``'s backlog: carriers and their rate table,
pick waves in progress, shipments in transit (some delivered, some late) and one carrier
exception. Idempotent: carriers and rules are matched by code; waves and shipments are only
made for a client that has none yet.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count
from django.utils import timezone

from clients.models import Client
from fulfillment import services
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    Carrier,
    CarrierAccount,
    CarrierAccountRate,
    CarrierService,
    PickWave,
    ServiceLevelRule,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from fulfillment.selectors import ServiceCatalog, wave_candidates
from fulfillment.tracking_input import EventInput
from inventory.models import StockLevel, Warehouse
from orders.models import Order

CARRIERS = [
    (
        "SWIFT",
        "SwiftParcel",
        "https://track.swiftparcel.example/t/{tracking_number}",
        [
            ("GROUND", "Ground", 5, "6.90"),
            ("EXPRESS", "Express", 2, "14.50"),
            ("NEXTDAY", "Next day", 1, "24.00"),
        ],
    ),
    (
        "NSTAR",
        "NorthStar Logistics (3PL)",
        "https://northstar.example/tracking?n={tracking_number}",
        [
            ("ECONOMY", "Economy", 6, "4.80"),
            ("STANDARD", "Standard", 3, "8.20"),
            ("PRIORITY", "Priority", 1, "19.90"),
        ],
    ),
    (
        "PACPOST",
        "Pacific Post",
        "https://pacificpost.example/track/{tracking_number}",
        [("INTL", "International", 8, "12.00"), ("INTLX", "International express", 3, "29.00")],
    ),
]
# service level → (deliver within days of the ship-by date, acceptable "CARRIER:SERVICE")
RULES = {
    Order.ServiceLevel.STANDARD: (
        6,
        ["SWIFT:GROUND", "SWIFT:EXPRESS", "NSTAR:ECONOMY", "NSTAR:STANDARD", "PACPOST:INTL"],
    ),
    Order.ServiceLevel.EXPEDITED: (
        2,
        ["SWIFT:EXPRESS", "SWIFT:NEXTDAY", "NSTAR:PRIORITY", "PACPOST:INTLX"],
    ),
    Order.ServiceLevel.OVERNIGHT: (1, ["SWIFT:NEXTDAY", "NSTAR:PRIORITY"]),
}


def _carriers() -> None:
    for code, name, template, rates in CARRIERS:
        carrier, _ = Carrier.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "tracking_url_template": template,
                # Known secret so a developer can sign webhook calls by hand (DEBUG only).
                "webhook_secret": f"demo-secret-{code.lower()}",
                "webhook_secret_set_at": timezone.now(),
            },
        )
        for svc_code, svc_name, days, price in rates:
            CarrierService.objects.get_or_create(
                carrier=carrier,
                code=svc_code,
                defaults={"name": svc_name, "transit_days": days, "price": Decimal(price)},
            )
    for level, (days, names) in RULES.items():
        rule, created = ServiceLevelRule.objects.get_or_create(
            service_level=level, defaults={"deliver_within_days": days}
        )
        if created:
            wanted = [n.split(":") for n in names]
            rule.services.set(
                [CarrierService.objects.get(carrier__code=c, code=s) for c, s in wanted]
            )


def _accounts() -> None:
    """ACME's own contract with SwiftParcel: an account number and a negotiated Ground rate
    (what a supervisor of ACME sets under Fulfillment → Carrier accounts)."""
    acme = Client.objects.filter(code="ACME").first()
    if acme is None:
        return
    account, _ = CarrierAccount.objects.get_or_create(
        client=acme,
        carrier=Carrier.objects.get(code="SWIFT"),
        defaults={"account_number": "SP-ACME-001"},
    )
    CarrierAccountRate.objects.get_or_create(
        account=account,
        service=CarrierService.objects.get(carrier__code="SWIFT", code="GROUND"),
        defaults={"client": acme, "price": Decimal("5.40")},
    )


def _bins() -> None:
    """Give shelf locations to stock levels that have none (pick lists walk them in order)."""
    levels = list(StockLevel.objects.filter(bin_location="").select_related("warehouse"))
    for level in levels:
        n, aisle = level.product_id, level.warehouse.code[0]
        level.bin_location = f"{aisle}{n % 12 + 1:02d}-{n % 30 + 1:02d}-{n % 4 + 1}"
    StockLevel.objects.bulk_update(levels, ["bin_location"], batch_size=1000)


def _best_warehouse(client: Client) -> Warehouse | None:
    counts = []
    for warehouse in Warehouse.objects.filter(active=True):
        counts.append((wave_candidates(client=client, warehouse=warehouse).count(), warehouse))
    counts.sort(key=lambda c: (-c[0], c[1].pk))
    return counts[0][1] if counts and counts[0][0] else None


def _waves(client: Client, rng: random.Random) -> int:
    if PickWave.objects.filter(client=client).exists():
        return 0
    warehouse = _best_warehouse(client)
    if warehouse is None:
        return 0
    made = 0
    for size, to_pack in ((12, 5), (8, 0)):
        try:
            wave = services.wave_create(client=client, warehouse=warehouse, size=size)
        except FulfillmentError:
            break
        made += 1
        # Pack part of it, never all: the wave stays on the floor for the agent to finish.
        to_pack = min(to_pack, wave.order_count - 1)
        for entry in wave.entries.select_related("order").order_by("sequence")[:to_pack]:
            services.order_pack(order=entry.order)
    return made


def _shipments(client: Client, rng: random.Random, catalog: ServiceCatalog, flag: bool) -> int:
    if Shipment.objects.filter(client=client).exists():
        return 0
    now = timezone.now()
    packed = list(
        Order.objects.filter(client=client, status=Order.Status.PACKED)
        .annotate(n=Count("wave_entries"))
        .filter(n=0)  # leave the wave's packed orders for the agent to ship
        .order_by("pk")[:16]
    )
    made: list[Shipment] = []
    for order in packed:
        # The first parcel of the first client is the one that runs into an exception.
        hours = 72 if flag and not made else rng.randint(3, 24 * 5)
        shipped_at = now - timedelta(hours=hours)
        service = catalog.suggest(order, now=shipped_at)
        if service is None:
            continue
        try:
            shipment = services.shipment_create(
                order=order,
                service=service,
                tracking_number=f"{service.carrier.code[:2]}{client.code}{order.pk:09d}",
                shipped_at=shipped_at,
            )
        except FulfillmentError:
            continue
        made.append(shipment)
    events: dict[Carrier, list[EventInput]] = {}
    for i, shipment in enumerate(made):
        start = shipment.shipped_at
        # A parcel's journey so far: some just picked up, most in transit, a few delivered.
        journey = [(TrackingStatus.PICKED_UP, 2, "Picked up at the dock")]
        if i % 4 != 0:
            journey.append((TrackingStatus.IN_TRANSIT, 20, "Departed sort centre"))
        if i % 4 == 3:
            journey.append((TrackingStatus.OUT_FOR_DELIVERY, 40, "On the delivery van"))
            journey.append((TrackingStatus.DELIVERED, 46, "Left with the customer"))
        if flag and i == 0:
            journey.append((TrackingStatus.EXCEPTION, 30, "Address not found: customer contacted"))
        for status, hours, text in journey:
            when = start + timedelta(hours=hours)
            if when > now:
                break
            events.setdefault(shipment.carrier, []).append(
                EventInput(
                    tracking_number=shipment.tracking_number,
                    status=status,
                    occurred_at=when,
                    location=rng.choice(["Memphis hub", "Leipzig hub", "Auckland DC", "Depot 7"]),
                    description=text,
                )
            )
    for carrier, batch in events.items():
        services.tracking_events_ingest(
            carrier=carrier, events=batch, source=TrackingEvent.Source.WEBHOOK
        )
    return len(made)


def seed_fulfillment_demo(seed: int = 7) -> str:
    """Add the fulfillment demo data; returns a one-line summary."""
    rng = random.Random(seed)
    _carriers()
    _accounts()
    _bins()
    catalog = ServiceCatalog.load()
    waves = shipments = 0
    for index, client in enumerate(Client.objects.filter(active=True).order_by("code")):
        shipments += _shipments(client, rng, catalog, flag=index == 0)
        waves += _waves(client, rng)
    return (
        f"Fulfillment demo: {Carrier.objects.count()} carriers, {waves} new pick wave(s), "
        f"{shipments} new shipment(s)."
    )
