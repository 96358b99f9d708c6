"""What the fulfillment admin pages share: id lists from URLs, PDF responses, tracking links,
the domain errors a page shows as messages."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import scope_queryset
from fulfillment import selectors
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import Shipment
from fulfillment.pdf import paper_from, render_pdf
from inventory.exceptions import InventoryError
from orders.exceptions import OrderError
from orders.models import Order

DOMAIN_ERRORS = (FulfillmentError, OrderError, InventoryError)
MAX_IDS = 500


def parse_ids(value: str | None, limit: int = MAX_IDS) -> list[int]:
    """``"3,1,2"`` → ``[3, 1, 2]`` (order kept, duplicates and junk dropped, at most limit)."""
    ids: list[int] = []
    for part in (value or "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids[:limit]


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def tracking_link(shipment: Shipment) -> str:
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer" class="bpo-tracking">{}</a>',
        shipment.tracking_url,
        shipment.tracking_number,
    )


def packing_slips_response(request, order_ids: list[int], name: str) -> HttpResponse:
    visible = set(
        scope_queryset(Order.objects.filter(pk__in=order_ids), request.user).values_list(
            "pk", flat=True
        )
    )
    ids = [i for i in order_ids if i in visible]
    if not ids:
        raise Http404("No such order.")
    paper = paper_from(request.GET.get("paper"))
    content = render_pdf(
        "fulfillment/pdf/packing_slips.html",
        {"slips": selectors.packing_slips(ids), "printed_at": timezone.now()},
        paper=paper,
    )
    return pdf_response(content, f"{name}-{paper}.pdf")
