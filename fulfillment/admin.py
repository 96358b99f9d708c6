"""Fulfillment in the admin, one module per job (each registers its pages when imported here):

- this module: carriers and their services, service-level rules (shared configuration);
- ``admin_waves``: pick waves (create, pick list, packing slips, confirm packed);
- ``admin_shipments``: shipments and the "Ship…" page;
- ``admin_tracking``: tracking events and the carrier status-file upload;
- ``admin_order_actions``: fulfillment's actions on the order changelist and order page;
- ``admin_common``: what the pages share.

Thin: pages collect input and call ``fulfillment.services``; what is shippable, which waves or
shipments a page acts on, are ``fulfillment.selectors``; scoping is the shared
``ClientScopedAdmin``. The order pages get their pick/pack/ship actions through
``orders.admin_actions.register_order_action`` (orders never imports this app).
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse

from fulfillment import (  # noqa: F401 (importing registers their admin pages)
    admin_order_actions,
    admin_shipments,
    admin_tracking,
    admin_waves,
)
from fulfillment.models import Carrier, CarrierService, ServiceLevelRule


# -- carriers -----------------------------------------------------------------------------------
class CarrierServiceInline(admin.TabularInline):
    model = CarrierService
    extra = 0
    fields = ("code", "name", "transit_days", "price", "active")


@admin.register(Carrier)
class CarrierAdmin(admin.ModelAdmin):
    """Carriers are shared configuration: supervisors and admins (model permissions) only."""

    list_display = ("name", "code", "active", "services_display", "webhook_url")
    list_filter = ("active",)
    search_fields = ("=code", "name")
    inlines = [CarrierServiceInline]
    readonly_fields = ("webhook_url",)
    fields = ("name", "code", "tracking_url_template", "active", "webhook_secret", "webhook_url")

    @admin.display(description="services")
    def services_display(self, obj):
        return ", ".join(s.code for s in obj.services.all()) or "–"

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        if not obj.pk:
            return "–"
        return reverse("fulfillment:carrier_webhook", args=[obj.code])

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("services")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("code")  # the code is in the carrier's webhook URL
        return fields

    def has_delete_permission(self, request, obj=None):
        return False  # shipments refer to it: deactivate instead


@admin.register(ServiceLevelRule)
class ServiceLevelRuleAdmin(admin.ModelAdmin):
    list_display = ("service_level", "deliver_within_days", "services_display")
    filter_horizontal = ("services",)

    @admin.display(description="acceptable services")
    def services_display(self, obj):
        return ", ".join(str(s) for s in obj.services.select_related("carrier")) or "any"
