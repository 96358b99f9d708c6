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
