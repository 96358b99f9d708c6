"""Every admin page a user can open with GET, found by walking the admin site's registry.

Used by the CSP checks (tests/core/test_security_headers.py with the test client,
tests/e2e/test_csp.py in Chromium) so that a page added later — a new ModelAdmin, a new
``get_urls`` view — is checked without anyone remembering to list it.

For each registered ModelAdmin the user may view: its changelist, its add page (if allowed),
the change page of the first object the user can see, and its own ``get_urls`` pages (ids filled
with that first object). Pages that are not HTML or that act on POST only are left out by name
(``NOT_PAGES``); pages that need ``?ids=`` or an action name are added by ``extra_pages()``.
A custom page the user lacks the permission for is still listed: its view answers 403.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import reverse

STANDARD = ("_changelist", "_add", "_history", "_delete", "_change")
# URL names (without "admin:") that are files, JSON or POST-only endpoints.
NOT_PAGES = {
    "orders_order_take_next",  # POST
    "orders_order_do",  # needs an action name: see extra_pages()
    "orders_order_entry_products",  # JSON, for the order entry page's script
    "orders_order_entry_customers",  # JSON, for the order entry page's script
    "orders_importjob_template",  # CSV file
    "orders_importjob_status",  # JSON, polled by the job page
    "orders_importjob_confirm",  # POST
    "orders_importjob_discard",  # POST
    "orders_importjob_rejected",  # CSV file
    "orders_importjob_resume",  # POST
    "orders_exportjob_page",  # needs an export job of the user (tests/orders/test_export.py)
    "orders_exportjob_status",  # JSON, polled by the export job page
    "orders_exportjob_download",  # CSV/XLSX file
    "fulfillment_pickwave_pick_list",  # PDF
    "fulfillment_pickwave_packing_slips",  # PDF
    "fulfillment_pickwave_pack",  # POST
    "fulfillment_shipment_packing_slips",  # PDF
    "fulfillment_shipment_ship",  # needs ?ids=: see extra_pages()
    "inventory_purchaseorder_do",  # POST, needs an action name
    "inventory_purchaseorder_pdf",  # PDF
    "inventory_replenishment_run",  # POST
    "support_notificationtemplate_preview",  # POST, JSON for the live preview
    "support_notificationtemplate_test_send",  # POST
    "billing_invoice_pdf",  # PDF
    "billing_invoice_export",  # CSV file
    "billing_payment_export",  # CSV file
    "billing_payment_override",  # takes an order id: see extra_pages()
    "support_ticket_take_next",  # POST
    "support_ticket_work",  # POST
}


def _request(user):
    request = RequestFactory().get("/admin/")
    request.user = user or AnonymousUser()
    return request


def admin_pages(user) -> dict[str, str]:
    """``{label: path}`` of the admin pages ``user`` may open, index first."""
    request = _request(user)
    pages = {"index": reverse("admin:index")}
    for model, model_admin in admin.site._registry.items():
        if not model_admin.has_view_or_change_permission(request):
            continue
        opts = model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        pages[f"{prefix} list"] = reverse(f"admin:{prefix}_changelist")
        if model_admin.has_add_permission(request):
            pages[f"{prefix} add"] = reverse(f"admin:{prefix}_add")
        first = model_admin.get_queryset(request).order_by("pk").first()
        if first is not None:
            pages[f"{prefix} change"] = reverse(f"admin:{prefix}_change", args=[first.pk])
        for pattern in model_admin.get_urls():
            name = pattern.name
            if not name or name.endswith(STANDARD) or name in NOT_PAGES:
                continue
            converters = list(pattern.pattern.converters)
            if not converters:
                pages[name] = reverse(f"admin:{name}")
            elif len(converters) == 1 and first is not None:
                pages[name] = reverse(f"admin:{name}", args=[first.pk])
            else:
                raise AssertionError(
                    f"admin page {name} takes {converters}: add it to NOT_PAGES or extra_pages()"
                )
    pages.update(extra_pages(user))
    return pages


def extra_pages(user) -> dict[str, str]:
    """Pages reached with ``?ids=`` or an action name, filled from what the user can see."""
    from clients.scoping import scope_queryset
    from orders.models import Order

    visible = scope_queryset(Order.objects.order_by("pk"), user)
    pages = {}
    open_order = visible.filter(status__in=["new", "ready", "backordered"]).first()
    if open_order is not None:
        for action in ("hold", "assign_to_agent", "cancel"):
            pages[f"order {action}"] = reverse(
                "admin:orders_order_do", args=[open_order.pk, action]
            )
    ready = list(visible.filter(status="ready").values_list("pk", flat=True)[:3])
    if ready and user.has_perm("fulfillment.add_pickwave"):
        pages["pick wave from orders"] = (
            reverse("admin:fulfillment_pickwave_from_orders") + "?ids=" + ",".join(map(str, ready))
        )
    held = visible.filter(status="on_hold", hold_type__in=["payment", "credit"]).first()
    if held is not None:
        pages["override payment hold"] = reverse("admin:billing_payment_override", args=[held.pk])
    packed = list(visible.filter(status="packed").values_list("pk", flat=True)[:2])
    if packed and user.has_perm("fulfillment.add_shipment"):
        pages["ship orders"] = (
            reverse("admin:fulfillment_shipment_ship") + "?ids=" + ",".join(map(str, packed))
        )
    return pages
