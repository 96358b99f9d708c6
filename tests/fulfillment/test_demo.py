"""seed_demo includes fulfillment: carriers, waves in progress, shipments in transit, one
exception; running it again adds nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from fulfillment.models import Carrier, CarrierService, PickWave, Shipment, TrackingEvent
from orders.models import Order
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db


def _counts():
    return {
        m.__name__: m.objects.count()
        for m in (Carrier, CarrierService, PickWave, Shipment, TrackingEvent)
    }


def test_seed_demo_includes_fulfillment_and_is_idempotent():
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--orders", "60", stdout=out)
    assert "Fulfillment demo:" in out.getvalue()
    assert set(Carrier.objects.values_list("code", flat=True)) == {"SWIFT", "NSTAR", "PACPOST"}
    assert PickWave.objects.filter(status=PickWave.Status.PICKING).exists()
    assert Order.objects.filter(status=Order.Status.PICKING, wave_entries__isnull=False).exists()
    in_transit = Shipment.objects.filter(delivered_at__isnull=True).exclude(status="exception")
    assert in_transit.exists()
    assert Shipment.objects.filter(status="exception").count() == 1
    flagged = Order.objects.filter(exception_flag=True)
    assert flagged.count() == 1 and flagged.get().delay_reason.startswith("Exception (")
    assert_stock_invariants()

    before = _counts()
    with override_settings(DEBUG=True):
        call_command("seed_fulfillment_demo", stdout=StringIO())
    assert _counts() == before


def test_seed_fulfillment_demo_refuses_without_debug():
    with override_settings(DEBUG=False), pytest.raises(CommandError):
        call_command("seed_fulfillment_demo", stdout=StringIO())
