"""Demo billing for ``seed_demo``: one client on each payment policy (ACME invoice terms,
NORD prepaid, KIWI cash on delivery), prepaid orders waiting on a payment hold, a customer on
a credit hold, a demo payment provider, and invoices for the shipments the demo made."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F

from billing.models import Invoice, PaymentProvider
from billing.services import invoices_issue_for_shipments
from clients.models import Client
from inventory.models import StockLevel
from orders.models import Customer, Order
from orders.services import LineInput, order_create

POLICIES = {
    "ACME": dict(
        payment_policy=Client.PaymentPolicy.TERMS,
        payment_terms_days=30,
        invoice_mode=Client.InvoiceMode.PER_SHIPMENT,
        invoice_rounding=Client.Rounding.PER_LINE,
        invoice_legal_lines="Acme Outdoor Gear Inc. · 1 Trail Street, Lakeside · Tax ID US-123",
    ),
    "NORD": dict(
        payment_policy=Client.PaymentPolicy.PREPAID,
        invoice_mode=Client.InvoiceMode.PER_ORDER,
        invoice_rounding=Client.Rounding.PER_INVOICE,
        invoice_tax_rate=Decimal("19.00"),
        invoice_legal_lines="Nordlicht Home GmbH · Hafenstraße 1, Hamburg · USt-IdNr. DE123456789",
    ),
    "KIWI": dict(payment_policy=Client.PaymentPolicy.COD),
}
# The orders this demo adds on top of the backlog, per client (seed_demo's tests count them).
DEMO_ORDERS = {"NORD": ["NORD-PAY-1", "NORD-PAY-2", "NORD-PAY-3"], "ACME": ["ACME-CREDIT-1"]}
DEMO_PROVIDER = ("demo-pay", "Demo payments", "demo-payment-secret")


def _stocked_product(client: Client, qty: int):
    level = (
        StockLevel.objects.filter(product__client=client, on_hand__gte=F("allocated") + qty)
        .select_related("product")
        .order_by("product__sku")
        .first()
    )
    return level.product if level else None


def _order(client, number, customer, qty=1):
    if Order.objects.filter(client=client, number=number).exists():
        return None
    product = _stocked_product(client, qty)
    if product is None:
        return None
    return order_create(
        client=client,
        number=number,
        customer=customer,
        lines=[LineInput(product=product, quantity=qty, unit_price=Decimal("49.00"))],
        payment_status=Order.PaymentStatus.PENDING,
    )


def seed_billing_demo() -> str:
    """Idempotent: fixed order numbers, get-or-create everything else."""
    clients = {c.code: c for c in Client.objects.filter(code__in=POLICIES)}
    for code, settings in POLICIES.items():
        if code in clients:
            Client.objects.filter(pk=clients[code].pk).update(**settings)
            clients[code].refresh_from_db()
    if "NORD" in clients:
        nord = clients["NORD"]
        PaymentProvider.objects.get_or_create(
            code=DEMO_PROVIDER[0],
            defaults={"client": nord, "name": DEMO_PROVIDER[1], "webhook_secret": DEMO_PROVIDER[2]},
        )
        customer, _ = Customer.objects.get_or_create(
            client=nord, external_id="DEMO-PREPAID", defaults={"name": "Paula Prepaid"}
        )
        for i, number in enumerate(DEMO_ORDERS["NORD"], start=1):
            _order(nord, number, customer, qty=i)
    if "ACME" in clients:
        acme = clients["ACME"]
        customer, _ = Customer.objects.get_or_create(
            client=acme,
            external_id="DEMO-CREDIT",
            defaults={"name": "Carl Credit", "credit_limit": Decimal("40.00")},
        )
        # 49 > 40: credit hold. (No demo order of ours becomes ready: the fulfillment demo,
        # which ran before, must find nothing new to put in a wave when it runs again.)
        _order(acme, DEMO_ORDERS["ACME"][0], customer)
    from fulfillment.models import Shipment

    invoiced = invoices_issue_for_shipments(
        shipment_ids=list(Shipment.objects.values_list("pk", flat=True))
    )
    held = Order.objects.filter(status=Order.Status.ON_HOLD)
    return (
        f"Billing: ACME invoice terms, NORD prepaid, KIWI cash on delivery; "
        f"{held.filter(hold_type='payment').count()} order(s) on payment hold "
        f"(e.g. NORD-PAY-1), {held.filter(hold_type='credit').count()} on credit hold "
        f"(ACME-CREDIT-1); {len(invoiced)} invoice(s) issued now, "
        f"{Invoice.objects.count()} in all. Payment webhook: POST /webhooks/payments/"
        f"{DEMO_PROVIDER[0]}/ signed with '{DEMO_PROVIDER[2]}'."
    )
