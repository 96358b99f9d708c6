"""Billing writes: payments in (manual, remittance file, webhook), invoices and credit notes.

Amounts (``Decimal``, never float): a line's net = quantity × unit price, rounded half-up to
cents. Tax per the client's rule (``Client.invoice_rounding``):
- ``per_line``: each line's tax is rounded to cents; the invoice tax is their sum;
- ``per_invoice``: lines keep their tax at 4 places; the invoice tax is the sum, rounded once.
Total = subtotal + tax. The due date is the issue date + the customer's terms override or the
client's net days (prepaid clients: due on issue).

Numbers: ``<CODE>-<year>-<000123>`` for invoices, ``<CODE>-CN-<year>-<000123>`` for credit
notes, from :class:`billing.models.DocumentSeries`, locked (``SELECT … FOR UPDATE``) in the
transaction that issues, so they are gap-free and unique under any number of parallel issuers;
a number is given only at issue. An issued document never changes (credit notes correct it).

Lock order: stock levels, shipments, orders (orders.services), then customers, then series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from billing.exceptions import BillingError, InvoiceImmutable, PaymentRejected
from billing.models import DocumentSeries, Invoice, InvoiceLine, Payment
from clients.models import Client
from core.bulk import bulk_insert
from core.db import atomic_with_retry
from orders.models import Order, OrderLine
from orders.services.payments import RELEASED_STATUSES, order_payments_apply

CENT = Decimal("0.01")
FOUR = Decimal("0.0001")
ZERO = Decimal("0")
PS = Payment.Status


# --- payments -------------------------------------------------------------------------------


def _money(value) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except Exception as exc:
        raise PaymentRejected(f"'{value}' is not an amount.") from exc
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise PaymentRejected(f"'{value}' is not a positive amount in cents.")
    return amount


def payment_record(
    *,
    client: Client,
    amount,
    order: Order | None = None,
    invoice: Invoice | None = None,
    currency: str = "",
    method: str = Payment.Method.OTHER,
    status: str = PS.CAPTURED,
    provider: str = "",
    provider_reference: str = "",
    source: str = Payment.Source.MANUAL,
    received_at: dt.datetime | None = None,
    user=None,
) -> tuple[Payment, bool]:
    """Record one payment of ``client`` against an order or an invoice (its order then) and
    bring the order's paid figures and payment status up to date — which may release it from
    a payment hold (``orders.services.payments.order_payments_apply``).

    A provider event (provider + reference + status) is stored once: a repeat returns the
    stored row and ``False``. Raises :class:`PaymentRejected` (nothing written) for another
    client's order/invoice, a bad amount, status or currency. Locks the order (and, when it is
    released, its stock levels first), then the invoice.
    """
    amount = _money(amount)
    if status not in PS.values:
        raise PaymentRejected(f"'{status}' is not a payment status.")
    if method not in Payment.Method.values:
        raise PaymentRejected(f"'{method}' is not a payment method.")
    if invoice is not None:
        if invoice.client_id != client.pk:
            raise PaymentRejected("That invoice belongs to another client.")
        if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
            raise PaymentRejected(f"{invoice} is not an issued invoice.")
        order = invoice.order
    if order is None or order.client_id != client.pk:
        raise PaymentRejected("Say which order (of this client) the payment is for.")
    currency = (currency or order.currency).upper()
    if currency != order.currency:
        raise PaymentRejected(f"The order is in {order.currency}, not {currency}.")
    provider_reference = provider_reference.strip()[:100]
    with transaction.atomic():
        if provider_reference:
            existing = Payment.objects.filter(
                client=client,
                provider=provider,
                provider_reference=provider_reference,
                status=status,
            ).first()
            if existing is not None:
                return existing, False
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    client=client,
                    order=order,
                    invoice=invoice,
                    amount=amount,
                    currency=currency,
                    method=method,
                    status=status,
                    provider=provider,
                    provider_reference=provider_reference,
                    source=source,
                    received_at=received_at or timezone.now(),
                    recorded_by=user,
                )
        except IntegrityError:  # the same event delivered twice at the same moment
            return (
                Payment.objects.get(
                    client=client,
                    provider=provider,
                    provider_reference=provider_reference,
                    status=status,
                ),
                False,
            )
        order_payments_refresh(order_id=order.pk, user=user)
    return payment, True


def _net(qs) -> tuple[Decimal, dict]:
    sums = dict(qs.values_list("status").annotate(s=Sum("amount")).order_by())
    return sums.get(PS.CAPTURED, ZERO) - sums.get(PS.REFUNDED, ZERO), sums


def order_payments_refresh(*, order_id: int, user=None) -> Order:
    """Recompute an order's (and its invoices') paid amounts from its payments: captured −
    refunded is paid; authorised beyond what was captured counts for release. Invoices get
    payments recorded against them, and the rest of the order's payments oldest first."""
    with transaction.atomic():
        paid, sums = _net(Payment.objects.filter(order_id=order_id))
        authorised = max(sums.get(PS.AUTHORISED, ZERO) - sums.get(PS.CAPTURED, ZERO), ZERO)
        order = order_payments_apply(
            order_id=order_id,
            paid=paid,
            authorised=authorised,
            refunded=sums.get(PS.REFUNDED, ZERO),
            user=user,
        )
        _invoices_paid_refresh(order_id, paid)
    return order


