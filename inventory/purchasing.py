"""Purchase orders: the one transition table, approving, sending, receiving, cancelling.

Lock order (extends inventory.services' rule): **the purchase order row first, then stock
levels** (through the inventory services), then order rows (backorder fill). Nothing locks a
stock level and then waits for a purchase order, so no cycle can form. ``on_order`` changes
only here, through :func:`inventory.services.stock_on_order_change`, in the same transaction
as the status change: it always equals the open quantity of sent purchase orders.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from core.db import atomic_with_retry
from inventory import services as stock
from inventory.exceptions import InvalidPurchaseOrderTransition, ReceiptError
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReplenishmentPolicy,
    SupplierProduct,
)
from inventory.selectors import effective_lead_time, lead_time_stats
from inventory.signals import expected_supply_changed

S = PurchaseOrder.Status

# The one transition table. A partially received PO may still be cancelled: that closes the
# remainder the supplier will not deliver (its received units stay booked).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.APPROVED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SENT, S.CANCELLED}),
    S.SENT: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED, S.CANCELLED}),
    S.PARTIALLY_RECEIVED: frozenset({S.PARTIALLY_RECEIVED, S.RECEIVED, S.CANCELLED}),
    S.RECEIVED: frozenset(),
    S.CANCELLED: frozenset(),
}
_VERBS = {
    S.APPROVED: "approved",
    S.SENT: "sent",
    S.PARTIALLY_RECEIVED: "received",
    S.RECEIVED: "received",
    S.CANCELLED: "cancelled",
}


def check_transition(purchase_order: PurchaseOrder, to_status: str) -> None:
    """Raise :class:`InvalidPurchaseOrderTransition` with a message for the user."""
    if to_status not in TRANSITIONS.get(purchase_order.status, frozenset()):
        raise InvalidPurchaseOrderTransition(
            f"{purchase_order} is {purchase_order.get_status_display().lower()}: it cannot be "
            f"{_VERBS.get(to_status, to_status)}."
        )


def po_number(pk: int) -> str:
    return f"PO-{pk:04d}"


def _lock(purchase_order: PurchaseOrder) -> PurchaseOrder:
    return (
        PurchaseOrder.objects.select_for_update(of=("self",))
        .select_related("supplier", "warehouse", "client")
        .get(pk=purchase_order.pk)
    )


def _signal(po: PurchaseOrder, product_ids) -> None:
    expected_supply_changed.send(
        sender=PurchaseOrder, product_ids=sorted(set(product_ids)), purchase_order_ids=[po.pk]
    )


@atomic_with_retry
def purchase_order_approve(*, purchase_order: PurchaseOrder, user=None) -> PurchaseOrder:
    """Freeze a draft: the planner no longer rewrites it. Locks the PO row."""
    po = _lock(purchase_order)
    check_transition(po, S.APPROVED)
    if not po.lines.exists():
        raise InvalidPurchaseOrderTransition(f"{po} has no lines to approve.")
    po.status, po.approved_at, po.approved_by = S.APPROVED, timezone.now(), user
    po.save(update_fields=["status", "approved_at", "approved_by", "updated_at"])
    return po


def purchase_order_lead_days(po: PurchaseOrder) -> int:
    """Lead time for the expected date: learnt (≥ 5 receipts) or the longest configured one."""
    overrides = SupplierProduct.objects.filter(
        supplier_id=po.supplier_id, product_id__in=po.lines.values("product_id")
    ).values_list("lead_time_days", flat=True)
    configured = max([d for d in overrides if d is not None] or [po.supplier.lead_time_days])
    lead, _sigma, _source = effective_lead_time(
        configured=configured, stats=lead_time_stats([po.supplier_id]).get(po.supplier_id)
    )
    return math.ceil(lead)


@atomic_with_retry
def purchase_order_send(*, purchase_order: PurchaseOrder, user=None) -> PurchaseOrder:
    """Send an approved PO: PDF (WeasyPrint) stored with it, e-mailed to the supplier.

    Locks the PO row, then the stock levels of its products (``on_order`` rises by each
    line's quantity). The e-mail goes out last, inside the transaction: if the mail server
    refuses it, nothing is saved and the PO stays approved. Sends ``expected_supply_changed``.
    """
    po = _lock(purchase_order)
    check_transition(po, S.SENT)
    if not po.supplier.email:
        raise InvalidPurchaseOrderTransition(
            f"Supplier {po.supplier.code} has no contact e-mail: add one before sending {po}."
        )
    lines = list(po.lines.select_related("product").order_by("id"))
    if not lines:
        raise InvalidPurchaseOrderTransition(f"{po} has no lines to send.")
    now = timezone.now()
    po.number = po.number or po_number(po.pk)
    po.status, po.sent_at, po.sent_by, po.sent_to = S.SENT, now, user, po.supplier.email
    if po.expected_on is None or po.expected_on < timezone.localdate(now):
        po.expected_on = timezone.localdate(now) + timedelta(days=purchase_order_lead_days(po))
    stock.stock_on_order_change(
        changes=[(ln.product_id, po.warehouse_id, ln.quantity) for ln in lines]
    )
    pdf = render_pdf_bytes(po, lines)
    po.pdf.save(f"{po.number}.pdf", ContentFile(pdf), save=False)
    po.save()
    message = EmailMessage(
        subject=f"Purchase order {po.number} from {po.client.name}",
        body=render_to_string("inventory/email/purchase_order.txt", {"po": po, "lines": lines}),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[po.supplier.email],
    )
    message.attach(f"{po.number}.pdf", pdf, "application/pdf")
    message.send(fail_silently=False)
    _signal(po, [ln.product_id for ln in lines])
    return po


def render_pdf_bytes(po: PurchaseOrder, lines: list[PurchaseOrderLine]) -> bytes:
    from weasyprint import HTML, URLFetcher

    html = render_to_string(
        "inventory/pdf/purchase_order.html",
        {"po": po, "lines": lines, "today": timezone.localdate()},
    )
    # Our template, but user data inside (names, SKUs): never fetch anything.
    fetcher = URLFetcher(allowed_protocols=("data",), allow_redirects=False, timeout=2)
    return HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()


@atomic_with_retry
def purchase_order_cancel(
    *, purchase_order: PurchaseOrder, user=None, reason: str = ""
) -> PurchaseOrder:
    """Cancel a PO (from draft, approved, sent, or the remainder of a partial receipt).

    Locks the PO, then the stock levels: ``on_order`` falls by the units still open. Sends
    ``expected_supply_changed`` when the PO had been sent.
    """
    po = _lock(purchase_order)
    check_transition(po, S.CANCELLED)
    lines = list(po.lines.all())
    was_sent = po.status in (S.SENT, S.PARTIALLY_RECEIVED)
    if was_sent:
        stock.stock_on_order_change(
            changes=[(ln.product_id, po.warehouse_id, -ln.quantity_open) for ln in lines]
        )
    po.status, po.closed_at = S.CANCELLED, timezone.now()
    if reason:
        po.note = (po.note + "\n" if po.note else "") + f"Cancelled: {reason}"
    po.save(update_fields=["status", "closed_at", "note", "updated_at"])
    if was_sent:
        _signal(po, [ln.product_id for ln in lines])
    return po


@atomic_with_retry
def purchase_order_reschedule(
    *, purchase_order: PurchaseOrder, expected_on: date, user=None
) -> PurchaseOrder:
    """A postponed (or earlier) delivery: move the expected date, create nothing.

    The plan counts the PO as on order whatever its date, so a postponement never spawns a
    second PO. Sends ``expected_supply_changed`` (backorders are re-dated, customers told).
    """
    po = _lock(purchase_order)
    if po.status in (S.RECEIVED, S.CANCELLED):
        raise InvalidPurchaseOrderTransition(
            f"{po} is {po.get_status_display().lower()}: its date is final."
        )
    if not isinstance(expected_on, date):
        raise InvalidPurchaseOrderTransition("Give the new expected date.")
    if po.expected_on == expected_on:
        return po
    po.expected_on = expected_on
    po.save(update_fields=["expected_on", "updated_at"])
    if po.status in (S.SENT, S.PARTIALLY_RECEIVED):
        _signal(po, po.lines.values_list("product_id", flat=True))
    return po


def tolerance_percent(client_id: int) -> int:
    policy = ReplenishmentPolicy.objects.filter(client_id=client_id).first()
    return policy.over_receipt_tolerance_percent if policy else 0


def receivable_max(line: PurchaseOrderLine, tolerance: int) -> int:
    """Most units the line may have received in total (ordered + tolerance, rounded down)."""
    return line.quantity + (line.quantity * tolerance) // 100


@atomic_with_retry
def purchase_order_receive(
    *,
    purchase_order: PurchaseOrder,
    quantities: dict[int, int],
    user=None,
    reference: str = "",
) -> PurchaseOrder:
    """Book goods in against a sent PO: ``quantities`` maps line id → units arrived now.

    Every line is checked first (whole numbers, not beyond ordered + the client's over-receipt
    tolerance); any problem raises :class:`ReceiptError` listing them all, and nothing changes.
    Then, locks the PO row, all stock levels of its products (primary-key order, up front),
    and for each line calls :func:`inventory.services.stock_receive` (ledger row, backorders
    filled by priority in this same transaction) and lowers ``on_order`` by the units that were
    open. A line received in full records its lead time (sent → received days). Sends
    ``expected_supply_changed``.
    """
    po = _lock(purchase_order)
    if po.status not in (S.SENT, S.PARTIALLY_RECEIVED):
        raise InvalidPurchaseOrderTransition(
            f"{po} is {po.get_status_display().lower()}: "
            "only a sent purchase order can be received."
        )
    lines = {ln.pk: ln for ln in po.lines.select_related("product").order_by("id")}
    tolerance = tolerance_percent(po.client_id)
    errors, todo = [], []
    for line_id, qty in quantities.items():
        line = lines.get(line_id)
        if line is None:
            errors.append(f"Line {line_id} is not on {po}.")
            continue
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0:
            errors.append(f"{line.product.sku}: the quantity must be a whole number ≥ 0.")
            continue
        if not qty:
            continue
        allowed = receivable_max(line, tolerance) - line.quantity_received
        if qty > allowed:
            errors.append(
                f"{line.product.sku}: {qty} is more than the {max(allowed, 0)} still receivable "
                f"({line.quantity} ordered, {line.quantity_received} received, "
                f"over-receipt tolerance {tolerance} %)."
            )
            continue
        todo.append((line, qty))
    if errors:
        raise ReceiptError(" ".join(errors))
    if not todo:
        raise ReceiptError("Enter at least one quantity received.")
    stock.stock_levels_lock(product_ids=[ln.product_id for ln in lines.values()], related=())
    now = timezone.now()
    on_order = []
    for line, qty in todo:
        stock.stock_receive(
            product=line.product,
            warehouse=po.warehouse,
            quantity=qty,
            user=user,
            reference=(f"{po.number} {reference}".strip())[:100],
        )
        on_order.append((line.product_id, po.warehouse_id, -min(qty, line.quantity_open)))
        line.quantity_received += qty
        fields = ["quantity_received"]
        if line.quantity_received >= line.quantity and line.received_at is None:
            line.received_at = now
            sent = timezone.localdate(po.sent_at or now)
            line.lead_time_days = max((timezone.localdate(now) - sent).days, 0)
            fields += ["received_at", "lead_time_days"]
        line.save(update_fields=fields)
    stock.stock_on_order_change(changes=on_order)
    complete = all(ln.quantity_received >= ln.quantity for ln in lines.values())
    po.status = S.RECEIVED if complete else S.PARTIALLY_RECEIVED
    if complete:
        po.closed_at = now
    po.save(update_fields=["status", "closed_at", "updated_at"])
    _signal(po, [ln.product_id for ln, _ in todo])
    return po


# -- delivery notes -----------------------------------------------------------------------------
DELIVERY_NOTE_MAX_BYTES = 2 * 1024 * 1024
_SKU_HEADERS = ("supplier_sku", "supplier sku", "sku")
_QTY_HEADERS = ("quantity", "qty")


@dataclass
class DeliveryNote:
    quantities: dict[int, int]  # line id → units
    errors: list[str]


def delivery_note_read(*, purchase_order: PurchaseOrder, data: bytes) -> DeliveryNote:
    """Read a delivery note CSV (columns supplier SKU, quantity) against a PO's lines.

    Row errors name the row; rows of the same SKU add up. Reads only, changes nothing.
    """
    errors: list[str] = []
    if len(data) > DELIVERY_NOTE_MAX_BYTES:
        return DeliveryNote({}, ["The file is larger than 2 MB; is it really a delivery note?"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return DeliveryNote({}, ["The file is not UTF-8 text (save it as CSV UTF-8)."])
    try:
        dialect = csv.Sniffer().sniff(text[:2048], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip().lower() for h in next(reader, [])]
    sku_at = next((header.index(h) for h in _SKU_HEADERS if h in header), None)
    qty_at = next((header.index(h) for h in _QTY_HEADERS if h in header), None)
    if sku_at is None or qty_at is None:
        return DeliveryNote({}, ["The first row must name the columns: supplier_sku, quantity."])
    by_sku = {
        ln.supplier_sku.strip().lower(): ln for ln in purchase_order.lines.all() if ln.supplier_sku
    }
    by_own_sku = {
        ln.product.sku.lower(): ln for ln in purchase_order.lines.select_related("product")
    }
    quantities: dict[int, int] = {}
    for row_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(sku_at, qty_at):
            errors.append(f"Row {row_no}: expected a supplier SKU and a quantity.")
            continue
        sku, raw_qty = row[sku_at].strip(), row[qty_at].strip()
        line = by_sku.get(sku.lower()) or by_own_sku.get(sku.lower())
        if line is None:
            errors.append(f"Row {row_no}: SKU '{sku[:64]}' is not on {purchase_order}.")
            continue
        try:
            qty = int(raw_qty)
        except ValueError:
            errors.append(f"Row {row_no}: quantity '{raw_qty[:20]}' is not a whole number.")
            continue
        if qty <= 0:
            errors.append(f"Row {row_no}: quantity must be greater than zero.")
            continue
        quantities[line.pk] = quantities.get(line.pk, 0) + qty
    if not quantities and not errors:
        errors.append("The file lists no goods.")
    return DeliveryNote(quantities, errors)


def purchase_order_receive_delivery_note(
    *, purchase_order: PurchaseOrder, data: bytes, user=None, reference: str = ""
) -> PurchaseOrder:
    """Receive a delivery note file: all rows or nothing (row errors raise ReceiptError)."""
    note = delivery_note_read(purchase_order=purchase_order, data=data)
    if note.errors:
        raise ReceiptError(" ".join(note.errors))
    return purchase_order_receive(
        purchase_order=purchase_order,
        quantities=note.quantities,
        user=user,
        reference=reference or "delivery note",
    )
