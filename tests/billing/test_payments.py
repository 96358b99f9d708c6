"""Payments in: manual (service and page), remittance file with bad rows, signed webhook;
derived payment status; duplicates; scoping and permissions; exports; receivables."""

from __future__ import annotations

import csv
import io
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.exceptions import PaymentRejected
from billing.models import Invoice, Payment, PaymentProvider
from billing.remittance import read_remittance
from billing.services import payment_record
from billing.views import PAYMENT_WEBHOOK
from clients.models import Membership
from core.webhooks import sign
from orders.models import Order

S = Order.Status


@pytest.fixture
def held(billing_world, make_order):
    order = make_order(billing_world["prepaid"], [(billing_world["pre_lamp"], 2)], number="P-1")
    assert order.status == S.ON_HOLD
    return order


@pytest.fixture
def sup(billing_world, make_user):
    return make_user("sup", clients=[billing_world["prepaid"]], role=Membership.Role.SUPERVISOR)


@pytest.fixture
def agent(billing_world, make_user):
    return make_user("agent", clients=[billing_world["prepaid"]], role=Membership.Role.AGENT)


def test_refunds_reduce_what_is_paid(billing_world, held):
    c = billing_world["prepaid"]
    payment_record(client=c, order=held, amount="20.00", provider="psp", provider_reference="A")
    held.refresh_from_db()
    assert (held.status, held.payment_status) == (S.READY, Order.PaymentStatus.PAID)
    payment_record(
        client=c,
        order=held,
        amount="5.00",
        status=Payment.Status.REFUNDED,
        provider="psp",
        provider_reference="A",
    )
    held.refresh_from_db()
    assert held.amount_paid == Decimal("15.00")
    assert held.payment_status == Order.PaymentStatus.PARTIALLY_REFUNDED


def test_failed_payments_count_for_nothing_and_bad_input_is_refused(billing_world, held):
    c = billing_world["prepaid"]
    payment_record(client=c, order=held, amount="20.00", status=Payment.Status.FAILED)
    held.refresh_from_db()
    assert held.status == S.ON_HOLD and held.amount_paid == 0
    for bad in ("0", "-3", "abc", "1.234", "NaN"):
        with pytest.raises(PaymentRejected):
            payment_record(client=c, order=held, amount=bad)
    with pytest.raises(PaymentRejected):
        payment_record(client=billing_world["terms"], order=held, amount="1.00")
    with pytest.raises(PaymentRejected):
        payment_record(client=c, order=held, amount="1.00", currency="EUR")
    assert Payment.objects.count() == 1


def test_remittance_rows_are_checked_one_by_one(billing_world, held, make_order):
    other = make_order(billing_world["terms"], [(billing_world["acme_lamp"], 1)], number="T-1")
    text = (
        "provider_reference,order_number,amount\n"
        "R1,P-1,20.00\n"
        "R2,P-404,5.00\n"
        "=HYPERLINK(1),P-1,5.00\n"
        "R4,P-1,-5\n"
        f"R5,{other.number},10.00\n"
    )
    parsed = read_remittance(text, client_ids={billing_world["prepaid"].pk})
    assert [r.row_no for r in parsed.good] == [2]
    errors = {r.row_no: " ".join(r.errors) for r in parsed.bad}
    assert "No order P-404" in errors[3]
    assert "formula" in errors[4]
    assert "positive amount" in errors[5]
    assert "No order T-1" in errors[6]  # another client's order: not found, not paid


