from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    is_supervisor_for,
)
from core.paginator import BoundedCountPaginator
from inventory import services
from inventory.admin_common import SupervisorEditsMixin
from inventory.exceptions import InventoryError
from inventory.forms import AdjustStockForm, ReceiveStockForm
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from inventory.signals import product_page_panels


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "active")
    list_filter = ("active",)
    search_fields = ("=code", "name")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(SupervisorEditsMixin, ClientScopedAdmin):
    """Products: agents read; a client's supervisors edit its catalogue (the role is per
    client: an agent of ACME who supervises KIWI may edit KIWI's catalogue, not ACME's)."""

    change_form_template = "admin/inventory/product/change_form.html"
    list_display = ("sku", "name", "client", "unit_cost", "active")
    list_filter = ("active", ClientListFilter)
    list_select_related = ("client",)
    search_fields = ("^sku", "name")
    paginator = BoundedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return ("client",) if obj else ()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        product = self.get_object(request, object_id)
        levels = list(product.stock_levels.select_related("warehouse").order_by("warehouse__code"))
        panels = []
        # Higher apps (orders) add "who is waiting for this product" without us importing them.
        for _receiver, panel in product_page_panels.send(sender=Product, product=product):
            if panel:
                panels.append(panel)
        extra = {
            "product": product,
            "levels": levels,
            "panels": panels,
            "ledger_url": reverse("admin:inventory_stockmovement_changelist")
            + f"?product__id__exact={product.pk}",
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


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
    change_list_template = "admin/inventory/stocklevel/change_list.html"
    list_display = (
        "product",
        "warehouse",
        "on_hand",
        "allocated",
        "available_display",
        "backordered",
        "on_order",
        "projected_display",
    )
    list_filter = (ShortFilter, "warehouse", ClientListFilter)
    list_select_related = ("product", "warehouse")
    search_fields = ("^product__sku", "product__name")
    raw_id_fields = ("product",)
    readonly_fields = ("product", "warehouse", "on_hand", "allocated", "backordered", "on_order")
    paginator = BoundedCountPaginator

    @admin.display(description="available")
    def available_display(self, obj):
        return obj.available

    @admin.display(description="projected")
    def projected_display(self, obj):
        return obj.projected

    def has_add_permission(self, request):
        return False  # levels appear with the first receipt; quantities change via services

    def has_change_permission(self, request, obj=None):
        return False  # quantities change only through receive/adjust/transfer

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path(
                "receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_stocklevel_receive",
            ),
            path(
                "adjust/",
                self.admin_site.admin_view(self.adjust_view),
                name="inventory_stocklevel_adjust",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_receive": request.user.has_perm("inventory.receive_stock"),
            "can_adjust": request.user.has_perm("inventory.adjust_stock"),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def _stock_form_view(self, request, *, perm: str, form_class, title: str, apply):
        if not request.user.has_perm(perm):
            raise PermissionDenied
        initial = {k: request.GET[k] for k in ("product", "warehouse") if k in request.GET}
        form = form_class(request.POST or None, user=request.user, initial=initial)
        if request.method == "POST" and form.is_valid():
            product = form.cleaned_data["product"]
            if not is_supervisor_for(request.user, product.client_id):
                form.add_error("product", "Only a supervisor of this client may change its stock.")
            else:
                try:
                    message = apply(form.cleaned_data, request.user)
                except InventoryError as exc:
                    form.add_error(None, str(exc))
                else:
                    self.message_user(request, message, messages.SUCCESS)
                    url = reverse("admin:inventory_stocklevel_changelist")
                    return HttpResponseRedirect(f"{url}?q={product.sku}")
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "opts": self.model._meta,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/inventory/stock_form.html", context)

    def receive_view(self, request):
        def apply(data, user):
            level = services.stock_receive(
                product=data["product"],
                warehouse=data["warehouse"],
                quantity=data["quantity"],
                reference=data["reference"],
                user=user,
            )
            return (
                f"Received {data['quantity']} × {data['product'].sku} at "
                f"{data['warehouse'].code}: on hand {level.on_hand}, allocated {level.allocated}, "
                f"still backordered {level.backordered}."
            )

        return self._stock_form_view(
            request,
            perm="inventory.receive_stock",
            form_class=ReceiveStockForm,
            title="Receive stock",
            apply=apply,
        )

    def adjust_view(self, request):
        def apply(data, user):
            level = services.stock_adjust(
                product=data["product"],
                warehouse=data["warehouse"],
                delta=data["delta"],
                reason=data["reason"],
                user=user,
            )
            return (
                f"Adjusted {data['product'].sku} at {data['warehouse'].code} by "
                f"{data['delta']:+d}: on hand {level.on_hand}."
            )

        return self._stock_form_view(
            request,
            perm="inventory.adjust_stock",
            form_class=AdjustStockForm,
            title="Adjust stock",
            apply=apply,
        )


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
    list_filter = (
        "kind",
        "warehouse",
        ("created_at", admin.DateFieldListFilter),
        ClientListFilter,
    )
    list_select_related = ("product", "warehouse", "user")
    search_fields = ("^product__sku", "reference")
    paginator = BoundedCountPaginator

    def lookup_allowed(self, lookup, value, request=None):
        if lookup == "product__id__exact":
            return True
        return super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # the ledger is append-only

    def has_delete_permission(self, request, obj=None):
        return False


from inventory import (  # noqa: E402, F401 - importing registers their admin pages
    admin_purchase_orders,
    admin_replenishment,
    admin_suppliers,
)
