"""Forms of the fulfillment pages (crispy-forms, bootstrap5 pack); they only collect input."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms

from clients.models import Client
from clients.scoping import scope_queryset
from fulfillment.models import Carrier
from fulfillment.selectors import ServiceOption
from fulfillment.services import MAX_WAVE_SIZE
from inventory.models import Warehouse
from orders.models import Order

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


def _helper() -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    return helper


class WaveCreateForm(forms.Form):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(active=True))
    size = forms.IntegerField(
        label="Orders in the wave",
        min_value=1,
        max_value=MAX_WAVE_SIZE,
        initial=20,
        help_text="The most urgent ready orders of the client in that warehouse are taken.",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        clients = scope_queryset(Client.objects.filter(active=True), user, "pk").order_by("code")
        self.fields["client"].queryset = clients
        if clients.count() == 1:
            self.fields["client"].initial = clients.first()
        self.helper = _helper()


class TrackingUploadForm(forms.Form):
    carrier = forms.ModelChoiceField(queryset=Carrier.objects.filter(active=True))
    file = forms.FileField(
        label="Status file (CSV)",
        help_text="Columns: tracking_number, status, time, location, description "
        "(UTF-8; comma, semicolon or tab separated).",
    )
    check_only = forms.BooleanField(
        label="Only check the file (store nothing)", required=False, initial=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = _helper()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB: split it, or "
                "use `manage.py import_tracking`."
            )
        return upload


class ShipOrderForm(forms.Form):
    """One order on the ship page: service, tracking number, warehouse, (line quantities)."""

    service = forms.TypedChoiceField(coerce=int)
    tracking_number = forms.CharField(
        max_length=64, required=False, widget=forms.TextInput(attrs={"size": 24})
    )
    warehouse = forms.TypedChoiceField(coerce=int, required=False)

    def __init__(
        self,
        *args,
        order: Order,
        options: list[ServiceOption],
        held: dict[int, dict[int, int]],
        warehouses: dict[int, Warehouse],
        lines: list | None = None,
        **kwargs,
    ):
        kwargs.setdefault("prefix", f"o{order.pk}")
        super().__init__(*args, **kwargs)
        self.order = order
        self.options = options
        self.lines = lines or []
        self.fields["service"].choices = [(o.service.pk, o.label) for o in options]
        suggested = next((o for o in options if o.suggested), None)
        if suggested is not None:
            self.fields["service"].initial = suggested.service.pk
        self.suggested = suggested
        self.fields["warehouse"].choices = [
            (pk, warehouses[pk].code) for pk in sorted(held, key=lambda w: warehouses[w].code)
        ]
        self.split = len(held) > 1
        if self.split:
            self.fields["warehouse"].required = True
        elif held:
            self.fields["warehouse"].initial = next(iter(held))
        for line in self.lines:
            self.fields[f"qty_{line.pk}"] = forms.IntegerField(
                min_value=0,
                max_value=line.qty_allocated,
                initial=line.qty_allocated,
                label=line.product.sku,
            )

    def quantity_fields(self):
        return [(line, self[f"qty_{line.pk}"]) for line in self.lines]

    def quantities(self) -> dict[int, int] | None:
        if not self.lines:
            return None
        return {
            line.pk: self.cleaned_data.get(f"qty_{line.pk}") or 0
            for line in self.lines
            if self.cleaned_data.get(f"qty_{line.pk}")
        }