def test_supervisor_uploads_remittance_with_preview_then_confirm(client, sup, held):
    client.force_login(sup)
    url = reverse("admin:billing_payment_remittance")
    upload = io.BytesIO(b"provider_reference,order_number,amount\nR1,P-1,20.00\nR2,NOPE,1.00\n")
    upload.name = "remit.csv"
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    assert b"remittance-bad" in response.content
    assert Payment.objects.count() == 0  # preview writes nothing
    content = response.context["form"].initial["content"]
    response = client.post(url, {"content": content, "confirm": "on"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == S.READY
    # the same file again stores nothing twice
    client.post(url, {"content": content, "confirm": "on"})
    assert Payment.objects.count() == 1


def test_agent_may_not_record_or_upload_or_override(client, agent, held):
    client.force_login(agent)
    for name, args in (
        ("admin:billing_payment_record", []),
        ("admin:billing_payment_remittance", []),
        ("admin:billing_payment_override", [held.pk]),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403


def test_override_page_writes_the_reason(client, sup, held):
    client.force_login(sup)
    url = reverse("admin:billing_payment_override", args=[held.pk])
    response = client.post(url, {"reason": "Paid by phone"})
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.status == S.READY
    assert held.events.filter(message__contains="Paid by phone", user=sup).exists()


def test_record_page_for_another_clients_order_changes_nothing(
    client, sup, billing_world, make_order
):
    other = make_order(billing_world["terms"], [(billing_world["acme_lamp"], 1)], number="T-2")
    client.force_login(sup)
    response = client.post(
        reverse("admin:billing_payment_record"),
        {"order_number": other.number, "amount": "5.00", "status": "captured", "method": "card"},
    )
    assert response.status_code == 200
    assert Payment.objects.count() == 0
    assert client.get(reverse("admin:billing_payment_override", args=[other.pk])).status_code == 404


# -- webhook ---------------------------------------------------------------------------------


@pytest.fixture
def provider(billing_world):
    return PaymentProvider.objects.create(
        client=billing_world["prepaid"], code="paynow", name="PayNow", webhook_secret="s3cret"
    )


def _post(http, payload, *, secret="s3cret", stamp=None, signature=None, headers=True):
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if stamp is None else stamp)
    extra = {}
    if headers:
        extra = {
            "HTTP_X_PAYMENT_TIMESTAMP": stamp,
            "HTTP_X_PAYMENT_SIGNATURE": signature or sign(secret, stamp, body),
        }
    return http.post(
        reverse("billing:payment_webhook", args=["paynow"]),
        data=body,
        content_type="application/json",
        **extra,
    )


PAYLOAD = {"reference": "ch_1", "order_number": "P-1", "amount": "20.00", "status": "captured"}


def test_webhook_records_once_and_releases_the_order(client, provider, held):
    assert _post(client, PAYLOAD).status_code == 200
    response = _post(client, PAYLOAD)
    assert response.status_code == 200 and response.json()["duplicate"] is True
    assert Payment.objects.filter(provider="paynow").count() == 1
    held.refresh_from_db()
    assert held.status == S.READY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": False},  # unsigned
        {"secret": "wrong"},  # forged
        {"stamp": int(time.time()) - PAYMENT_WEBHOOK.max_age_seconds - 60},  # stale / replayed
        {"signature": "sha256=" + "0" * 64},
    ],
)
def test_webhook_refuses_unsigned_forged_and_stale_calls(client, provider, held, kwargs):
    assert _post(client, PAYLOAD, **kwargs).status_code == 401
    assert Payment.objects.count() == 0


def test_webhook_cannot_touch_another_clients_order(
    client, provider, billing_world, make_order, held
):
    make_order(billing_world["terms"], [(billing_world["acme_lamp"], 1)], number="T-3")
    response = _post(client, {**PAYLOAD, "order_number": "T-3"})
    assert response.status_code == 404
    assert _post(client, {**PAYLOAD, "amount": "-1"}).status_code == 400
    assert Payment.objects.count() == 0


# -- receivables and exports -----------------------------------------------------------------


def test_exports_are_scoped_and_formula_safe(
    client, sup, billing_world, held, make_order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(
            client=billing_world["prepaid"],
            order=held,
            amount="20.00",
            provider="x",
            provider_reference="=cmd|calc",
        )
    other = make_order(billing_world["terms"], [(billing_world["acme_lamp"], 1)], number="T-4")
    payment_record(client=billing_world["terms"], order=other, amount="1.00")
    client.force_login(sup)
    rows = list(
        csv.reader(
            io.StringIO(client.get(reverse("admin:billing_payment_export")).content.decode())
        )
    )
    assert len(rows) == 2
    assert rows[1][9] == "'=cmd|calc"
    rows = list(
        csv.reader(
            io.StringIO(client.get(reverse("admin:billing_invoice_export")).content.decode())
        )
    )
    assert [r[1] for r in rows[1:]] == [Invoice.objects.get(order=held).number]
    page = client.get(reverse("admin:billing_receivables"))
    assert page.status_code == 200
    order_page = client.get(reverse("admin:orders_order_change", args=[held.pk]))
    assert b"invoice-pdf-link" in order_page.content
    inv = Invoice.objects.get(order=held)
    pdf = client.get(reverse("admin:billing_invoice_pdf", args=[inv.pk]))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
