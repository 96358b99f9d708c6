from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.utils.html import format_html

from clients.scoping import ClientScopedAdmin, client_ids_for
from orders import services
from orders.exceptions import OrderError
from orders.models import Customer, Order, OrderEvent, OrderLine

User = get_user_model()


@admin.register(Customer)
class CustomerAdmin(ClientScopedAdmin):
    list_display = ("name", "email", "tier", "client", "external_id")
    list_filter = ("tier", "client")
    list_select_related = ("client",)
    search_fields = ("name", "^email", "=external_id")

    def has_delete_permission(self, request, obj=None):
        return False


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = (
        "line_no",
        "product",
        "quantity",
        "unit_price",
        "qty_allocated",
        "qty_backordered",
        "qty_shipped",
        "qty_cancelled",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product")


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "message", "user")
    readonly_fields = fields
    ordering = ("-id",)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


SEGMENT_COLOURS = {
    "urgent": "#b00020",
    "at_risk": "#e67e00",
    "standard": "#2e7d32",
    "backordered": "#6a1b9a",
    "on_hold": "#546e7a",
    "closed": "#9e9e9e",
}


def _report(modeladmin, request, done: list[str], failed: list[str], verb: str) -> None:
    if done:
        modeladmin.message_user(
            request, f"{verb}: {len(done)} order(s) – {', '.join(done[:20])}", messages.SUCCESS
        )
    for text in failed:
        modeladmin.message_user(request, text, messages.ERROR)


@admin.register(Order)
class OrderAdmin(ClientScopedAdmin):
    list_display = (
        "number",
        "client",
        "customer",
        "status",
        "segment_badge",
        "priority_score",
        "ship_by",
        "service_level",
        "assigned_to",
    )
    list_filter = ("segment", "status", "service_level", "expedite", "client")
    list_select_related = ("client", "customer", "assigned_to")
    search_fields = ("=number", "customer__name", "=customer__email")
    raw_id_fields = ("customer",)
    inlines = (OrderLineInline, OrderEventInline)
    actions = (
        "assign_to_me",
        "expedite",
        "release",
        "reallocate",
        "move_to_picking",
        "move_to_packed",
    )
    readonly_fields = (
        "client",
        "number",
        "customer",
        "source",
        "placed_at",
        "service_level",
        "ship_by",
        "payment_status",
        "currency",
        "subtotal",
        "shipping_total",
        "tax_total",
        "total",
        "status",
        "segment",
        "priority_score",
        "priority_breakdown",
        "expedite",
        "hold_reason",
        "hold_from_status",
        "assigned_to",
        "created_at",
        "updated_at",
    )

    @admin.display(description="segment", ordering="segment")
    def segment_badge(self, obj):
        return format_html(
            '<span class="segment-badge" style="background:{};color:#fff;padding:1px 6px;'
            'border-radius:8px">{}</span>',
            SEGMENT_COLOURS.get(obj.segment, "#777"),
            obj.get_segment_display(),
        )

    def has_add_permission(self, request):
        return False  # orders are keyed in or imported through the order services

    def has_delete_permission(self, request, obj=None):
        return False  # nobody deletes orders: cancel them

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assigned_to":
            ids = client_ids_for(request.user)
            qs = User.objects.filter(is_active=True)
            if ids is not None:
                qs = qs.filter(memberships__client_id__in=ids).distinct()
            kwargs["queryset"] = qs
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _each(self, request, queryset, verb: str, call) -> None:
        done, failed = [], []
        for order in queryset.select_related("client", "customer"):
            try:
                call(order)
                done.append(order.number)
            except OrderError as exc:
                failed.append(str(exc))
        _report(self, request, done, failed, verb)

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        self._each(
            request,
            queryset,
            "Assigned to you",
            lambda o: services.order_assign(order=o, agent=request.user, user=request.user),
        )

    @admin.action(description="Expedite", permissions=["change"])
    def expedite(self, request, queryset):
        self._each(
            request,
            queryset,
            "Expedited",
            lambda o: services.order_expedite(order=o, user=request.user),
        )

    @admin.action(description="Release from hold", permissions=["change"])
    def release(self, request, queryset):
        self._each(
            request,
            queryset,
            "Released",
            lambda o: services.order_release(order=o, user=request.user),
        )

    @admin.action(description="Re-run allocation", permissions=["change"])
    def reallocate(self, request, queryset):
        self._each(
            request,
            queryset,
            "Allocation re-run",
            lambda o: services.order_reallocate(order=o, user=request.user),
        )

    @admin.action(description="Move to picking", permissions=["change"])
    def move_to_picking(self, request, queryset):
        self._each(
            request,
            queryset,
            "Moved to picking",
            lambda o: services.order_move(order=o, to_status="picking", user=request.user),
        )

    @admin.action(description="Move to packed", permissions=["change"])
    def move_to_packed(self, request, queryset):
        self._each(
            request,
            queryset,
            "Moved to packed",
            lambda o: services.order_move(order=o, to_status="packed", user=request.user),
        )
