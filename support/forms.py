from django import forms

from support.services import MAX_MESSAGE_CHARS


class ContactForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, label="Your name (optional)")
    message = forms.CharField(
        max_length=MAX_MESSAGE_CHARS, widget=forms.Textarea(attrs={"rows": 4}), label="Message"
    )
