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
        for i in range(1, 4):
            _order(nord, f"NORD-PAY-{i}", customer, qty=i)
    if "ACME" in clients:
        acme = clients["ACME"]
        customer, _ = Customer.objects.get_or_create(
            client=acme,
            external_id="DEMO-CREDIT",
            defaults={"name": "Carl Credit", "credit_limit": Decimal("100.00")},
        )
        _order(acme, "ACME-CREDIT-1", customer)  # 49: within the limit
        _order(acme, "ACME-CREDIT-2", customer)  # 98
        _order(acme, "ACME-CREDIT-3", customer)  # 147: over 100 → credit hold
    from fulfillment.models import Shipment

    invoiced = invoices_issue_for_shipments(
        shipment_ids=list(Shipment.objects.values_list("pk", flat=True))
    )
    held = Order.objects.filter(status=Order.Status.ON_HOLD)
    return (
        f"Billing: ACME invoice terms, NORD prepaid, KIWI cash on delivery; "
        f"{held.filter(hold_type='payment').count()} order(s) on payment hold "
        f"(e.g. NORD-PAY-1), {held.filter(hold_type='credit').count()} on credit hold "
        f"(ACME-CREDIT-3); {len(invoiced)} invoice(s) issued now, "
        f"{Invoice.objects.count()} in all. Payment webhook: POST /webhooks/payments/"
        f"{DEMO_PROVIDER[0]}/ signed with '{DEMO_PROVIDER[2]}'."
    )
