"""Fixtures for fulfillment: a small rate table and orders brought to a given status."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from fulfillment.models import Carrier, CarrierService, ServiceLevelRule
from orders import services as order_services
from orders.models import Order


@dataclass
class Rates:
    swift: Carrier
    nstar: Carrier
    ground: CarrierService  # SWIFT, 5 days, 6.90
    express: CarrierService  # SWIFT, 2 days, 14.50
    nextday: CarrierService  # SWIFT, 1 day, 24.00
    economy: CarrierService  # NSTAR, 6 days, 4.80
    priority: CarrierService  # NSTAR, 1 day, 19.90


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Stored PDFs go to a throw-away folder, never into the project's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def rates(db) -> Rates:
    swift = Carrier.objects.create(
        name="SwiftParcel",
        code="SWIFT",
        tracking_url_template="https://track.swift.example/t/{tracking_number}",
        webhook_secret="swift-secret",
    )
    nstar = Carrier.objects.create(
        name="NorthStar",
        code="NSTAR",
        tracking_url_template="https://northstar.example/?n={tracking_number}",
        webhook_secret="nstar-secret",
    )

    def svc(carrier, code, days, price):
        return CarrierService.objects.create(
            carrier=carrier, code=code, name=code.title(), transit_days=days, price=Decimal(price)
        )

    r = Rates(
        swift=swift,
        nstar=nstar,
        ground=svc(swift, "GROUND", 5, "6.90"),
        express=svc(swift, "EXPRESS", 2, "14.50"),
        nextday=svc(swift, "NEXTDAY", 1, "24.00"),
        economy=svc(nstar, "ECONOMY", 6, "4.80"),
        priority=svc(nstar, "PRIORITY", 1, "19.90"),
    )
    standard = ServiceLevelRule.objects.create(service_level="standard", deliver_within_days=6)
    standard.services.set([r.ground, r.express, r.economy])
    expedited = ServiceLevelRule.objects.create(service_level="expedited", deliver_within_days=2)
    expedited.services.set([r.express, r.nextday, r.priority])
    return r


@pytest.fixture
def to_status():
    """Bring a ready order to picking or packed through the order services."""

    def move(order: Order, status: str) -> Order:
        order_services.order_move(order=order, to_status="picking")
        if status == "packed":
            order_services.order_move(order=order, to_status="packed")
        order.refresh_from_db()
        return order

    return move
