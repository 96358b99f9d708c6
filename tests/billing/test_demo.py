"""seed_demo: one client on each payment policy, orders on each hold, idempotent."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import override_settings

from billing.models import Invoice, PaymentProvider
from clients.models import Client
from orders.models import Order


def _seed():
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--orders", "10", stdout=out)
    return out.getvalue()


def test_seed_demo_has_every_policy_and_hold(db):
    assert "Billing:" in _seed()
    policies = dict(Client.objects.values_list("code", "payment_policy"))
    assert policies == {"ACME": "terms", "NORD": "prepaid", "KIWI": "cod"}
    held = Order.objects.filter(status=Order.Status.ON_HOLD)
    assert set(held.filter(hold_type="payment").values_list("number", flat=True)) == {
        "NORD-PAY-1",
        "NORD-PAY-2",
        "NORD-PAY-3",
    }
    assert list(held.filter(hold_type="credit").values_list("number", flat=True)) == [
        "ACME-CREDIT-1"
    ]
    assert PaymentProvider.objects.filter(code="demo-pay").exists()
    counts = (Order.objects.count(), Invoice.objects.count())
    _seed()
    assert (Order.objects.count(), Invoice.objects.count()) == counts
