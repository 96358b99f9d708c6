"""Admin for reorder rules, the replenishment page (what to order, why) and the runs.
Thin: every change goes through a service.

Scoping by ``clients.scoping``; agents read, and changes need the supervisor role **for the
row's client** (``is_supervisor_for``), checked per object.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    client_ids_for,
    scope_queryset,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from inventory.admin_common import SupervisorEditsMixin
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    ReorderRule,
    ReplenishmentRun,
)
from inventory.selectors import (
    late_purchase_orders,
)


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
