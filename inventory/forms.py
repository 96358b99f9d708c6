"""Stock process forms (crispy-forms, bootstrap5 pack); they only collect input for services."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect

from clients.scoping import scope_queryset
from inventory.models import Product, StockLevel, Warehouse


class _StockForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), help_text="Search by SKU.")
    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(active=True))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Widget first: setting the queryset afterwards hands the widget its choices.
        self.fields["product"].widget = AutocompleteSelect(
            StockLevel._meta.get_field("product"), admin.site
        )
        self.fields["product"].queryset = scope_queryset(
            Product.objects.filter(active=True).select_related("client"), user
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        # The page puts the form's media in <head> (with the admin's): crispy must not render
        # it a second time, or jQuery and select2 load twice and the product search never asks.
        self.helper.include_media = False


class ReceiveStockForm(_StockForm):
    quantity = forms.IntegerField(min_value=1, max_value=1_000_000)
    reference = forms.CharField(
        max_length=100, required=False, help_text="Delivery note, PO or ASN number."
    )


class AdjustStockForm(_StockForm):
    delta = forms.IntegerField(
        label="Change",
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text="Units to add (positive) or remove (negative) after a count, damage or loss.",
    )
    reason = forms.CharField(max_length=255)

    def clean_delta(self):
        delta = self.cleaned_data["delta"]
        if delta == 0:
            raise forms.ValidationError("The change cannot be zero.")
        return delta
