from django.contrib import admin

from clients import services
from clients.models import Client, Membership
from clients.scoping import ClientScopedAdmin, is_supervisor_for

PRIORITY_WEIGHT_FIELDS = (
    "weight_due",
    "weight_service",
    "weight_tier",
    "weight_value",
    "weight_age",
    "weight_expedite",
)


@admin.register(Client)
class ClientAdmin(ClientScopedAdmin):
    client_field = "pk"
    list_display = ("code", "name", "timezone", "currency", "active")
    list_filter = ("active",)
    search_fields = ("=code", "name")
    fieldsets = (
        (None, {"fields": ("name", "code", "timezone", "currency", "active")}),
        (
            "Promise to ship",
            {
                "description": "How many hours after an order is placed it is promised to "
                "ship, per service level; this sets each order's ship-by time and its place "
                "in the queue.",
                "fields": (
                    "sla_standard_hours",
                    "sla_expedited_hours",
                    "sla_overnight_hours",
                    "at_risk_hours",
                ),
            },
        ),
        (
            "Priority weights",
            {
                "description": "Each order's priority is the sum of these factors, each worth "
                "up to its weight × 10 points; the order page shows the breakdown. Set a "
                "weight to 0 to ignore that factor. New weights apply at the next re-score "
                "(every 5 minutes).",
                "fields": PRIORITY_WEIGHT_FIELDS,
            },
        ),
    )

    def has_change_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        # Supervisors may tune their own clients' priority weights, nothing else.
        return (
            request.user.has_perm("clients.change_priority_weights")
            and (obj is None or is_supervisor_for(request.user, obj.pk))
            and self._in_scope(request, obj)
        )

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return ()
        editable = set(PRIORITY_WEIGHT_FIELDS)
        return tuple(
            f.name
            for f in Client._meta.concrete_fields
            if f.name not in editable and f.name != "id"
        )

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "client", "role")
    list_filter = ("role", "client")
    search_fields = ("user__username", "user__email", "=client__code")
    autocomplete_fields = ("user", "client")

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_add_permission = has_change_permission = (
        lambda self, request, obj=None: request.user.is_superuser
    )
    has_delete_permission = has_view_permission

    def save_model(self, request, obj, form, change):
        services.membership_set(user=obj.user, client=obj.client, role=obj.role)

    def delete_model(self, request, obj):
        services.membership_remove(membership=obj)
