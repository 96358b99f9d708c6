"""Admin for replenishment: suppliers, terms, reorder rules, the replenishment page, purchase
orders (approve, send, receive), runs. Thin: every change goes through a service.

Scoping by ``clients.scoping`` everywhere; agents read, and changes need the supervisor role
**for the row's client** (``is_supervisor_for``), checked per object.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    ClientScopedInlineMixin,
    client_ids_for,
    is_supervisor_for,
    scope_queryset,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from inventory import purchasing
from inventory.exceptions import InventoryError
from inventory.forms_purchasing import DeliveryNoteForm, ReceivePurchaseOrderForm
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderRule,
    ReplenishmentPolicy,
    ReplenishmentRun,
    Supplier,
    SupplierProduct,
)
from inventory.selectors import (
    LEAD_TIME_MIN_RECEIPTS,
    late_purchase_orders,
    late_q,
    lead_time_stats,
    suppliers_with_late_counts,
)


class SupervisorEditsMixin:
    """Change/add only for supervisors of the row's client; client choices = supervised ones."""

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "client" and formfield is not None:
            supervised = supervised_client_ids(request.user)
            if supervised is not None:
                formfield.queryset = formfield.queryset.filter(pk__in=supervised)
        return formfield

    def save_model(self, request, obj, form, change):
        if not is_supervisor_for(request.user, obj.client_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False


# -- suppliers ----------------------------------------------------------------------------------
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


# -- reorder rules and the replenishment page -----------------------------------------------------
@admin.register(ReorderRule)
class ReorderRuleAdmin(SupervisorEditsMixin, ClientScopedAdmin):
    change_list_template = "admin/inventory/reorderrule/change_list.html"
    list_display = (
        "product",
        "warehouse",
        "policy",
        "min_qty",
        "max_qty",
        "active",
        "supplier",
        "suggested_qty",
        "order_by",
        "days_of_cover",
    )
    list_editable = ("policy", "min_qty", "max_qty", "active")
    list_filter = ("policy", "active", "warehouse", ClientListFilter)
    list_select_related = ("product", "warehouse", "supplier")
    search_fields = ("^product__sku",)
    raw_id_fields = ("product", "supplier")
    paginator = BoundedCountPaginator
    fieldsets = (
        (None, {"fields": ("client", "product", "warehouse", "supplier", "active")}),
        ("Policy", {"fields": ("policy", "min_qty", "max_qty", "demand_days", "review_days")}),
        (
            "Plan",
            {
                "fields": (
                    "plan_now",
                    "planned_at",
                    "projected",
                    "daily_demand",
                    "reorder_point",
                    "order_up_to",
                    "suggested_qty",
                    "order_by",
                    "days_of_cover",
                )
            },
        ),
    )
    readonly_fields = (
        "plan_now",
        "planned_at",
        "projected",
        "daily_demand",
        "reorder_point",
        "order_up_to",
        "suggested_qty",
        "order_by",
        "days_of_cover",
    )

    def get_readonly_fields(self, request, obj=None):
        fields = self.readonly_fields
        return ("client", "product", "warehouse", *fields) if obj else fields

    @admin.display(description="the plan now, in words")
    def plan_now(self, obj):
        if obj is None or obj.pk is None:
            return "–"
        from inventory.replenishment import reorder_rule_explain

        return reorder_rule_explain(obj)

    def get_list_editable(self, request):
        # Quick tuning in the list only for someone who supervises every client they see;
        # a user with mixed roles edits rule by rule (the change form checks each one).
        supervised = supervised_client_ids(request.user)
        if supervised is None or (supervised and supervised == client_ids_for(request.user)):
            return self.list_editable
        return ()

    def get_changelist_instance(self, request):
        # Django's own method with a per-request list_editable (never mutate the shared admin).
        list_display = self.get_list_display(request)
        list_display_links = self.get_list_display_links(request, list_display)
        if self.get_actions(request):
            list_display = ["action_checkbox", *list_display]
        return self.get_changelist(request)(
            request,
            self.model,
            list_display,
            list_display_links,
            self.get_list_filter(request),
            self.date_hierarchy,
            self.get_search_fields(request),
            self.get_list_select_related(request),
            self.list_per_page,
            self.list_max_show_all,
            self.get_list_editable(request),
            self,
            self.get_sortable_by(request),
            self.search_help_text,
        )

    def get_changelist_formset(self, request, **kwargs):
        from functools import partial

        from django.forms.models import modelformset_factory

        return modelformset_factory(
            self.model,
            self.get_changelist_form(request),
            extra=0,
            fields=self.get_list_editable(request) or ("active",),
            formfield_callback=partial(self.formfield_for_dbfield, request=request),
            **kwargs,
        )

    def save_model(self, request, obj, form, change):
        if obj.product.client_id != obj.client_id:
            raise PermissionDenied
        if obj.supplier_id and obj.supplier.client_id != obj.client_id:
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def get_urls(self):
        return [
            path(
                "replenishment/",
                self.admin_site.admin_view(self.replenishment_view),
                name="inventory_replenishment",
            ),
            path(
                "replenishment/run/",
                self.admin_site.admin_view(self.run_now_view),
                name="inventory_replenishment_run",
            ),
            *super().get_urls(),
        ]

    def _may_run(self, request) -> bool:
        supervised = supervised_client_ids(request.user)
        return request.user.has_perm("inventory.run_replenishment") and (
            supervised is None or bool(supervised)
        )

    def replenishment_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        rules = scope_queryset(
            ReorderRule.objects.filter(suggested_qty__gt=0, active=True), request.user
        )
        client = request.GET.get("client", "")
        if client.isdigit():
            rules = rules.filter(client_id=int(client))
        rules = list(
            rules.select_related("product", "warehouse", "supplier", "client").order_by(
                F("order_by").asc(nulls_last=True), "id"
            )[:300]
        )
        late_pairs = set(
            PurchaseOrderLine.objects.filter(
                purchase_order__in=late_purchase_orders(
                    scope_queryset(PurchaseOrder.objects.all(), request.user)
                ).values("pk"),
                quantity__gt=F("quantity_received"),
            ).values_list("product_id", "purchase_order__warehouse_id")
        )
        today = timezone.localdate()
        for rule in rules:
            rule.late_supply = (rule.product_id, rule.warehouse_id) in late_pairs
            rule.overdue = rule.order_by is not None and rule.order_by < today
        drafts = list(
            scope_queryset(
                PurchaseOrder.objects.filter(status__in=["draft", "approved"]), request.user
            )
            .select_related("supplier", "warehouse")
            .order_by("status", "-id")[:100]
        )
        late = list(
            late_purchase_orders(scope_queryset(PurchaseOrder.objects.all(), request.user))
            .select_related("supplier", "warehouse")
            .order_by("expected_on")[:50]
        )
        runs = list(_runs_visible_to(request.user)[:5])
        context = {
            **self.admin_site.each_context(request),
            "title": "Replenishment",
            "opts": self.model._meta,
            "rules": rules,
            "drafts": drafts,
            "late": late,
            "runs": runs,
            "can_run": self._may_run(request),
            "today": today,
        }
        return TemplateResponse(request, "admin/inventory/replenishment.html", context)

    def run_now_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._may_run(request):
            raise PermissionDenied
        from inventory.replenishment import replenishment_run

        supervised = supervised_client_ids(request.user)
        client_ids = None if supervised is None else sorted(supervised)
        rules = ReorderRule.objects.filter(active=True)
        if client_ids is not None:
            rules = rules.filter(client_id__in=client_ids)
        url = reverse("admin:inventory_replenishment")
        if rules.count() > settings.REPLENISHMENT_INLINE_RULES:
            from django_q.tasks import async_task

            async_task(
                "inventory.tasks.run_replenishment",
                client_ids,
                "manual",
                request.user.pk,
                group="replenishment",
                timeout=settings.REPLENISHMENT_TIMEOUT,
            )
            self.message_user(request, "Replenishment run started in the background.")
            return HttpResponseRedirect(url)
        try:
            run = replenishment_run(client_ids=client_ids, trigger="manual", user=request.user)
        except Exception as exc:  # the run row records it; the user gets a message, not a 500
            self.message_user(request, f"The replenishment run failed: {exc}", messages.ERROR)
        else:
            self.message_user(
                request,
                f"Replenishment run {run.pk}: {run.rules_evaluated} rules, "
                f"{run.suggestions} to order, {run.pos_created} draft POs created, "
                f"{run.pos_updated} updated, {run.pos_auto_approved} approved automatically.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(url)


# -- purchase orders ------------------------------------------------------------------------------
class LateFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "late"

    def lookups(self, request, model_admin):
        return (("yes", "Late (past expected date, units open)"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(late_q()).distinct()
        return queryset


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    fields = (
        "product",
        "supplier_sku",
        "quantity",
        "quantity_received",
        "unit_cost",
        "lead_time_days",
        "why",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


PO_ACTIONS = {
    # name: (label, service, permission)
    "approve": ("Approve", purchasing.purchase_order_approve, "inventory.approve_purchaseorder"),
    "send": ("Send to supplier", purchasing.purchase_order_send, "inventory.send_purchaseorder"),
    "cancel": ("Cancel", purchasing.purchase_order_cancel, "inventory.change_purchaseorder"),
}
S = PurchaseOrder.Status


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ClientScopedAdmin):
    change_form_template = "admin/inventory/purchaseorder/change_form.html"
    list_display = (
        "__str__",
        "supplier",
        "warehouse",
        "status",
        "expected_on",
        "late_display",
        "total_value",
        "client",
    )
    list_filter = ("status", LateFilter, "warehouse", ClientListFilter)
    list_select_related = ("supplier", "warehouse", "client")
    search_fields = ("=number", "^supplier__code")
    inlines = [PurchaseOrderLineInline]
    paginator = BoundedCountPaginator
    fields = (
        "number",
        "client",
        "supplier",
        "warehouse",
        "status",
        "expected_on",
        "total_value",
        "currency",
        "auto_approved",
        "approved_at",
        "approved_by",
        "sent_at",
        "sent_by",
        "sent_to",
        "closed_at",
        "note",
    )
    actions = ["approve_selected", "send_selected", "cancel_selected"]

    def get_readonly_fields(self, request, obj=None):
        editable = {"note"}
        if obj is not None and obj.status not in (S.RECEIVED, S.CANCELLED):
            editable.add("expected_on")
        return [f for f in self.fields if f not in editable]

    def has_add_permission(self, request):
        return False  # the plan writes drafts

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )

    @admin.display(description="late")
    def late_display(self, obj):
        if (
            obj.status in (S.SENT, S.PARTIALLY_RECEIVED)
            and obj.expected_on
            and obj.expected_on < timezone.localdate()
        ):
            return format_html('<strong class="bpo-overdue">late</strong>')
        return ""

    def save_model(self, request, obj, form, change):
        # Only the note and the expected date can be edited; a new date goes through the
        # service (it re-dates backorders and tells listeners).
        if "expected_on" in form.changed_data and obj.expected_on:
            new_date = obj.expected_on
            obj.expected_on = form.initial.get("expected_on")
            PurchaseOrder.objects.filter(pk=obj.pk).update(note=obj.note)
            purchasing.purchase_order_reschedule(
                purchase_order=obj, expected_on=new_date, user=request.user
            )
        else:
            PurchaseOrder.objects.filter(pk=obj.pk).update(note=obj.note)

    # Actions on the list: each PO checked for its client's supervisor role.
    def _bulk(self, request, queryset, name):
        label, service, perm = PO_ACTIONS[name]
        done, refused = 0, []
        if not request.user.has_perm(perm):
            raise PermissionDenied
        for po in queryset.order_by("pk"):
            if not is_supervisor_for(request.user, po.client_id):
                refused.append(f"{po}: only a supervisor of {po.client.code} may do this.")
                continue
            try:
                service(purchase_order=po, user=request.user)
                done += 1
            except InventoryError as exc:
                refused.append(str(exc))
        if done:
            self.message_user(request, f"{label}: {done} purchase order(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.ERROR)

    @admin.action(description="Approve selected purchase orders", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, "approve")

    @admin.action(description="Send selected purchase orders to suppliers", permissions=["send"])
    def send_selected(self, request, queryset):
        self._bulk(request, queryset, "send")

    @admin.action(description="Cancel selected purchase orders", permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel")

    def has_approve_permission(self, request):
        return request.user.has_perm("inventory.approve_purchaseorder")

    def has_send_permission(self, request):
        return request.user.has_perm("inventory.send_purchaseorder")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/do/<str:name>/", view(self.do_view), name="inventory_purchaseorder_do"),
            path(
                "<int:pk>/receive/", view(self.receive_view), name="inventory_purchaseorder_receive"
            ),
            path("<int:pk>/pdf/", view(self.pdf_view), name="inventory_purchaseorder_pdf"),
            *super().get_urls(),
        ]

    def _po(self, request, pk) -> PurchaseOrder:
        return get_object_or_404(
            scope_queryset(
                PurchaseOrder.objects.select_related("client", "supplier", "warehouse"),
                request.user,
            ),
            pk=pk,
        )

    def do_view(self, request, pk, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        po = self._po(request, pk)
        if name not in PO_ACTIONS:
            raise Http404("No such action.")
        _label, service, perm = PO_ACTIONS[name]
        if not request.user.has_perm(perm) or not is_supervisor_for(request.user, po.client_id):
            self.message_user(
                request, f"Only a supervisor of {po.client.code} may do this.", messages.ERROR
            )
        else:
            try:
                po = service(purchase_order=po, user=request.user)
            except InventoryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"{po}: {po.get_status_display().lower()}.", messages.SUCCESS
                )
        return HttpResponseRedirect(reverse("admin:inventory_purchaseorder_change", args=[po.pk]))

    def receive_view(self, request, pk):
        po = self._po(request, pk)
        if not request.user.has_perm("inventory.receive_purchaseorder") or not is_supervisor_for(
            request.user, po.client_id
        ):
            raise PermissionDenied
        change_url = reverse("admin:inventory_purchaseorder_change", args=[po.pk])
        form = ReceivePurchaseOrderForm(
            request.POST if request.POST.get("kind") == "form" else None, purchase_order=po
        )
        upload = DeliveryNoteForm(
            request.POST if request.POST.get("kind") == "file" else None,
            request.FILES if request.POST.get("kind") == "file" else None,
        )
        if request.method == "POST":
            try:
                if request.POST.get("kind") == "file" and upload.is_valid():
                    data = upload.cleaned_data["file"].read(purchasing.DELIVERY_NOTE_MAX_BYTES + 1)
                    po = purchasing.purchase_order_receive_delivery_note(
                        purchase_order=po, data=data, user=request.user
                    )
                elif request.POST.get("kind") == "form" and form.is_valid():
                    po = purchasing.purchase_order_receive(
                        purchase_order=po,
                        quantities=form.quantities(),
                        user=request.user,
                        reference=form.cleaned_data["reference"],
                    )
                else:
                    po = None
            except InventoryError as exc:
                target = upload if request.POST.get("kind") == "file" else form
                for text in str(exc).split(". "):
                    target.add_error(None, text if text.endswith(".") else text + ".")
            else:
                if po is not None:
                    self.message_user(
                        request, f"{po}: {po.get_status_display().lower()}.", messages.SUCCESS
                    )
                    return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Receive {po}",
            "po": po,
            "form": form,
            "upload": upload,
            "opts": self.model._meta,
            "change_url": change_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/inventory/purchaseorder/receive.html", context)

    def pdf_view(self, request, pk):
        po = self._po(request, pk)
        if not po.pdf:
            raise Http404("This purchase order has not been sent yet.")
        return FileResponse(
            po.pdf.open("rb"), content_type="application/pdf", filename=f"{po.number}.pdf"
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        po = self.get_object(request, object_id)
        supervisor = is_supervisor_for(request.user, po.client_id)
        buttons = []
        if supervisor:
            for name, (label, _service, perm) in PO_ACTIONS.items():
                target = {"approve": S.APPROVED, "send": S.SENT, "cancel": S.CANCELLED}[name]
                if target in purchasing.TRANSITIONS[po.status] and request.user.has_perm(perm):
                    buttons.append((name, label))
        extra = {
            "po": po,
            "buttons": buttons,
            "can_receive": supervisor
            and po.status in (S.SENT, S.PARTIALLY_RECEIVED)
            and request.user.has_perm("inventory.receive_purchaseorder"),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


def _runs_visible_to(user):
    """Runs of all clients (the schedule) and runs for any of the user's clients."""
    runs = ReplenishmentRun.objects.all()
    ids = client_ids_for(user)
    if ids is None:
        return runs
    return runs.filter(
        pk__in=[
            pk
            for pk, client_ids in runs.order_by("-id").values_list("pk", "client_ids")[:500]
            if not client_ids or set(client_ids) & ids
        ]
    )


@admin.register(ReplenishmentRun)
class ReplenishmentRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "started_at",
        "trigger",
        "status",
        "duration_ms",
        "rules_evaluated",
        "suggestions",
        "pos_created",
        "pos_updated",
        "pos_auto_approved",
        "lines_written",
        "short_errors",
    )
    list_filter = ("status", "trigger")

    def get_queryset(self, request):
        return _runs_visible_to(request.user)

    @admin.display(description="errors")
    def short_errors(self, obj):
        return obj.errors[:80]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
