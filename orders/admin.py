"""The order admin is the agent's workstation: the queue, take-next, bulk actions, the page.

One module per job: this one registers customers and orders (queue columns, search, actions,
the order page); ``admin_queue`` holds the work-queue filters and the action form,
``admin_display`` the badge and due-time helpers, ``admin_imports`` the import pages
(registered when imported here). Every write goes through ``orders.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    client_ids_for,
    is_supervisor_for,
)
from core import dates as core_dates
from core.paginator import BoundedCountPaginator
from orders import (
    admin_entry,
    admin_home,  # noqa: F401 (importing connects the home page panels)
    admin_imports,  # noqa: F401 (importing registers the import pages)
    selectors,
    services,
)
from orders.admin_actions import ORDER_ACTIONS, OrderAction
from orders.admin_display import due_text, duration_text, segment_badge
from orders.admin_exports import OrderExportViews
from orders.admin_queue import (
    ActionForm,
    ImportJobFilter,
    OrderChangeList,
    WorkQueueFilter,
    agents_for_clients,
)
from orders.exceptions import OrderError
from orders.models import Customer, Order
from orders.signals import order_page_panels

User = get_user_model()


@admin.register(Customer)
class CustomerAdmin(ClientScopedAdmin):
    list_display = ("name", "email", "tier", "client", "external_id", "notifications_opt_out")
    list_filter = ("tier", "notifications_opt_out", ClientListFilter)
    list_select_related = ("client",)
    search_fields = ("name", "^email", "=external_id")
    paginator = BoundedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        fields = ("client",) if obj else ()
        # Credit limit and terms are the supervisor's call, per client.
        from clients.scoping import is_supervisor_for, supervised_client_ids

        allowed = (
            is_supervisor_for(request.user, obj.client_id)
            if obj
            else supervised_client_ids(request.user) != frozenset()
        )
        return fields if allowed else (*fields, "credit_limit", "payment_terms_days")

    def has_delete_permission(self, request, obj=None):
        return False


class OrderChangeForm(forms.ModelForm):
    note = forms.CharField(
        label="Add a note",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="Saved on the order's timeline with your name.",
    )

    class Meta:
        model = Order
        fields = ["assigned_to"]


@admin.register(Order)
class OrderAdmin(OrderExportViews, ClientScopedAdmin):
    change_list_template = "admin/orders/order/change_list.html"
    change_form_template = "admin/orders/order/change_form.html"
    paginator = BoundedCountPaginator
    list_per_page = 50
    list_display = (
        "number",
        "client_code",
        "customer",
        "status",
        "segment_display",
        "priority_score",
        "due_display",
        "service_level",
        "units_display",
        "assigned_to",
        "age_display",
    )
    list_display_links = ("number",)
    list_filter = (
        WorkQueueFilter,
        ClientListFilter,
        "status",
        "hold_type",
        "service_level",
        ("customer__tier", admin.ChoicesFieldListFilter),
        "hold_type",
        ImportJobFilter,
    )
    list_select_related = ("client", "customer", "assigned_to")
    ordering = ("-priority_score", "id")
    search_fields = ("=number",)  # the real search is get_search_results below
    search_help_text = (
        "Order number (with or without prefix or #), SKU or product name, customer name, "
        "e-mail or phone."
    )
    autocomplete_fields = ("customer",)
    form = OrderChangeForm
    fieldsets = (
        ("Work on this order", {"fields": ("assigned_to", "note")}),
        (
            "Order",
            {
                "fields": (
                    ("client", "number", "source"),
                    ("placed_at", "ship_by", "service_level"),
                    ("payment_status", "currency", "total"),
                    ("hold_type", "hold_reason", "amount_paid"),
                    ("subtotal", "shipping_total", "tax_total"),
                    ("customer_link",),
                )
            },
        ),
        (
            "Ship to",
            {
                "fields": (
                    ("ship_to_name", "ship_to_phone"),
                    ("ship_to_address1", "ship_to_address2"),
                    ("ship_to_postcode", "ship_to_city", "ship_to_region", "ship_to_country"),
                    "delivery_notes",
                )
            },
        ),
    )
    readonly_fields = (
        "client",
        "number",
        "source",
        "placed_at",
        "ship_by",
        "service_level",
        "payment_status",
        "hold_type",
        "hold_reason",
        "amount_paid",
        "currency",
        "total",
        "subtotal",
        "shipping_total",
        "tax_total",
        "customer_link",
        "ship_to_name",
        "ship_to_phone",
        "ship_to_address1",
        "ship_to_address2",
        "ship_to_postcode",
        "ship_to_city",
        "ship_to_region",
        "ship_to_country",
        "delivery_notes",
    )
    actions = []  # built from ORDER_ACTIONS in get_actions

    # -- queue columns -------------------------------------------------------------------------
    def action_checkbox(self, obj):
        """ModelAdmin.action_checkbox's exact HTML, without rendering a widget template per row
        (a tenth of the queue page's time at 50 rows)."""
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    @admin.display(description="client", ordering="client__code")
    def client_code(self, obj):
        return obj.client.code

    @admin.display(description="segment", ordering="segment")
    def segment_display(self, obj):
        return segment_badge(obj)

    @admin.display(description="due", ordering="ship_by")
    def due_display(self, obj):
        return due_text(obj)

    @admin.display(description="units alloc / back")
    def units_display(self, obj):
        allocated = getattr(obj, "units_allocated", None)
        backordered = getattr(obj, "units_backordered", None)
        if allocated is None:
            return "–"
        if backordered:
            return format_html(
                "{} / <strong class='bpo-overdue'>{}</strong>", allocated, backordered
            )
        return f"{allocated} / 0"

    @admin.display(description="age", ordering="placed_at")
    def age_display(self, obj):
        return duration_text((timezone.now() - obj.placed_at).total_seconds() / 3600)

    @admin.display(description="customer")
    def customer_link(self, obj):
        if not obj.customer_id:
            return "–"
        url = reverse("admin:orders_customer_change", args=[obj.customer_id])
        orders_url = (
            reverse("admin:orders_order_changelist")
            + f"?customer__id__exact={obj.customer_id}&queue=all"
        )
        return format_html(
            '<a href="{}">{}</a> ({}) · <a href="{}">all orders of this customer</a>',
            url,
            obj.customer,
            obj.customer.get_tier_display(),
            orders_url,
        )

    # -- queue plumbing ------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        extra = {"can_take_next": self.has_change_permission(request)}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_changelist(self, request, **kwargs):
        return OrderChangeList

    def lookup_allowed(self, lookup, value, request=None):
        if lookup in {"customer__id__exact", "assigned_to__id__exact", "lines__product__id__exact"}:
            return True
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        """What people type: an order number with or without prefix or '#', a SKU or product
        name, a customer's name, e-mail or phone — case-insensitive, a UNION of indexed parts
        (``selectors.order_ids_matching``), so no DISTINCT over the backlog."""
        term = search_term.strip()
        if not term:
            return queryset, False
        matches = selectors.order_ids_matching(term, client_ids=client_ids_for(request.user))
        return queryset.filter(id__in=matches), False

    def get_urls(self):
        custom = [
            path(
                "take-next/",
                self.admin_site.admin_view(self.take_next_view),
                name="orders_order_take_next",
            ),
            path(
                "entry/products/",
                self.admin_site.admin_view(lambda r: admin_entry.products_json(self, r)),
                name="orders_order_entry_products",
            ),
            path(
                "entry/customers/",
                self.admin_site.admin_view(lambda r: admin_entry.customers_json(self, r)),
                name="orders_order_entry_customers",
            ),
            path(
                "<path:object_id>/do/<str:action>/",
                self.admin_site.admin_view(self.order_action_view),
                name="orders_order_do",
            ),
        ]
        return custom + self.get_export_urls() + super().get_urls()

    # -- permissions ---------------------------------------------------------------------------
    def has_add_permission(self, request):
        # Keyed-in orders: the entry page (admin_entry) for users with add_order and a client.
        return super().has_add_permission(request) and client_ids_for(request.user) != frozenset()

    def add_view(self, request, form_url="", extra_context=None):
        return admin_entry.entry_view(self, request)

    def has_delete_permission(self, request, obj=None):
        return False  # nobody deletes orders: they are cancelled

    def has_cancel_permission(self, request):
        return request.user.has_perm("orders.cancel_order")

    def _may(self, request, action: OrderAction, order: Order | None = None) -> bool:
        if action.permission and not request.user.has_perm(action.permission):
            return False
        if action.supervisor_only:
            if not self.has_cancel_permission(request):
                return False
            if order is not None and not is_supervisor_for(request.user, order.client_id):
                return False
        return self.has_change_permission(request, order)

    def get_actions(self, request):
        actions = super().get_actions(request)
        for name, spec in ORDER_ACTIONS.items():
            if not self._may(request, spec):
                continue

            def run(modeladmin, request, queryset, _name=name):
                return modeladmin._bulk(request, queryset, _name)

            actions[f"action_{name}"] = (run, f"action_{name}", spec.label)
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and "assigned_to" in form.base_fields:
            # The current assignee stays selectable even if they lost access since, so that
            # saving a note never silently unassigns the order.
            form.base_fields["assigned_to"].queryset = (
                User.objects.filter(
                    Q(is_active=True, memberships__client_id=obj.client_id)
                    | Q(pk=obj.assigned_to_id)
                )
                .distinct()
                .order_by("username")
            )
        return form

    def save_model(self, request, obj, form, change):
        # The order row itself is never saved from the form: assignment and notes go through
        # the services, which lock the order and write the timeline.
        try:
            if "assigned_to" in form.changed_data:
                services.order_assign(
                    order=obj, agent=form.cleaned_data["assigned_to"], user=request.user
                )
            note = form.cleaned_data.get("note")
            if note:
                services.order_add_note(order=obj, text=note, user=request.user)
        except OrderError as exc:
            messages.error(request, str(exc))

    def save_related(self, request, form, formsets, change):
        pass

    def log_change(self, request, obj, message):
        pass  # the order's own timeline is its audit trail

    # -- bulk actions --------------------------------------------------------------------------
    def _run(self, request, orders, action: OrderAction, data: dict) -> None:
        done, failed = [], []
        for order in orders:
            if not self._may(request, action, order):
                failed.append(
                    f"{order.number}: you may not {action.label.rstrip('…').lower()} this order."
                )
                continue
            try:
                action.call(order, request.user, data)
                done.append(order.number)
            except OrderError as exc:
                failed.append(f"{order.number}: {exc}")
        if done:
            listed = ", ".join(done[:25]) + (" …" if len(done) > 25 else "")
            self.message_user(
                request, f"{action.verb}: {len(done)} order(s) – {listed}", messages.SUCCESS
            )
        for text in failed[:50]:
            self.message_user(request, text, messages.ERROR)
        if len(failed) > 50:
            self.message_user(
                request, f"… and {len(failed) - 50} more not changed.", messages.ERROR
            )

    def _bulk(self, request, queryset, name: str):
        action = ORDER_ACTIONS[name]
        if action.redirect_to:  # a higher app's page does this step (see admin_actions)
            ids = queryset.order_by("-priority_score", "id").values_list("pk", flat=True)[:500]
            url = reverse(action.redirect_to) + "?ids=" + ",".join(map(str, ids))
            return HttpResponseRedirect(url)
        orders = list(
            queryset.select_related("client", "customer").order_by("-priority_score", "id")[:1000]
        )
        if action.needs_reason or action.needs_agent or action.needs_hold_type:
            agents = agents_for_clients({o.client_id for o in orders})
            form = ActionForm(
                request.POST if "apply" in request.POST else None, action=action, agents=agents
            )
            if not form.is_bound or not form.is_valid():
                context = {
                    **self.admin_site.each_context(request),
                    "title": action.label.rstrip("…"),
                    "warning": action.warning,
                    "orders": orders,
                    "form": form,
                    "action_name": f"action_{name}",
                    "opts": self.model._meta,
                    "selected_ids": [o.pk for o in orders],
                    "select_across": request.POST.get("select_across", "0"),
                }
                return TemplateResponse(request, "admin/orders/order/action_form.html", context)
            self._run(request, orders, action, form.cleaned_data)
            return None
        self._run(request, orders, action, {})
        return None

    # -- take next, single-order actions, the order page ---------------------------------------
    def take_next_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        order = services.order_take_next(user=request.user, client_ids=client_ids_for(request.user))
        if order is None:
            self.message_user(
                request, "Nothing to take: every open order is assigned.", messages.INFO
            )
            return HttpResponseRedirect(reverse("admin:orders_order_changelist"))
        self.message_user(
            request,
            f"Order {order.number} is yours (priority {order.priority_score}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))

    def order_action_view(self, request, object_id, action):
        order = self.get_object(request, object_id)  # 404 for another client's order
        spec = ORDER_ACTIONS.get(action)
        if spec is None:
            raise Http404("No such action.")
        if not self._may(request, spec, order):
            raise PermissionDenied
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        if spec.redirect_to:
            return HttpResponseRedirect(f"{reverse(spec.redirect_to)}?ids={order.pk}")
        agents = agents_for_clients([order.client_id])
        form = ActionForm(request.POST or None, action=spec, agents=agents)
        needs_form = spec.needs_reason or spec.needs_agent or spec.needs_hold_type
        if request.method == "POST" and (not needs_form or form.is_valid()):
            data = form.cleaned_data if needs_form else {}
            self._run(request, [order], spec, data)
            return HttpResponseRedirect(change_url)
        if request.method == "POST" or needs_form:
            context = {
                **self.admin_site.each_context(request),
                "title": f"{spec.label.rstrip('…')}: order {order.number}",
                "warning": spec.warning,
                "orders": [order],
                "form": form,
                "single": True,
                "opts": self.model._meta,
                "change_url": change_url,
            }
            return TemplateResponse(request, "admin/orders/order/action_form.html", context)
        return HttpResponseNotAllowed(["POST"])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        offered = [
            (name, spec)
            for name, spec in ORDER_ACTIONS.items()
            if name != "assign_to_me" and spec.applies(order) and self._may(request, spec, order)
        ]
        superseded = {name for _name, spec in offered for name in spec.supersedes}
        buttons = [
            (
                name,
                spec.label,
                spec.needs_reason
                or spec.needs_agent
                or spec.needs_hold_type
                or bool(spec.redirect_to),
            )
            for name, spec in offered
            if name not in superseded
        ]
        dangerous = {name for name, spec in offered if spec.warning}
        extra = {
            "order": order,
            "segment_badge": segment_badge(order),
            "due_text": due_text(order),
            "breakdown": order.priority_breakdown,
            "lines": selectors.order_lines_with_allocations(order),
            "timeline": selectors.order_timeline(order),
            "buttons": buttons,
            "dangerous": dangerous,
            "show_delete": False,
            # Higher apps (fulfillment: waves, shipments, tracking) add their panels.
            "panels": [
                panel
                for _receiver, panel in order_page_panels.send(
                    sender=Order, order=order, request=request
                )
                if panel
            ],
        }
        # Every time on the order page is in its client's time zone (the header says which).
        with timezone.override(core_dates.zone(order.client.timezone)):
            response = super().change_view(
                request, object_id, form_url, {**extra, **(extra_context or {})}
            )
            if hasattr(response, "render"):
                response.render()
        return response

    def get_object(self, request, object_id, from_field=None):
        cache = request.__dict__.setdefault("_bpo_orders", {})
        if object_id not in cache:
            queryset = self.get_queryset(request).select_related(
                "client", "customer", "assigned_to"
            )
            try:
                cache[object_id] = queryset.get(pk=Order._meta.pk.to_python(object_id))
            except (Order.DoesNotExist, ValidationError, ValueError):
                raise Http404("No such order.") from None
        return cache[object_id]
