"""Billing in the admin: invoices (read-only, PDF), payments (record by hand, remittance file
upload with preview), the hold override, accounts receivable and the CSV exports."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from billing import selectors
from billing.exceptions import BillingError
from billing.forms import OverrideForm, PaymentForm, RemittanceUploadForm
from billing.models import Invoice, InvoiceLine, Payment, PaymentProvider
from billing.remittance import RemittanceFileError, read_remittance, remittance_record
from billing.services import payment_record
from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    can_access_client,
    is_supervisor_for,
    supervised_client_ids,
)
from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Order
from orders.resources import neutralise_formula
from orders.services.payments import order_release_override


def _supervised_orders(user):
    ids = supervised_client_ids(user)
    qs = Order.objects.all()
    return qs if ids is None else qs.filter(client_id__in=ids)


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = ("description", "quantity", "unit_price", "tax_rate", "net_amount", "tax_amount")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Invoice)
class InvoiceAdmin(ClientScopedAdmin):
    list_display = (
        "number",
        "kind",
        "order",
        "customer",
        "issued_at",
        "due_on",
        "total",
        "amount_paid",
        "currency",
        "client",
    )
    list_filter = ("kind", "status", ClientListFilter)
    list_select_related = ("order", "customer", "client")
    search_fields = ("=number", "=order__number")
    ordering = ("-issued_at", "-id")
    inlines = [InvoiceLineInline]
    raw_id_fields = ("order", "customer", "credited_invoice")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Invoice._meta.fields]

    # Issued documents never change: credit notes correct them (billing.services).
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/pdf/", view(self.pdf_view), name="billing_invoice_pdf"),
            path("receivables/", view(self.receivables_view), name="billing_receivables"),
            path("export.csv", view(self.export_view), name="billing_invoice_export"),
            *super().get_urls(),
        ]

    def pdf_view(self, request, pk: int):
        invoice = get_object_or_404(selectors.invoices_visible_to(request.user), pk=pk)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        if not invoice.pdf:
            raise Http404("The PDF is still being rendered; try again in a moment.")
        return FileResponse(
            invoice.pdf.open("rb"),
            content_type="application/pdf",
            filename=f"{invoice.number}.pdf",
        )

    def receivables_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Accounts receivable",
            "opts": self.model._meta,
            "ar": selectors.receivables(request.user),
        }
        return TemplateResponse(request, "admin/billing/receivables.html", context)

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="invoices.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "client",
                "number",
                "kind",
                "order",
                "customer",
                "issued_at",
                "due_on",
                "currency",
                "subtotal",
                "tax_total",
                "total",
                "amount_paid",
                "credited_invoice",
            ]
        )
        qs = (
            selectors.invoices_visible_to(request.user)
            .select_related("client", "order", "customer", "credited_invoice")
            .order_by("issued_at", "pk")
        )
        for inv in qs.iterator(chunk_size=2000):
            writer.writerow(
                [
                    neutralise_formula(v)
                    for v in (
                        inv.client.code,
                        inv.number,
                        inv.kind,
                        inv.order.number,
                        inv.customer.name if inv.customer_id else "",
                        inv.issued_at.isoformat() if inv.issued_at else "",
                        inv.due_on.isoformat() if inv.due_on else "",
                        inv.currency,
                        inv.subtotal,
                        inv.tax_total,
                        inv.total,
                        inv.amount_paid,
                        inv.credited_invoice.number if inv.credited_invoice_id else "",
                    )
                ]
            )
        return response


@admin.register(Payment)
class PaymentAdmin(ClientScopedAdmin):
    list_display = (
        "received_at",
        "order",
        "invoice",
        "amount",
        "currency",
        "status",
        "method",
        "provider",
        "provider_reference",
        "source",
        "client",
    )
    list_filter = ("status", "source", "method", ClientListFilter)
    list_select_related = ("order", "invoice", "client")
    search_fields = ("=provider_reference", "=order__number")
    ordering = ("-received_at", "-id")
    raw_id_fields = ("order", "invoice", "recorded_by")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Payment._meta.fields]

    def has_add_permission(self, request):
        return False  # recorded through the record page (a service), not the raw form

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra = {"can_record": self._can_record(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def _can_record(self, request) -> bool:
        return request.user.has_perm("billing.add_payment") and (
            supervised_client_ids(request.user) != frozenset()
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("record/", view(self.record_view), name="billing_payment_record"),
            path("remittance/", view(self.remittance_view), name="billing_payment_remittance"),
            path(
                "override/<int:order_id>/",
                view(self.override_view),
                name="billing_payment_override",
            ),
            path("export.csv", view(self.export_view), name="billing_payment_export"),
            *super().get_urls(),
        ]

    def _context(self, request, title, **kw):
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            **kw,
        }

    def record_view(self, request):
        if not self._can_record(request):
            raise PermissionDenied
        initial = {}
        if request.GET.get("order", "").isdigit():
            order = _supervised_orders(request.user).filter(pk=int(request.GET["order"])).first()
            if order is not None:
                initial = {"order_number": order.number, "amount": order.total - order.amount_paid}
        form = PaymentForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            found = list(_supervised_orders(request.user).filter(number=data["order_number"])[:2])
            if len(found) != 1:
                form.add_error("order_number", "No such order among the clients you supervise.")
            else:
                try:
                    payment, created = payment_record(
                        client=found[0].client,
                        order=found[0],
                        amount=data["amount"],
                        status=data["status"],
                        method=data["method"],
                        provider="manual",
                        provider_reference=data["provider_reference"],
                        user=request.user,
                    )
                except BillingError as exc:
                    form.add_error(None, str(exc))
                else:
                    self.message_user(
                        request,
                        f"Payment of {payment.amount} {payment.currency} recorded for "
                        f"{found[0].number}."
                        if created
                        else "That payment was already recorded.",
                        messages.SUCCESS if created else messages.WARNING,
                    )
                    return redirect(reverse("admin:orders_order_change", args=[found[0].pk]))
        return TemplateResponse(
            request,
            "admin/billing/payment_form.html",
            self._context(request, "Record a payment", form=form),
        )

    def remittance_view(self, request):
        if not self._can_record(request):
            raise PermissionDenied
        form = RemittanceUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            text = form.cleaned_data["content"]
            try:
                if upload is not None:
                    raw = upload.read(2 * 1024 * 1024 + 1)
                    try:
                        text = raw.decode("utf-8-sig")
                    except UnicodeDecodeError as exc:
                        raise RemittanceFileError("The file is not UTF-8 text.") from exc
                if not text:
                    raise RemittanceFileError("Choose a file.")
                parsed = read_remittance(text, client_ids=supervised_client_ids(request.user))
            except RemittanceFileError as exc:
                form.add_error("file", str(exc))
            else:
                if form.cleaned_data["confirm"] and upload is None:
                    new, dup = remittance_record(parsed, user=request.user)
                    self.message_user(
                        request,
                        f"Remittance: {new} payment(s) recorded, {dup} already known, "
                        f"{len(parsed.bad)} row(s) with errors skipped.",
                        messages.SUCCESS if not parsed.bad else messages.WARNING,
                    )
                    return redirect(reverse("admin:billing_payment_changelist"))
                result = parsed
                form = RemittanceUploadForm(initial={"content": text, "confirm": True})
        return TemplateResponse(
            request,
            "admin/billing/remittance.html",
            self._context(request, "Upload a remittance file", form=form, result=result),
        )

    def override_view(self, request, order_id: int):
        order = get_object_or_404(Order, pk=order_id)
        if not can_access_client(request.user, order.client_id):
            raise Http404("No such order.")
        if not is_supervisor_for(request.user, order.client_id):
            raise PermissionDenied
        form = OverrideForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                order_release_override(
                    order=order, reason=form.cleaned_data["reason"], user=request.user
                )
            except (InvalidOrderStatus, OrderValidationError) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Order {order.number}: hold overridden.")
                return redirect(reverse("admin:orders_order_change", args=[order.pk]))
        return TemplateResponse(
            request,
            "admin/billing/override.html",
            self._context(request, f"Override the hold of {order.number}", form=form, order=order),
        )

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="payments.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "client",
                "order",
                "invoice",
                "received_at",
                "amount",
                "currency",
                "status",
                "method",
                "provider",
                "provider_reference",
                "source",
            ]
        )
        qs = (
            selectors.payments_visible_to(request.user)
            .select_related("client", "order", "invoice")
            .order_by("received_at", "pk")
        )
        for p in qs.iterator(chunk_size=2000):
            writer.writerow(
                [
                    neutralise_formula(v)
                    for v in (
                        p.client.code,
                        p.order.number,
                        p.invoice.number if p.invoice_id else "",
                        p.received_at.isoformat(),
                        p.amount,
                        p.currency,
                        p.status,
                        p.method,
                        p.provider,
                        p.provider_reference,
                        p.source,
                    )
                ]
            )
        return response


@admin.register(PaymentProvider)
class PaymentProviderAdmin(ClientScopedAdmin):
    """Provider accounts and their webhook secrets: admins only (like carriers' secrets)."""

    list_display = ("code", "name", "client", "active")
    list_filter = ("active", ClientListFilter)

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        from django import forms

        form = super().get_form(request, obj, **kwargs)
        # The secret is write-only: never sent back to the browser.
        form.base_fields["webhook_secret"].widget = forms.PasswordInput(render_value=False)
        form.base_fields["webhook_secret"].required = obj is None
        return form

    def save_model(self, request, obj, form, change):
        if change and not form.cleaned_data.get("webhook_secret"):
            obj.webhook_secret = type(obj).objects.get(pk=obj.pk).webhook_secret
        super().save_model(request, obj, form, change)
