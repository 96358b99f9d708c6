"""Shipments in the admin: the shipment list (late, open, delivered, problems), the "Ship…"
page for one or many orders, and packing slips."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import ClientListFilter, ClientScopedAdmin, scope_queryset
from core.paginator import BoundedCountPaginator
from fulfillment import selectors, services
from fulfillment.admin_common import (
    DOMAIN_ERRORS,
    packing_slips_response,
    parse_ids,
    tracking_link,
)
from fulfillment.forms import ShipOrderForm
from fulfillment.models import (
    CarrierService,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    TrackingStatus,
)
from inventory.models import Warehouse
from orders.models import Order


# -- shipments ----------------------------------------------------------------------------------
class LateFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return (
            ("late", "Late (past ETA, not delivered)"),
            ("open", "Not delivered yet"),
            ("delivered", "Delivered"),
            ("problem", "Exception or returned"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "late":
            return queryset.late()
        if value == "open":
            return queryset.filter(delivered_at__isnull=True)
        if value == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        if value == "problem":
            return queryset.filter(status__in=[TrackingStatus.EXCEPTION, TrackingStatus.RETURNED])
        return queryset


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    extra = 0
    fields = ("order_line", "sku", "warehouse", "quantity")
    readonly_fields = fields
    can_delete = False

    @admin.display(description="SKU")
    def sku(self, obj):
        return obj.order_line.product.sku

    @admin.display(description="warehouse")
    def warehouse(self, obj):
        return obj.stock_level.warehouse.code

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("order_line__product", "stock_level__warehouse")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    extra = 0
    fields = ("occurred_at", "status", "location", "description", "source", "received_at")
    readonly_fields = fields
    can_delete = False
    ordering = ("-occurred_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(ClientScopedAdmin):
    list_display = (
        "tracking_number",
        "track_link",
        "order_link",
        "client_code",
        "service_display",
        "status",
        "shipped_display",
        "eta_display",
    )
    list_display_links = ("tracking_number",)
    list_filter = (LateFilter, "status", "carrier", ClientListFilter)
    list_select_related = ("client", "order", "carrier", "service")
    search_fields = ("=tracking_number",)
    search_help_text = "Exact tracking number or order number."
    ordering = ("-shipped_at", "-id")
    paginator = BoundedCountPaginator
    inlines = [ShipmentLineInline, TrackingEventInline]
    fields = (
        ("order_link", "client"),
        ("carrier", "service", "warehouse"),
        ("tracking_display", "status"),
        ("shipped_at", "eta", "late_display"),
        ("delivered_at", "last_event_at"),
        "created_by",
    )
    readonly_fields = (
        "order_link",
        "client",
        "carrier",
        "service",
        "warehouse",
        "tracking_display",
        "status",
        "shipped_at",
        "eta",
        "late_display",
        "delivered_at",
        "last_event_at",
        "created_by",
    )

    @admin.display(description="tracking number", ordering="tracking_number")
    def tracking_display(self, obj):
        return tracking_link(obj)

    @admin.display(description="carrier page")
    def track_link(self, obj):
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">track ↗</a>', obj.tracking_url
        )

    @admin.display(description="shipped", ordering="shipped_at")
    def shipped_display(self, obj):
        return timezone.localtime(obj.shipped_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="client", ordering="client__code")
    def client_code(self, obj):
        return obj.client.code

    @admin.display(description="carrier / service", ordering="carrier__code")
    def service_display(self, obj):
        return f"{obj.carrier.code} {obj.service.name}"

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description="ETA", ordering="eta")
    def eta_display(self, obj):
        late = self.late_display(obj)
        if late == "–":
            return obj.eta.isoformat()
        return format_html("{} {}", obj.eta.isoformat(), late)

    @admin.display(description="late")
    def late_display(self, obj):
        if obj.is_late():
            days = (timezone.localdate() - obj.eta).days
            return format_html('<span class="bpo-overdue">late {} d</span>', days)
        if obj.delivered_late:
            return "delivered late"
        return "–"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        orders = scope_queryset(Order.objects.filter(number=term), request.user)
        return queryset.filter(tracking_number=term) | queryset.filter(
            order_id__in=orders.values("pk")
        ), False

    def has_add_permission(self, request):
        return False  # shipments are made from orders (the Ship… action)

    def has_change_permission(self, request, obj=None):
        return False  # what the carrier reports changes them, not editing

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("ship/", view(self.ship_view), name="fulfillment_shipment_ship"),
            path(
                "packing-slips.pdf",
                view(self.packing_slips_view),
                name="fulfillment_shipment_packing_slips",
            ),
            *super().get_urls(),
        ]

    def packing_slips_view(self, request):
        if not request.user.has_perm("fulfillment.view_shipment"):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids"))
        name = "packing-slips" if len(ids) != 1 else f"packing-slip-{ids[0]}"
        return packing_slips_response(request, ids, name)

    def _ship_forms(self, request, orders: list[Order], data=None) -> list[ShipOrderForm]:
        catalog = selectors.ServiceCatalog.load()
        warehouses = Warehouse.objects.in_bulk()
        single = len(orders) == 1
        forms = []
        for order in orders:
            held = selectors.allocated_by_warehouse(order)
            lines = selectors.lines_to_ship(order) if single else None
            forms.append(
                ShipOrderForm(
                    data,
                    order=order,
                    options=catalog.options(order, include_all=True),
                    held=held,
                    warehouses=warehouses,
                    lines=lines,
                )
            )
        return forms

    def ship_view(self, request):
        """Ship one or many orders: a carrier service (the suggestion preselected) and a
        tracking number per order; one order also gets per-line quantities (partial)."""
        if not request.user.has_perm("fulfillment.add_shipment"):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids"))
        visible = scope_queryset(Order.objects.filter(pk__in=ids), request.user)
        orders = sorted(visible.select_related("client", "customer"), key=lambda o: ids.index(o.pk))
        shippable, skipped = selectors.orders_split_shippable(orders)
        if not orders:
            raise Http404("No such order.")
        forms = self._ship_forms(request, shippable, request.POST or None)
        if request.method == "POST":
            shipped, failed = [], []
            for form in forms:
                if not form.is_valid():
                    failed.append(form)
                    continue
                number = form.cleaned_data["tracking_number"].strip()
                if not number:
                    continue  # left empty: not shipped now
                service = CarrierService.objects.select_related("carrier").get(
                    pk=form.cleaned_data["service"]
                )
                warehouse_id = form.cleaned_data.get("warehouse")
                try:
                    shipment = services.shipment_create(
                        order=form.order,
                        service=service,
                        tracking_number=number,
                        quantities=form.quantities(),
                        warehouse=Warehouse.objects.get(pk=warehouse_id) if warehouse_id else None,
                        user=request.user,
                    )
                except DOMAIN_ERRORS as exc:
                    form.add_error(None, str(exc))
                    failed.append(form)
                else:
                    shipped.append(shipment)
            for shipment in shipped:
                shipment.order.refresh_from_db()
                self.message_user(
                    request,
                    format_html(
                        "Order {} shipped with {} {} (order is now {}).",
                        shipment.order.number,
                        shipment.carrier.code,
                        tracking_link(shipment),
                        shipment.order.get_status_display(),
                    ),
                    messages.SUCCESS,
                )
            if not failed and shipped:
                if len(orders) == 1:
                    return HttpResponseRedirect(
                        reverse("admin:orders_order_change", args=[orders[0].pk])
                    )
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_changelist"))
            if not failed and not shipped:
                self.message_user(request, "Enter a tracking number to ship.", messages.WARNING)
            if failed:
                forms = failed  # only the orders that did not ship, with their errors
        context = {
            **self.admin_site.each_context(request),
            "title": "Ship order" if len(orders) == 1 else f"Ship {len(shippable)} orders",
            "opts": self.model._meta,
            "forms": forms,
            "skipped": skipped,
            "single": len(orders) == 1,
            "back_url": (
                reverse("admin:orders_order_change", args=[orders[0].pk])
                if len(orders) == 1
                else reverse("admin:orders_order_changelist")
            ),
        }
        return TemplateResponse(request, "admin/fulfillment/shipment/ship.html", context)
