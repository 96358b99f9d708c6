"""Billing fixtures: one client per payment policy, a carrier service, tasks inline."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django_q.conf import Conf

from clients.models import Client
from fulfillment.models import Carrier, CarrierService
from orders import services as order_services


@pytest.fixture(autouse=True)
def _media_and_tasks(settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def service(db):
    carrier = Carrier.objects.create(
        name="SwiftParcel",
        code="SWIFT",
        tracking_url_template="https://track.swift.example/t/{tracking_number}",
        webhook_secret="swift-secret",
    )
    return CarrierService.objects.create(
        carrier=carrier, code="GROUND", name="Ground", transit_days=5, price=Decimal("6.90")
    )


@pytest.fixture
def billing_world(make_client, make_warehouse, make_product):
    wh = make_warehouse()
    prepaid = make_client(
        "PRE",
        payment_policy=Client.PaymentPolicy.PREPAID,
        invoice_mode=Client.InvoiceMode.PER_ORDER,
        invoice_tax_rate=Decimal("19.00"),
        invoice_legal_lines="Prepaid GmbH · VAT DE123",
    )
    terms = make_client(
        "ACME",
        payment_policy=Client.PaymentPolicy.TERMS,
        payment_terms_days=14,
        invoice_tax_rate=Decimal("19.00"),
    )
    return {
        "wh": wh,
        "prepaid": prepaid,
        "terms": terms,
        "pre_lamp": make_product(prepaid, "LAMP", stock={wh: 50}),
        "acme_lamp": make_product(terms, "LAMP", stock={wh: 50}),
        "acme_mug": make_product(terms, "MUG", stock={wh: 50}),
    }


def pack(order):
    order_services.order_move(order=order, to_status="picking")
    order_services.order_move(order=order, to_status="packed")
    order.refresh_from_db()
    return order
