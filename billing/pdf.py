"""Invoice and credit-note PDFs (WeasyPrint through fulfillment.pdf: print CSS, no network),
rendered once per document and stored in the default storage."""

from __future__ import annotations

from django.core.files.base import ContentFile

from billing.models import Invoice
from fulfillment.pdf import render_pdf


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    return render_pdf(
        "billing/invoice_pdf.html",
        {
            "invoice": invoice,
            "client": invoice.client,
            "order": invoice.order,
            "customer": invoice.customer,
            "lines": list(invoice.lines.all()),
            "legal_lines": [ln for ln in invoice.client.invoice_legal_lines.splitlines() if ln],
        },
    )


def invoice_pdf_store(invoice: Invoice) -> Invoice:
    """Render once: a document that has its file keeps it (an issued invoice never changes)."""
    if invoice.pdf:
        return invoice
    content = invoice_pdf_bytes(invoice)
    invoice.pdf.save(f"{invoice.number}.pdf", ContentFile(content), save=False)
    Invoice.objects.filter(pk=invoice.pk, pdf="").update(pdf=invoice.pdf.name)
    return invoice
