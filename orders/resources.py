"""Export of the order list (django-import-export), safe to open in a spreadsheet."""

from __future__ import annotations

from import_export import fields, resources

from orders.models import Order

# A cell starting with one of these is run as a formula by Excel/LibreOffice/Sheets
# (CSV/formula injection). django-import-export does not neutralise them by default.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeExportResource(resources.ModelResource):
    def export_field(self, field, instance, **kwargs):
        return neutralise_formula(super().export_field(field, instance, **kwargs))


class OrderExportResource(SafeExportResource):
    client = fields.Field(attribute="client__code", column_name="client")
    customer_name = fields.Field(attribute="customer__name", column_name="customer_name")
    customer_email = fields.Field(attribute="customer__email", column_name="customer_email")
    assigned_to = fields.Field(attribute="assigned_to__username", column_name="assigned_to")

    class Meta:
        model = Order
        fields = (
            "number",
            "client",
            "customer_name",
            "customer_email",
            "status",
            "segment",
            "priority_score",
            "placed_at",
            "ship_by",
            "service_level",
            "payment_status",
            "currency",
            "total",
            "assigned_to",
            "expedite",
            "hold_reason",
            "delay_reason",
            "ship_to_name",
            "ship_to_city",
            "ship_to_postcode",
            "ship_to_country",
        )
        export_order = fields

    def get_queryset(self):
        return super().get_queryset().select_related("client", "customer", "assigned_to")
