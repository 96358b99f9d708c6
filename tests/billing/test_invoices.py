"""Invoices per shipment and per order, amounts and rounding, numbering, credit notes,
immutability, PDFs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import services
from billing.exceptions import BillingError
from billing.models import DocumentSeries, Invoice
from billing.services import LineDraft, compute_amounts, credit_note_issue
from clients.models import Client
from fulfillment.services import shipment_create
from orders.models import Order
from orders.services import order_cancel
from tests.billing.conftest import pack

YEAR = timezone.localdate().year


def test_amounts_per_line_and_per_invoice_rounding_differ_as_documented():
    lines = [LineDraft("a", Decimal(1), Decimal("0.05"), Decimal("19"))] * 3
    # per line: 0.05 × 19 % = 0.0095 → 0.01 each → 0.03
    _rows, sub, tax, total = compute_amounts(lines, Client.Rounding.PER_LINE)
    assert (sub, tax, total) == (Decimal("0.15"), Decimal("0.03"), Decimal("0.18"))
    # per invoice: 0.0285 → 0.03 … and with 0.0095×2 = 0.019 → 0.02
    _rows, sub, tax, total = compute_amounts(lines[:2], Client.Rounding.PER_INVOICE)
    assert (sub, tax, total) == (Decimal("0.10"), Decimal("0.02"), Decimal("0.12"))
    _rows, sub, tax, total = compute_amounts(
        [LineDraft("a", Decimal(1), Decimal("0.04"), Decimal("19"))] * 2, Client.Rounding.PER_LINE
    )
    assert tax == Decimal("0.02")  # 0.0076 → 0.01, twice
    _rows, sub, tax, total = compute_amounts(
        [LineDraft("a", Decimal(1), Decimal("0.04"), Decimal("19"))] * 2,
        Client.Rounding.PER_INVOICE,
    )
    assert tax == Decimal("0.02")  # 0.0152 → 0.02
    _rows, sub, tax, total = compute_amounts(
        [LineDraft("a", Decimal(1), Decimal("0.02"), Decimal("19"))] * 3,
        Client.Rounding.PER_INVOICE,
    )
    assert tax == Decimal("0.01")  # 0.0114 → 0.01, while per line gives 0.00 × 3
    _rows, sub, tax, total = compute_amounts(
        [LineDraft("a", Decimal(1), Decimal("0.02"), Decimal("19"))] * 3,
        Client.Rounding.PER_LINE,
    )
    assert tax == Decimal("0.00")


def test_partial_shipments_are_invoiced_as_they_ship(
    billing_world, make_order, service, django_capture_on_commit_callbacks
):
    w = billing_world
    order = make_order(w["terms"], [(w["acme_lamp"], 3), (w["acme_mug"], 2)])
    order = pack(order)
    lamp_line = order.lines.get(product=w["acme_lamp"])
    with django_capture_on_commit_callbacks(execute=True):
        first = shipment_create(
            order=order, service=service, tracking_number="TRK1", quantities={lamp_line.pk: 2}
        )
    inv = Invoice.objects.get(shipment_id=first.pk)
    assert inv.number == f"ACME-{YEAR}-000001"
    assert inv.lines.get().quantity == 2
    assert (inv.subtotal, inv.tax_total, inv.total) == (
        Decimal("20.00"),
        Decimal("3.80"),
        Decimal("23.80"),
    )
    assert inv.due_on == timezone.localdate() + dt.timedelta(days=14)
    assert inv.pdf  # rendered once by the (inline) task
    with django_capture_on_commit_callbacks(execute=True):
        second = shipment_create(order=order, service=service, tracking_number="TRK2")
    inv2 = Invoice.objects.get(shipment_id=second.pk)
    assert inv2.number == f"ACME-{YEAR}-000002"
    assert sorted(inv2.lines.values_list("quantity", flat=True)) == [1, 2]
    # running the task again issues nothing twice
    assert services.invoices_issue_for_shipments(shipment_ids=[first.pk, second.pk]) == []
    assert Invoice.objects.filter(order=order).count() == 2


def test_customer_terms_override_sets_the_due_date(
    billing_world, make_order, make_customer, service, django_capture_on_commit_callbacks
):
    w = billing_world
    customer = make_customer(w["terms"], payment_terms_days=60)
    order = pack(make_order(w["terms"], [(w["acme_lamp"], 1)], customer=customer))
    with django_capture_on_commit_callbacks(execute=True):
        shipment_create(order=order, service=service, tracking_number="TRK9")
    inv = Invoice.objects.get(order=order)
    assert inv.due_on == timezone.localdate() + dt.timedelta(days=60)


def test_prepaid_per_order_invoice_at_release_and_credit_note_on_cancel(
    billing_world, make_order, django_capture_on_commit_callbacks
):
    w = billing_world
    with django_capture_on_commit_callbacks(execute=True):
        order = make_order(w["prepaid"], [(w["pre_lamp"], 2)])
    assert order.status == Order.Status.ON_HOLD
    assert not Invoice.objects.filter(order=order).exists()  # not released: not invoiced
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_record(client=w["prepaid"], order=order, amount="20.00")
    order.refresh_from_db()
    assert order.status == Order.Status.READY
    inv = Invoice.objects.get(order=order, kind=Invoice.Kind.INVOICE)
    assert inv.number == f"PRE-{YEAR}-000001"
    assert inv.due_on == timezone.localdate()
    assert inv.total == Decimal("23.80")
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order=order, reason="Customer changed their mind")
    note = Invoice.objects.get(order=order, kind=Invoice.Kind.CREDIT_NOTE)
    assert note.number == f"PRE-CN-{YEAR}-000001"
    assert note.credited_invoice == inv
    assert note.total == inv.total


def test_credit_notes_for_a_return_and_a_price_correction_never_exceed_the_invoice(
    billing_world, make_order, service, django_capture_on_commit_callbacks
):
    w = billing_world
    order = pack(make_order(w["terms"], [(w["acme_lamp"], 3)]))
    with django_capture_on_commit_callbacks(execute=True):
        shipment_create(order=order, service=service, tracking_number="TRK3")
    inv = Invoice.objects.get(order=order)
    line = inv.lines.get()
    note = credit_note_issue(invoice=inv, reason="Returned", quantities={line.pk: Decimal(1)})
    assert note.total == Decimal("11.90")
    fix = credit_note_issue(invoice=inv, reason="Goodwill", price_correction=Decimal("5.00"))
    assert fix.total == Decimal("5.95")
    assert [note.number, fix.number] == [f"ACME-CN-{YEAR}-000001", f"ACME-CN-{YEAR}-000002"]
    with pytest.raises(BillingError):
        credit_note_issue(invoice=inv, reason="Too much", quantities={line.pk: Decimal(3)})
    with pytest.raises(BillingError):
        credit_note_issue(invoice=inv, reason=" ")
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 2


def test_issued_invoices_are_immutable_and_numbers_only_at_issue(
    billing_world, make_order, service, django_capture_on_commit_callbacks
):
    w = billing_world
    order = pack(make_order(w["terms"], [(w["acme_lamp"], 1)]))
    with django_capture_on_commit_callbacks(execute=True):
        shipment_create(order=order, service=service, tracking_number="TRK4")
    inv = Invoice.objects.get(order=order)
    with pytest.raises(BillingError):
        services.invoice_guard_change(inv)
    draft = Invoice(client=w["terms"], order=order, currency="USD", rounding="per_line")
    draft.save()
    assert draft.number == ""
    services.invoice_guard_change(draft)  # a draft may change


def test_a_rolled_back_issue_leaves_no_gap(billing_world, make_order):
    from django.db import transaction

    w = billing_world
    order = make_order(w["terms"], [(w["acme_lamp"], 1)])
    draft = services.InvoiceDraft(
        order=order, lines=[LineDraft("x", Decimal(1), Decimal("1.00"), Decimal(0))]
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        services.invoices_issue(client=w["terms"], drafts=[draft])
        raise RuntimeError("boom")
    assert not DocumentSeries.objects.filter(last_number__gt=0).exists()
    (inv,) = services.invoices_issue(client=w["terms"], drafts=[draft])
    assert inv.number == f"ACME-{YEAR}-000001"
