"""Remittance files: a CSV of payments received (``provider_reference``, ``order_number`` or
``invoice_number``, ``amount``; optional ``currency``, ``method``, ``received_at``), checked
row by row for a preview, then recorded through ``services.payment_record``.

A cell that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) is
rejected, not stored: such text has no business in a payment reference.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.dateparse import parse_datetime

from billing.exceptions import PaymentRejected
from billing.models import Invoice, Payment
from billing.services import _money, payment_record
from orders.models import Order
from orders.resources import FORMULA_TRIGGERS

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
REQUIRED = ("provider_reference", "amount")


class RemittanceFileError(Exception):
    """The file as a whole cannot be read (encoding, header, size)."""


@dataclass
class RemittanceRow:
    row_no: int
    reference: str
    target: str
    amount: Decimal | None = None
    currency: str = ""
    method: str = Payment.Method.BANK_TRANSFER
    received_at: object = None
    order: Order | None = None
    invoice: Invoice | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class Remittance:
    rows: list[RemittanceRow]

    @property
    def good(self) -> list[RemittanceRow]:
        return [r for r in self.rows if not r.errors]

    @property
    def bad(self) -> list[RemittanceRow]:
        return [r for r in self.rows if r.errors]


def read_remittance(text: str, *, client_ids) -> Remittance:
    """Parse and check a remittance file against the orders/invoices of ``client_ids`` (the
    clients the uploader supervises; None = all). Raises :class:`RemittanceFileError`."""
    if len(text.encode()) > MAX_BYTES:
        raise RemittanceFileError("The file is larger than 2 MB.")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [h for h in REQUIRED if h not in header]
    if missing or not ({"order_number", "invoice_number"} & set(header)):
        raise RemittanceFileError(
            "The header needs provider_reference, amount and order_number or invoice_number"
            + (f" (missing: {', '.join(missing)})." if missing else ".")
        )
    reader.fieldnames = header
    rows: list[RemittanceRow] = []
    for n, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            raise RemittanceFileError(f"More than {MAX_ROWS} rows: split the file.")
        cells = {k: (v or "").strip() for k, v in raw.items() if k}
        row = RemittanceRow(
            row_no=n,
            reference=cells.get("provider_reference", ""),
            target=cells.get("invoice_number") or cells.get("order_number", ""),
        )
        rows.append(row)
        for name, value in cells.items():
            if value.startswith(FORMULA_TRIGGERS) and not (
                name == "amount" and value.startswith("-")
            ):
                row.errors.append(f"{name}: '{value[:20]}' looks like a spreadsheet formula.")
        if row.errors:
            continue
        if not row.reference:
            row.errors.append("provider_reference is empty.")
        try:
            row.amount = _money(cells.get("amount", ""))
        except PaymentRejected as exc:
            row.errors.append(str(exc))
        row.currency = cells.get("currency", "").upper()
        if cells.get("method"):
            if cells["method"] not in Payment.Method.values:
                row.errors.append(f"'{cells['method']}' is not a payment method.")
            else:
                row.method = cells["method"]
        if cells.get("received_at"):
            row.received_at = parse_datetime(cells["received_at"])
            if row.received_at is None:
                row.errors.append(f"received_at '{cells['received_at']}' is not a date and time.")
        invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED)
        orders = Order.objects.all()
        if client_ids is not None:
            invoices = invoices.filter(client_id__in=client_ids)
            orders = orders.filter(client_id__in=client_ids)
        if cells.get("invoice_number"):
            row.invoice = invoices.filter(number=cells["invoice_number"]).first()
            if row.invoice is None:
                row.errors.append(f"No invoice {cells['invoice_number']} of your clients.")
            else:
                row.order = row.invoice.order
        elif cells.get("order_number"):
            found = list(orders.filter(number=cells["order_number"])[:2])
            if len(found) != 1:
                row.errors.append(
                    f"No order {cells['order_number']} of your clients."
                    if not found
                    else f"Order number {cells['order_number']} is used by several clients."
                )
            else:
                row.order = found[0]
        else:
            row.errors.append("Give an order_number or an invoice_number.")
        if row.order is not None and row.currency and row.currency != row.order.currency:
            row.errors.append(f"The order is in {row.order.currency}, not {row.currency}.")
    return Remittance(rows)


def remittance_record(remittance: Remittance, *, user) -> tuple[int, int]:
    """Record the good rows (``(new, duplicates)``); each row is its own transaction."""
    new = dup = 0
    for row in remittance.good:
        _payment, created = payment_record(
            client=row.order.client,
            order=row.order,
            invoice=row.invoice,
            amount=row.amount,
            currency=row.currency,
            method=row.method,
            provider="remittance",
            provider_reference=row.reference,
            source=Payment.Source.REMITTANCE,
            received_at=row.received_at,
            user=user,
        )
        new += created
        dup += not created
    return new, dup
