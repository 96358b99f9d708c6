"""django-q2 entry points (thin, idempotent: each service skips what is already done)."""

from __future__ import annotations

from billing import pdf, services
from billing.models import Invoice
from clients.models import Client


def invoice_shipments(shipment_ids: list[int]) -> int:
    return len(services.invoices_issue_for_shipments(shipment_ids=shipment_ids))


def invoice_released_orders(order_ids: list[int]) -> int:
    from orders.models import Order

    wanted = Order.objects.filter(
        pk__in=order_ids, client__invoice_mode=Client.InvoiceMode.PER_ORDER
    ).values_list("pk", flat=True)
    return sum(1 for oid in wanted if services.invoice_issue_for_order(order_id=oid))


def credit_cancelled_orders(order_ids: list[int]) -> int:
    return len(services.credit_note_for_cancelled_orders(order_ids=order_ids))


def render_invoice_pdfs(invoice_ids: list[int]) -> int:
    """Render and store each document's PDF once (skips those that have one)."""
    done = 0
    for invoice in Invoice.objects.filter(pk__in=invoice_ids, pdf="").select_related(
        "client", "order", "customer", "credited_invoice"
    ):
        pdf.invoice_pdf_store(invoice)
        done += 1
    return done
