"""Purchasing forms (crispy-forms, bootstrap5 pack): they only collect input for services."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms

from inventory.models import PurchaseOrder


class ReceivePurchaseOrderForm(forms.Form):
    """One quantity field per open line of the PO (0 = nothing arrived)."""

    reference = forms.CharField(
        max_length=60, required=False, help_text="Delivery note or ASN number."
    )

    def __init__(self, *args, purchase_order: PurchaseOrder, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = list(purchase_order.lines.select_related("product").order_by("id"))
        for line in self.lines:
            self.fields[f"line_{line.pk}"] = forms.IntegerField(
                label=f"{line.product.sku} – {line.product.name}",
                min_value=0,
                max_value=1_000_000,
                initial=0,
                required=False,
                help_text=(
                    f"Supplier SKU {line.supplier_sku or '–'}: {line.quantity} ordered, "
                    f"{line.quantity_received} received, {line.quantity_open} open."
                ),
            )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.include_media = False

    def quantities(self) -> dict[int, int]:
        return {
            line.pk: self.cleaned_data.get(f"line_{line.pk}") or 0
            for line in self.lines
            if self.cleaned_data.get(f"line_{line.pk}")
        }


class DeliveryNoteForm(forms.Form):
    file = forms.FileField(
        label="Delivery note (CSV)",
        help_text="Columns supplier_sku, quantity (comma, semicolon or tab separated).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.include_media = False
