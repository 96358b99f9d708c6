from __future__ import annotations

from django import forms

from billing.models import Payment


class PaymentForm(forms.Form):
    order_number = forms.CharField(max_length=64)
    amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0.01)
    status = forms.ChoiceField(choices=Payment.Status.choices, initial=Payment.Status.CAPTURED)
    method = forms.ChoiceField(choices=Payment.Method.choices, initial=Payment.Method.BANK_TRANSFER)
    provider_reference = forms.CharField(max_length=100, required=False)


class RemittanceUploadForm(forms.Form):
    file = forms.FileField(
        required=False,
        help_text="CSV: provider_reference, order_number or "
        "invoice_number, amount (optional: currency, method, received_at).",
    )
    # The preview sends the checked text back with the confirmation (checked again then).
    content = forms.CharField(required=False, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class OverrideForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Why the order may go to the warehouse.")