def _invoices_paid_refresh(order_id: int, paid: Decimal) -> None:
    invoices = list(
        Invoice.objects.select_for_update()
        .filter(order_id=order_id, kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED)
        .order_by("issued_at", "pk")
    )
    credited = dict(
        Invoice.objects.filter(credited_invoice__in=invoices, status=Invoice.Status.ISSUED)
        .values_list("credited_invoice")
        .annotate(s=Sum("total"))
        .order_by()
    )
    left = paid
    for inv in invoices:
        due = inv.total - credited.get(inv.pk, ZERO)
        share = min(max(left, ZERO), due)
        left -= share
        if inv.amount_paid != share:
            # (amount_paid is a derived figure, not part of the issued document.)
            Invoice.objects.filter(pk=inv.pk).update(amount_paid=share)


# --- amounts --------------------------------------------------------------------------------


@dataclass(slots=True)
class LineDraft:
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    order_line_id: int | None = None


def compute_amounts(lines: Sequence[LineDraft], rounding: str):
    """``(rows, subtotal, tax_total, total)``; rows are ``(draft, net, tax)`` (see the module
    docstring for the two rounding rules)."""
    rows = []
    subtotal = tax_sum = ZERO
    for ln in lines:
        net = (ln.quantity * ln.unit_price).quantize(CENT, ROUND_HALF_UP)
        tax = net * ln.tax_rate / 100
        tax = tax.quantize(CENT if rounding == Client.Rounding.PER_LINE else FOUR, ROUND_HALF_UP)
        rows.append((ln, net, tax))
        subtotal += net
        tax_sum += tax
    tax_total = tax_sum.quantize(CENT, ROUND_HALF_UP)
    return rows, subtotal, tax_total, subtotal + tax_total


# --- numbering ------------------------------------------------------------------------------


def numbers_take(*, client: Client, kind: str, year: int, count: int) -> list[str]:
    """Take ``count`` consecutive numbers of a series; the caller's transaction holds the
    series row locked until it commits (so a rollback gives the numbers back: no gap)."""
    DocumentSeries.objects.bulk_create(
        [DocumentSeries(client=client, kind=kind, year=year)], ignore_conflicts=True
    )
    series = DocumentSeries.objects.select_for_update().get(client=client, kind=kind, year=year)
    first = series.last_number + 1
    series.last_number += count
    DocumentSeries.objects.filter(pk=series.pk).update(last_number=series.last_number)
    prefix = client.code if kind == Invoice.Kind.INVOICE else f"{client.code}-CN"
    return [f"{prefix}-{year}-{n:06d}" for n in range(first, first + count)]


# --- invoices -------------------------------------------------------------------------------


@dataclass(slots=True)
class InvoiceDraft:
    order: Order
    lines: list[LineDraft]
    shipment_id: int | None = None


def _due_on(client: Client, order: Order, issued: dt.date) -> dt.date:
    if client.payment_policy == Client.PaymentPolicy.PREPAID:
        return issued
    days = client.payment_terms_days
    if order.customer_id and order.customer.payment_terms_days is not None:
        days = order.customer.payment_terms_days
    return issued + dt.timedelta(days=days)


