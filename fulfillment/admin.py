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

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    is_supervisor_for,
    supervised_client_ids,
)
from fulfillment import (  # noqa: F401 (importing registers their admin pages)
    admin_order_actions,
    admin_shipments,
    admin_tracking,
    admin_waves,
    services,
)
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import (
    Carrier,
    CarrierAccount,
    CarrierAccountRate,
    CarrierService,
    ServiceLevelRule,
)


# -- carriers -----------------------------------------------------------------------------------
class SuperuserOnlyChangeMixin:
    """Shared configuration that acts on every client's data: anyone with the model's view
    permission may look, only an admin (superuser) may add or change it."""

    def has_add_permission(self, request, *args):
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False  # shipments and rules refer to it: deactivate instead


class CarrierServiceInline(SuperuserOnlyChangeMixin, admin.TabularInline):
    model = CarrierService
    extra = 0
    fields = ("code", "name", "transit_days", "price", "active")


class CarrierForm(forms.ModelForm):
    """The webhook secret is write-only: typed (or generated) here, never shown again."""

    new_webhook_secret = forms.CharField(
        label="new webhook secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"Paste the secret agreed with the carrier ({services.MIN_SECRET_LENGTH}–128 "
        "printable ASCII characters), or tick “generate” below. Leave both empty to keep the "
        "current one. The previous secret stays valid for the overlap period.",
    )
    generate_webhook_secret = forms.BooleanField(
        label="generate a new webhook secret (shown once after saving)", required=False
    )

    class Meta:
        model = Carrier
        fields = ("name", "code", "tracking_url_template", "active")

    def clean(self):
        data = super().clean()
        typed = data.get("new_webhook_secret") or ""
        if typed and data.get("generate_webhook_secret"):
            raise forms.ValidationError("Either type a new secret or generate one, not both.")
        if typed and (
            len(typed) < services.MIN_SECRET_LENGTH
            or len(typed) > 128
            or not typed.isascii()
            or not typed.isprintable()
            or typed != typed.strip()
        ):
            self.add_error(
                "new_webhook_secret",
                f"Use {services.MIN_SECRET_LENGTH} to 128 printable ASCII characters, "
                "no surrounding spaces.",
            )
        return data


@admin.register(Carrier)
class CarrierAdmin(SuperuserOnlyChangeMixin, admin.ModelAdmin):
    """Carriers are shared by every client: only admins change them, and nobody reads the
    webhook secret back (see the issue #11 notes in docs/security.md)."""

    form = CarrierForm
    list_display = ("name", "code", "active", "services_display", "webhook_url", "secret_status")
    list_filter = ("active",)
    search_fields = ("=code", "name")
    inlines = [CarrierServiceInline]

    def get_fields(self, request, obj=None):
        fields = ["name", "code", "tracking_url_template", "active", "secret_status"]
        if self.has_change_permission(request, obj):
            fields += ["new_webhook_secret", "generate_webhook_secret"]
        return [*fields, "webhook_url"]

    def get_readonly_fields(self, request, obj=None):
        fields = ["webhook_url", "secret_status"]
        if obj is not None:
            fields.append("code")  # the code is in the carrier's webhook URL
        return fields

    @admin.display(description="services")
    def services_display(self, obj):
        return ", ".join(s.code for s in obj.services.all()) or "–"

    @admin.display(description="webhook URL")
    def webhook_url(self, obj):
        if not obj.pk:
            return "–"
        return reverse("fulfillment:carrier_webhook", args=[obj.code])

    @admin.display(description="webhook secret")
    def secret_status(self, obj):
        if obj is None or not obj.pk:
            return "–"
        if obj.webhook_secret_set_at is None:
            text = "set (date unknown)" if obj.webhook_secret else "not set"
        else:
            text = f"set on {timezone.localtime(obj.webhook_secret_set_at):%Y-%m-%d %H:%M}"
        until = obj.previous_webhook_secret_valid_until
        if obj.previous_webhook_secret and until and until > timezone.now():
            until_text = f"{timezone.localtime(until):%Y-%m-%d %H:%M}"
            text += f"; the previous secret is accepted until {until_text}"
        return text

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("services")

    def save_model(self, request, obj, form, change):
        typed = form.cleaned_data.get("new_webhook_secret") or ""
        generate = form.cleaned_data.get("generate_webhook_secret")
        if not change:
            obj.webhook_secret = ""  # set below through the service, like every rotation
        super().save_model(request, obj, form, change)
        if typed or generate or not change:
            try:
                secret = services.carrier_webhook_secret_rotate(
                    carrier=obj, new_secret=typed or None
                )
            except FulfillmentError as exc:  # e.g. the same secret again: keep the current one
                self.message_user(request, str(exc), messages.ERROR)
                return
            if not typed:
                self.message_user(
                    request,
                    format_html(
                        "New webhook secret for {}: <code>{}</code> — give it to the carrier "
                        "now; it will not be shown again.",
                        obj.code,
                        secret,
                    ),
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"Webhook secret of {obj.code} replaced.")


@admin.register(ServiceLevelRule)
class ServiceLevelRuleAdmin(SuperuserOnlyChangeMixin, admin.ModelAdmin):
    list_display = ("service_level", "deliver_within_days", "services_display")
    filter_horizontal = ("services",)

    @admin.display(description="acceptable services")
    def services_display(self, obj):
        return ", ".join(str(s) for s in obj.services.select_related("carrier")) or "any"


class CarrierAccountRateInline(admin.TabularInline):
    model = CarrierAccountRate
    extra = 0
    fields = ("service", "price")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        account = getattr(request, "_bpo_carrier_account", None)
        if db_field.name == "service" and formfield is not None and account is not None:
            formfield.queryset = formfield.queryset.filter(carrier_id=account.carrier_id)
        return formfield

    def has_add_permission(self, request, obj=None):
        return _may_edit_account(request, obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _may_edit_account(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # nothing is deleted: change the price instead


def _may_edit_account(request, account) -> bool:
    return account is None or is_supervisor_for(request.user, account.client_id)


@admin.register(CarrierAccount)
class CarrierAccountAdmin(ClientScopedAdmin):
    """A client's account and negotiated rates with a carrier: set by that client's
    supervisors (per-client role check), seen by its agents."""

    list_display = ("client", "carrier", "account_number", "active")
    list_filter = ("active", "carrier", ClientListFilter)
    list_select_related = ("client", "carrier")
    search_fields = ("=account_number", "=client__code", "=carrier__code")
    inlines = [CarrierAccountRateInline]

    def get_readonly_fields(self, request, obj=None):
        return ("client", "carrier") if obj else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "client" and formfield is not None:
            supervised = supervised_client_ids(request.user)
            if supervised is not None:
                formfield.queryset = formfield.queryset.filter(pk__in=supervised)
        return formfield

    def has_add_permission(self, request):
        supervised = supervised_client_ids(request.user)
        return super().has_add_permission(request) and (supervised is None or bool(supervised))

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and _may_edit_account(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead

    def get_inline_instances(self, request, obj=None):
        request._bpo_carrier_account = obj
        if obj is None:
            return []  # rates are added once the account (its carrier) exists
        return super().get_inline_instances(request, obj)

    def save_model(self, request, obj, form, change):
        if not is_supervisor_for(request.user, obj.client_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for rate in formset.save(commit=False):
            rate.account = form.instance
            rate.client_id = form.instance.client_id
            rate.save()
