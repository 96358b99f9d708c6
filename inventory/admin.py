from django.contrib import admin
from django.db.models import F

from clients.scoping import ClientListFilter, ClientScopedAdmin
from inventory.models import Product, StockLevel, StockMovement, Warehouse


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "active")
    list_filter = ("active",)
    search_fields = ("=code", "name")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(ClientScopedAdmin):
    list_display = ("sku", "name", "client", "unit_cost", "active")
    list_filter = ("active", ClientListFilter)
    list_select_related = ("client",)
    search_fields = ("^sku", "name")
    autocomplete_fields = ()

    def get_readonly_fields(self, request, obj=None):
        return ("client",) if obj else ()

    def has_delete_permission(self, request, obj=None):
        return False


class ShortFilter(admin.SimpleListFilter):
    title = "stock situation"
    parameter_name = "situation"

    def lookups(self, request, model_admin):
        return (("short", "Short (backordered)"), ("available", "Has available stock"))

    def queryset(self, request, queryset):
        if self.value() == "short":
            return queryset.filter(backordered__gt=0)
        if self.value() == "available":
            return queryset.filter(on_hand__gt=F("allocated"))
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(ClientScopedAdmin):
    list_display = (
        "product",
        "warehouse",
        "on_hand",
        "allocated",
        "available_display",
        "backordered",
        "on_order",
    )
    list_filter = (ShortFilter, "warehouse", ClientListFilter)
    list_select_related = ("product", "warehouse")
    search_fields = ("^product__sku", "product__name")
    raw_id_fields = ("product",)
    readonly_fields = ("on_hand", "allocated", "backordered", "on_order")

    @admin.display(description="available")
    def available_display(self, obj):
        return obj.available

    def has_add_permission(self, request):
        return False  # levels appear with the first receipt; quantities change via services

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StockMovement)
class StockMovementAdmin(ClientScopedAdmin):
    list_display = (
        "created_at",
        "product",
        "warehouse",
        "kind",
        "quantity",
        "balance_after",
        "reference",
        "reason",
        "user",
    )
    list_filter = ("kind", "warehouse", ("created_at", admin.DateFieldListFilter), ClientListFilter)
    list_select_related = ("product", "warehouse", "user")
    search_fields = ("^product__sku", "reference")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the ledger is append-only

    def has_delete_permission(self, request, obj=None):
        return False