def invoices_issue(
    *,
    client: Client,
    drafts: Sequence[InvoiceDraft],
    kind=Invoice.Kind.INVOICE,
    credited: dict[int, Invoice] | None = None,
    reason: str = "",
) -> list[Invoice]:
    """Issue invoices (or credit notes) for ``drafts`` of one client in one go: amounts, due
    dates, numbers from the locked series, then a bulk insert (COPY on PostgreSQL) of the
    documents and their lines. Must run in the caller's transaction; the series row stays
    locked until it commits. Renders no PDF (``billing.tasks.render_invoice_pdfs`` does)."""
    if not drafts:
        return []
    now = timezone.now()
    today = timezone.localdate(now)
    numbers = numbers_take(client=client, kind=kind, year=today.year, count=len(drafts))
    invoices, line_rows = [], []
    for draft, number in zip(drafts, numbers, strict=True):
        rows, subtotal, tax_total, total = compute_amounts(draft.lines, client.invoice_rounding)
        invoice = Invoice(
            client_id=client.pk,
            order_id=draft.order.pk,
            customer_id=draft.order.customer_id,
            shipment_id=draft.shipment_id,
            kind=kind,
            status=Invoice.Status.ISSUED,
            number=number,
            currency=draft.order.currency,
            rounding=client.invoice_rounding,
            issued_at=now,
            due_on=_due_on(client, draft.order, today) if kind == Invoice.Kind.INVOICE else None,
            subtotal=subtotal,
            tax_total=tax_total,
            total=total,
            reason=reason,
            credited_invoice=(credited or {}).get(draft.order.pk),
        )
        invoices.append(invoice)
        line_rows.append(rows)
    bulk_insert(Invoice, invoices)
    lines = [
        InvoiceLine(
            invoice_id=inv.pk,
            order_line_id=ln.order_line_id,
            description=ln.description,
            quantity=ln.quantity,
            unit_price=ln.unit_price,
            tax_rate=ln.tax_rate,
            net_amount=net,
            tax_amount=tax,
        )
        for inv, rows in zip(invoices, line_rows, strict=True)
        for ln, net, tax in rows
    ]
    bulk_insert(InvoiceLine, lines)
    return invoices


def _order_line_drafts(client: Client, quantities: dict[int, int]) -> dict[int, list[LineDraft]]:
    """Invoice lines per order for ``{order_line_id: quantity}``."""
    by_order: dict[int, list[LineDraft]] = {}
    rows = (
        OrderLine.objects.filter(pk__in=list(quantities))
        .order_by("order_id", "line_no", "pk")
        .values_list("pk", "order_id", "product__sku", "product__name", "unit_price")
    )
    for pk, order_id, sku, name, price in rows:
        by_order.setdefault(order_id, []).append(
            LineDraft(
                description=f"{sku} {name}"[:255],
                quantity=Decimal(quantities[pk]),
                unit_price=price,
                tax_rate=client.invoice_tax_rate,
                order_line_id=pk,
            )
        )
    return by_order


@atomic_with_retry
def invoices_issue_for_shipments(*, shipment_ids: Sequence[int]) -> list[Invoice]:
    """One invoice per shipment (the units it shipped) of clients that invoice per shipment;
    shipments already invoiced are skipped, so this is safe to run again. Set-based: a few
    queries and two bulk inserts per client, whatever the number of shipments."""
    from django.apps import apps

    Shipment = apps.get_model("fulfillment", "Shipment")
    ShipmentLine = apps.get_model("fulfillment", "ShipmentLine")
    done = set(
        Invoice.objects.filter(
            shipment_id__in=list(shipment_ids), kind=Invoice.Kind.INVOICE
        ).values_list("shipment_id", flat=True)
    )
    todo = [s for s in shipment_ids if s not in done]
    if not todo:
        return []
    shipments = list(
        Shipment.objects.filter(
            pk__in=todo, client__invoice_mode=Client.InvoiceMode.PER_SHIPMENT
        ).values_list("pk", "client_id", "order_id")
    )
    per_shipment: dict[int, dict[int, int]] = {}
    for sid, line_id, qty in ShipmentLine.objects.filter(
        shipment_id__in=[s[0] for s in shipments]
    ).values_list("shipment_id", "order_line_id", "quantity"):
        per_shipment.setdefault(sid, {})
        per_shipment[sid][line_id] = per_shipment[sid].get(line_id, 0) + qty
    orders = Order.objects.select_related("customer").in_bulk({s[2] for s in shipments})
    issued = []
    by_client: dict[int, list] = {}
    for s in shipments:
        by_client.setdefault(s[1], []).append(s)
    for client in Client.objects.filter(pk__in=list(by_client)).order_by("pk"):
        quantities = {
            line: qty
            for sid, _c, _o in by_client[client.pk]
            for line, qty in per_shipment.get(sid, {}).items()
        }
        drafts_lines = _order_line_drafts(client, quantities)
        drafts = []
        for sid, _c, order_id in by_client[client.pk]:
            shipped = per_shipment.get(sid, {})
            lines = [d for d in drafts_lines.get(order_id, []) if d.order_line_id in shipped]
            lines = [
                LineDraft(
                    d.description,
                    Decimal(shipped[d.order_line_id]),
                    d.unit_price,
                    d.tax_rate,
                    d.order_line_id,
                )
                for d in lines
            ]
            if lines:
                drafts.append(InvoiceDraft(order=orders[order_id], lines=lines, shipment_id=sid))
        issued += invoices_issue(client=client, drafts=drafts)
    _after_issue(issued)
    return issued


