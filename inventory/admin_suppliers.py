"""Admin for suppliers, their terms per product (lead time, minimum, pack size, price) and
replenishment policies. Thin: every change goes through a service.

Scoping by ``clients.scoping``; agents read, and changes need the supervisor role **for the
row's client** (``is_supervisor_for``), checked per object.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    ClientScopedInlineMixin,
    is_supervisor_for,
)
from core.paginator import BoundedCountPaginator
from inventory.admin_common import SupervisorEditsMixin
from inventory.models import (
    ReplenishmentPolicy,
    Supplier,
    SupplierProduct,
)
from inventory.selectors import (
    LEAD_TIME_MIN_RECEIPTS,
    lead_time_stats,
    suppliers_with_late_counts,
)


class SupplierProductForm(forms.ModelForm):
    class Meta:
        model = SupplierProduct
        fields = (
            "supplier",
            "product",
            "supplier_sku",
            "unit_cost",
            "lead_time_days",
            "min_order_qty",
            "pack_multiple",
            "preferred",
        )

    def clean(self):
        data = super().clean()
        product, supplier = data.get("product"), getattr(self.instance, "supplier", None)
        if supplier is None:
            supplier = data.get("supplier")
        if product and supplier and product.client_id != supplier.client_id:
            raise forms.ValidationError(
                f"{product.sku} belongs to another client than supplier {supplier.code}."
            )
        return data


class SupplierProductInline(ClientScopedInlineMixin, admin.TabularInline):
    model = SupplierProduct
    form = SupplierProductForm
    fields = (
        "product",
        "supplier_sku",
        "unit_cost",
        "lead_time_days",
        "min_order_qty",
        "pack_multiple",
        "preferred",
    )
    raw_id_fields = ("product",)
    extra = 0

    def has_delete_permission(self, request, obj=None):
        return obj is not None and is_supervisor_for(request.user, obj.client_id)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )

    def has_add_permission(self, request, obj=None):
        return super().has_add_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )


@admin.register(Supplier)
class SupplierAdmin(SupervisorEditsMixin, ClientScopedAdmin):
    list_display = (
        "code",
        "name",
        "client",
        "email",
        "lead_time_days",
        "late_display",
        "active",
    )
    list_filter = ("active", ClientListFilter)
    list_select_related = ("client",)
    search_fields = ("=code", "name")
    inlines = [SupplierProductInline]
    readonly_fields = ("lead_time_learnt",)

    def get_queryset(self, request):
        return suppliers_with_late_counts(super().get_queryset(request))

    def get_readonly_fields(self, request, obj=None):
        return ("client", "lead_time_learnt") if obj else ("lead_time_learnt",)

    @admin.display(description="late POs", ordering="late_count")
    def late_display(self, obj):
        if getattr(obj, "late_count", 0):
            return format_html('<strong class="bpo-overdue">{} late</strong>', obj.late_count)
        return "–"

    @admin.display(description="learnt lead time")
    def lead_time_learnt(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        stats = lead_time_stats([obj.pk]).get(obj.pk)
        if stats is None:
            return f"No receipts yet: planning uses the configured {obj.lead_time_days} days."
        text = f"{stats.mean:.1f} days ± {stats.sigma:.1f} over the last {stats.receipts} receipts"
        if stats.trusted:
            return text + " (used by the plan)."
        return (
            f"{text}; the plan uses it from {LEAD_TIME_MIN_RECEIPTS} receipts on "
            f"(until then the configured {obj.lead_time_days} days)."
        )

    def save_formset(self, request, form, formset, change):
        for inline_form in formset.forms:
            if inline_form.instance is not None and not inline_form.instance.client_id:
                inline_form.instance.client_id = form.instance.client_id
        super().save_formset(request, form, formset, change)


@admin.register(SupplierProduct)
class SupplierProductAdmin(SupervisorEditsMixin, ClientScopedAdmin):
    list_display = (
        "supplier_sku",
        "product",
        "supplier",
        "unit_cost",
        "lead_time_days",
        "min_order_qty",
        "pack_multiple",
        "preferred",
    )
    list_filter = ("preferred", ClientListFilter)
    list_select_related = ("product", "supplier")
    search_fields = ("^supplier_sku", "^product__sku")
    raw_id_fields = ("product", "supplier")
    exclude = ("client",)
    form = SupplierProductForm
    paginator = BoundedCountPaginator

    def save_model(self, request, obj, form, change):
        obj.client_id = obj.supplier.client_id
        if obj.product.client_id != obj.client_id:
            raise PermissionDenied
        super().save_model(request, obj, form, change)


@admin.register(ReplenishmentPolicy)
class ReplenishmentPolicyAdmin(SupervisorEditsMixin, ClientScopedAdmin):
    list_display = (
        "client",
        "service_level",
        "auto_approve_below",
        "over_receipt_tolerance_percent",
    )
