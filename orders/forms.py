from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms

from clients.models import Client
from clients.scoping import supervised_client_ids
from orders.models import ImportJob

MAX_UPLOAD_MB = 512


class ImportUploadForm(forms.Form):
    client = forms.ModelChoiceField(queryset=Client.objects.none())
    file_format = forms.ChoiceField(
        label="Format", choices=ImportJob.Format.choices, initial=ImportJob.Format.AUTO
    )
    file = forms.FileField(
        help_text="CSV (UTF-8, comma or semicolon): the native format or a Shopify orders export."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        clients = Client.objects.filter(active=True).order_by("code")
        supervised = supervised_client_ids(user)
        if supervised is not None:
            clients = clients.filter(pk__in=supervised)
        self.fields["client"].queryset = clients
        if clients.count() == 1:
            self.fields["client"].initial = clients.first()
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
            raise forms.ValidationError(f"Files above {MAX_UPLOAD_MB} MB are not accepted.")
        return upload


# -- order entry (keyed-in phone and e-mail orders) ----------------------------------------------
SHIP_TO_KEYS = ("name", "phone", "address1", "address2", "postcode", "city", "region", "country")


class OrderEntryForm(forms.Form):
    """What an agent keys in for a phone or e-mail order (the lines are a formset). It only
    collects input: the order rules are the intake validator's (``order_input_problems``)."""

    client = forms.ModelChoiceField(queryset=Client.objects.none())
    number = forms.CharField(
        label="Order number",
        max_length=64,
        required=False,
        help_text="Leave empty to get one (CLIENT-P…).",
    )
    customer_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    customer_name = forms.CharField(
        label="Customer",
        max_length=200,
        required=False,
        help_text="Type a name, e-mail or phone to find a customer; or fill in a new one.",
    )
    customer_email = forms.EmailField(label="Customer e-mail", required=False)
    customer_phone = forms.CharField(label="Customer phone", max_length=50, required=False)
    service_level = forms.ChoiceField(choices=(), initial="standard")
    expedite = forms.BooleanField(required=False)
    ship_to_name = forms.CharField(label="Ship to: name", max_length=200, required=False)
    ship_to_phone = forms.CharField(label="Ship to: phone", max_length=50, required=False)
    ship_to_address1 = forms.CharField(label="Address", max_length=255, required=False)
    ship_to_address2 = forms.CharField(label="Address (2)", max_length=255, required=False)
    ship_to_postcode = forms.CharField(label="Postcode", max_length=255, required=False)
    ship_to_city = forms.CharField(label="City", max_length=255, required=False)
    ship_to_region = forms.CharField(label="Region", max_length=255, required=False)
    ship_to_country = forms.CharField(label="Country (ISO code)", max_length=255, required=False)
    note = forms.CharField(
        label="Notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Saved on the order's timeline (what the customer asked for, how they paid).",
    )

    def __init__(self, *args, user, **kwargs):
        from clients.scoping import scope_queryset
        from orders.models import Order

        super().__init__(*args, **kwargs)
        clients = scope_queryset(Client.objects.filter(active=True), user, "pk").order_by("code")
        self.fields["client"].queryset = clients
        if len(clients[:2]) == 1:
            self.fields["client"].initial = clients[0]
        self.fields["service_level"].choices = Order.ServiceLevel.choices
        self.fields["customer_name"].widget.attrs.update(
            {"autocomplete": "off", "class": "bpo-customer-search"}
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def clean(self):
        data = super().clean()
        if not data.get("customer_id") and not (
            data.get("customer_name") or data.get("customer_email")
        ):
            self.add_error("customer_name", "Choose a customer or give a new one's name or e-mail.")
        return data


class OrderEntryLineForm(forms.Form):
    sku = forms.CharField(label="SKU", max_length=64, required=False)
    quantity = forms.IntegerField(label="Quantity", min_value=1, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sku"].widget.attrs.update(
            {"autocomplete": "off", "class": "bpo-sku", "list": "sku-options"}
        )
        self.fields["quantity"].widget.attrs.update({"class": "bpo-qty"})

    def clean(self):
        data = super().clean()
        if data.get("sku") and not data.get("quantity") and "quantity" not in self.errors:
            self.add_error("quantity", "How many?")
        if data.get("quantity") and not data.get("sku"):
            self.add_error("sku", "Which product?")
        return data


OrderEntryLineFormSet = forms.formset_factory(OrderEntryLineForm, extra=4, max_num=50)