@atomic_with_retry
def invoice_issue_for_order(*, order_id: int) -> Invoice | None:
    """The one invoice of a per-order client's order (at release), for every open unit; None
    when the client invoices per shipment or the order already has its invoice. Locks the
    order, then the series."""
    order = (
        Order.objects.select_for_update(of=("self",))
        .select_related("client", "customer")
        .get(pk=order_id)
    )
    client = order.client
    if client.invoice_mode != Client.InvoiceMode.PER_ORDER:
        return None
    if order.status not in RELEASED_STATUSES:
        return None  # held right after it reached ready: invoiced when really released
    if Invoice.objects.filter(order=order, kind=Invoice.Kind.INVOICE).exists():
        return None
    quantities = {
        pk: qty - cancelled
        for pk, qty, cancelled in order.lines.values_list("pk", "quantity", "qty_cancelled")
        if qty - cancelled > 0
    }
    lines = _order_line_drafts(client, quantities).get(order.pk, [])
    if not lines:
        return None
    (invoice,) = invoices_issue(client=client, drafts=[InvoiceDraft(order=order, lines=lines)])
    _after_issue([invoice])
    return invoice


@atomic_with_retry
def credit_note_issue(
    *,
    invoice: Invoice,
    reason: str,
    quantities: dict[int, Decimal] | None = None,
    price_correction: Decimal | None = None,
    user=None,
) -> Invoice:
    """A credit note against an issued invoice: all of it (``quantities`` None: cancellation
    after invoicing), some units per invoice line id (a return), or one amount before tax
    (``price_correction``). It never credits more than what is left uncredited. Locks the
    invoice, then the series."""
    if not reason or not reason.strip():
        raise BillingError("Say why the credit note is issued.")
    invoice = (
        Invoice.objects.select_for_update(of=("self",))
        .select_related("order", "client")
        .get(pk=invoice.pk)
    )
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status != Invoice.Status.ISSUED:
        raise BillingError(f"{invoice} is not an issued invoice.")
    already = (
        Invoice.objects.filter(credited_invoice=invoice).aggregate(s=Sum("total"))["s"] or ZERO
    )
    client = invoice.client
    src = list(invoice.lines.all())
    if price_correction is not None:
        amount = Decimal(price_correction)
        if amount <= 0:
            raise BillingError("A price correction is a positive amount.")
        rate = src[0].tax_rate if src else client.invoice_tax_rate
        lines = [LineDraft(f"Price correction: {reason.strip()}"[:255], Decimal(1), amount, rate)]
    else:
        lines = []
        for ln in src:
            qty = ln.quantity if quantities is None else Decimal(quantities.get(ln.pk, 0))
            if qty < 0 or qty > ln.quantity:
                raise BillingError(f"Cannot credit {qty} of {ln.quantity} ({ln.description}).")
            if qty:
                lines.append(
                    LineDraft(ln.description, qty, ln.unit_price, ln.tax_rate, ln.order_line_id)
                )
        if not lines:
            raise BillingError("Nothing to credit.")
    _rows, _sub, _tax, total = compute_amounts(lines, invoice.rounding)
    if already + total > invoice.total:
        raise BillingError(
            f"{invoice} has {invoice.total - already} {invoice.currency} left to credit."
        )
    (note,) = invoices_issue(
        client=client,
        drafts=[InvoiceDraft(order=invoice.order, lines=lines)],
        kind=Invoice.Kind.CREDIT_NOTE,
        credited={invoice.order_id: invoice},
        reason=reason.strip()[:255],
    )
    _after_issue([note])
    order_payments_refresh(order_id=invoice.order_id, user=user)
    return note


def invoice_guard_change(invoice: Invoice) -> None:
    """Raise :class:`InvoiceImmutable` for an issued document (admin and services call it)."""
    if invoice.pk and invoice.status != Invoice.Status.DRAFT:
        raise InvoiceImmutable(f"{invoice} is issued and cannot change; issue a credit note.")


def _after_issue(invoices: Sequence[Invoice]) -> None:
    """Have a worker render the PDFs once the documents are committed."""
    if not invoices:
        return
    from functools import partial

    from core.tasks import enqueue_many

    ids = [inv.pk for inv in invoices]
    transaction.on_commit(
        partial(enqueue_many, "billing.tasks.render_invoice_pdfs", [(ids,)], group="billing")
    )


def credit_note_for_cancelled_orders(*, order_ids: Sequence[int]) -> list[Invoice]:
    """Credit what is left uncredited of the issued invoices of cancelled orders (a
    cancellation after invoicing: per-order invoices of prepaid clients)."""
    notes = []
    for invoice in Invoice.objects.filter(
        order_id__in=list(order_ids),
        order__status=Order.Status.CANCELLED,
        kind=Invoice.Kind.INVOICE,
        status=Invoice.Status.ISSUED,
    ).exclude(Q(credit_notes__isnull=False)):
        notes.append(credit_note_issue(invoice=invoice, reason="Order cancelled after invoicing."))
    return notes
