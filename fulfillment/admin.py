"""Fulfillment in the admin: carriers, pick waves, shipping, tracking events and uploads.

Thin: every page collects input and calls ``fulfillment.services``; scoping is the shared
``ClientScopedAdmin``. The order changelist and order page get their pick/pack/ship actions
through ``orders.admin_actions.register_order_action`` (orders never imports this app).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    client_ids_for,
    is_supervisor_for,
    scope_queryset,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from fulfillment import selectors, services
from fulfillment.exceptions import FulfillmentError
from fulfillment.forms import ShipOrderForm, TrackingUploadForm, WaveCreateForm
from fulfillment.models import (
    Carrier,
    CarrierAccount,
    CarrierAccountRate,
    CarrierService,
    PickWave,
    ServiceLevelRule,
    Shipment,
    ShipmentLine,
    TrackingEvent,
    TrackingStatus,
)
from fulfillment.pdf import paper_from, pick_list_pdf, render_pdf
from fulfillment.tracking_input import read_tracking_csv
from inventory.exceptions import InventoryError
from inventory.models import Warehouse
from orders import services as order_services
from orders.admin_actions import OrderAction, register_order_action
from orders.exceptions import OrderError
from orders.models import Order

S = Order.Status
DOMAIN_ERRORS = (FulfillmentError, OrderError, InventoryError)
MAX_IDS = 500


def parse_ids(value: str | None, limit: int = MAX_IDS) -> list[int]:
    """``"3,1,2"`` → ``[3, 1, 2]`` (order kept, duplicates and junk dropped, at most limit)."""
    ids: list[int] = []
    for part in (value or "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids[:limit]


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def tracking_link(shipment: Shipment) -> str:
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer" class="bpo-tracking">{}</a>',
        shipment.tracking_url,
        shipment.tracking_number,
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


# -- pick waves ---------------------------------------------------------------------------------
@admin.register(PickWave)
class PickWaveAdmin(ClientScopedAdmin):
    list_display = (
        "reference_display",
        "client",
        "warehouse",
        "status",
        "order_count",
        "unit_count",
        "created_by",
        "created_at",
        "pdf_links",
    )
    list_filter = ("status", "warehouse", ClientListFilter)
    list_select_related = ("client", "warehouse", "created_by")
    search_fields = ("=id",)
    search_help_text = "Wave number (e.g. 12 for WAVE-00012)."
    paginator = BoundedCountPaginator

    @admin.display(description="wave", ordering="id")
    def reference_display(self, obj):
        return obj.reference

    @admin.display(description="print")
    def pdf_links(self, obj):
        url = reverse("admin:fulfillment_pickwave_pick_list", args=[obj.pk])
        return format_html(
            '<a href="{}?paper=a4" target="_blank">pick list A4</a> · '
            '<a href="{}?paper=letter" target="_blank">Letter</a>',
            url,
            url,
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().upper().removeprefix("WAVE-")
        if not term:
            return queryset, False
        if not term.isdigit():
            return queryset.none(), False
        return queryset.filter(pk=int(term)), False

    def has_change_permission(self, request, obj=None):
        return False  # waves change through packing and shipping, never by editing

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "from-orders/", view(self.from_orders_view), name="fulfillment_pickwave_from_orders"
            ),
            path(
                "<int:wave_id>/pick-list.pdf",
                view(self.pick_list_view),
                name="fulfillment_pickwave_pick_list",
            ),
            path(
                "<int:wave_id>/packing-slips.pdf",
                view(self.packing_slips_view),
                name="fulfillment_pickwave_packing_slips",
            ),
            path(
                "<int:wave_id>/pack/",
                view(self.pack_view),
                name="fulfillment_pickwave_pack",
            ),
            *super().get_urls(),
        ]

    def _wave(self, request, wave_id) -> PickWave:
        wave = self.get_queryset(request).select_related("client", "warehouse").filter(pk=wave_id)
        wave = wave.first()
        if wave is None:
            raise Http404("No such wave.")
        if not self.has_view_permission(request, wave):
            raise PermissionDenied
        return wave

    def changelist_view(self, request, extra_context=None):
        ids = client_ids_for(request.user)
        open_waves = PickWave.objects.filter(status=PickWave.Status.PICKING)
        if ids is not None:
            open_waves = open_waves.filter(client_id__in=ids)
        services.waves_sync(wave_ids=open_waves.values_list("pk", flat=True)[:200])
        return super().changelist_view(request, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WaveCreateForm(request.POST or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            try:
                wave = services.wave_create(
                    client=form.cleaned_data["client"],
                    warehouse=form.cleaned_data["warehouse"],
                    size=form.cleaned_data["size"],
                    user=request.user,
                )
            except DOMAIN_ERRORS as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request,
                    f"{wave.reference}: {wave.order_count} order(s), {wave.unit_count} unit(s) "
                    f"to pick in {wave.warehouse.code}. The orders are now being picked.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:fulfillment_pickwave_change", args=[wave.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Create a pick wave",
            "opts": self.model._meta,
            "form": form,
            "ready": selectors.ready_orders_by_warehouse(client_ids_for(request.user)),
        }
        return TemplateResponse(request, "admin/fulfillment/pickwave/create.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not str(object_id).isdigit():
            raise Http404("No such wave.")
        wave = self._wave(request, int(object_id))
        services.waves_sync(wave_ids=[wave.pk])
        wave.refresh_from_db()
        picks = selectors.pick_list(wave)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Pick wave {wave.reference}",
            "opts": self.model._meta,
            "wave": wave,
            "picks": picks,
            "progress": selectors.wave_progress(wave),
            "can_pack": request.user.has_perm("fulfillment.pack_orders"),
            "can_ship": request.user.has_perm("fulfillment.add_shipment"),
            "picking_ids": ",".join(
                str(r.order.pk) for r in picks.orders if r.order.status == S.PICKING
            ),
            "packed_ids": ",".join(
                str(r.order.pk) for r in picks.orders if r.order.status == S.PACKED
            ),
        }
        return TemplateResponse(request, "admin/fulfillment/pickwave/detail.html", context)

    def pick_list_view(self, request, wave_id):
        wave = self._wave(request, wave_id)
        paper = paper_from(request.GET.get("paper"))
        content = pick_list_pdf(wave=wave, paper=paper)
        return pdf_response(content, f"{wave.reference}-pick-list-{paper}.pdf")

    def packing_slips_view(self, request, wave_id):
        wave = self._wave(request, wave_id)
        ids = list(wave.entries.order_by("sequence").values_list("order_id", flat=True))
        return packing_slips_response(request, ids, f"{wave.reference}-packing-slips")

    def pack_view(self, request, wave_id):
        """POST ``orders=<id>,<id>``: confirm those orders of the wave packed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        wave = self._wave(request, wave_id)
        if not request.user.has_perm("fulfillment.pack_orders"):
            raise PermissionDenied
        wanted = parse_ids(request.POST.get("orders"))
        orders = Order.objects.filter(pk__in=wanted, wave_entries__wave=wave)
        done, failed = [], []
        for order in orders.order_by("wave_entries__sequence"):
            try:
                services.order_pack(order=order, user=request.user)
                done.append(order.number)
            except DOMAIN_ERRORS as exc:
                failed.append(f"{order.number}: {exc}")
        if done:
            slips = (
                reverse("admin:fulfillment_shipment_packing_slips")
                + "?ids="
                + ",".join(str(o.pk) for o in orders if o.number in done)
            )
            self.message_user(
                request,
                format_html(
                    'Packed: {} – <a href="{}" target="_blank">print packing slips</a>',
                    ", ".join(done),
                    slips,
                ),
                messages.SUCCESS,
            )
        for text in failed[:50]:
            self.message_user(request, text, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:fulfillment_pickwave_change", args=[wave.pk]))

    def from_orders_view(self, request):
        """The order changelist's "Create pick wave…" action lands here with ``?ids=``."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids"))
        orders = list(
            scope_queryset(Order.objects.filter(pk__in=ids), request.user).select_related("client")
        )
        plan = services.wave_plan(orders=orders)
        if request.method == "POST":
            try:
                waves = services.waves_create_from_orders(orders=orders, user=request.user)
            except DOMAIN_ERRORS as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                for wave in waves:
                    self.message_user(
                        request,
                        f"{wave.reference} ({wave.client.code} @ {wave.warehouse.code}): "
                        f"{wave.order_count} order(s) now being picked.",
                        messages.SUCCESS,
                    )
                if len(waves) == 1:
                    return HttpResponseRedirect(
                        reverse("admin:fulfillment_pickwave_change", args=[waves[0].pk])
                    )
                return HttpResponseRedirect(reverse("admin:fulfillment_pickwave_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Create pick waves from the selected orders",
            "opts": self.model._meta,
            "plan": plan,
            "groups": [(c, w, members) for (c, w), members in plan.groups.items()],
            "back_url": reverse("admin:orders_order_changelist"),
        }
        return TemplateResponse(request, "admin/fulfillment/pickwave/from_orders.html", context)


def packing_slips_response(request, order_ids: list[int], name: str) -> HttpResponse:
    visible = set(
        scope_queryset(Order.objects.filter(pk__in=order_ids), request.user).values_list(
            "pk", flat=True
        )
    )
    ids = [i for i in order_ids if i in visible]
    if not ids:
        raise Http404("No such order.")
    paper = paper_from(request.GET.get("paper"))
    content = render_pdf(
        "fulfillment/pdf/packing_slips.html",
        {"slips": selectors.packing_slips(ids), "printed_at": timezone.now()},
        paper=paper,
    )
    return pdf_response(content, f"{name}-{paper}.pdf")


# -- shipments ----------------------------------------------------------------------------------
class LateFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return (
            ("late", "Late (past ETA, not delivered)"),
            ("open", "Not delivered yet"),
            ("delivered", "Delivered"),
            ("problem", "Exception or returned"),
        )

    def queryset(self, request, queryset):
        value = self.value()
        if value == "late":
            return queryset.late()
        if value == "open":
            return queryset.filter(delivered_at__isnull=True)
        if value == "delivered":
            return queryset.filter(delivered_at__isnull=False)
        if value == "problem":
            return queryset.filter(status__in=[TrackingStatus.EXCEPTION, TrackingStatus.RETURNED])
        return queryset


class ShipmentLineInline(admin.TabularInline):
    model = ShipmentLine
    extra = 0
    fields = ("order_line", "sku", "warehouse", "quantity")
    readonly_fields = fields
    can_delete = False

    @admin.display(description="SKU")
    def sku(self, obj):
        return obj.order_line.product.sku

    @admin.display(description="warehouse")
    def warehouse(self, obj):
        return obj.stock_level.warehouse.code

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("order_line__product", "stock_level__warehouse")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TrackingEventInline(admin.TabularInline):
    model = TrackingEvent
    extra = 0
    fields = ("occurred_at", "status", "location", "description", "source", "received_at")
    readonly_fields = fields
    can_delete = False
    ordering = ("-occurred_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Shipment)
class ShipmentAdmin(ClientScopedAdmin):
    list_display = (
        "tracking_number",
        "track_link",
        "order_link",
        "client_code",
        "service_display",
        "status",
        "shipped_display",
        "eta_display",
    )
    list_display_links = ("tracking_number",)
    list_filter = (LateFilter, "status", "carrier", ClientListFilter)
    list_select_related = ("client", "order", "carrier", "service")
    search_fields = ("=tracking_number",)
    search_help_text = "Exact tracking number or order number."
    ordering = ("-shipped_at", "-id")
    paginator = BoundedCountPaginator
    inlines = [ShipmentLineInline, TrackingEventInline]
    fields = (
        ("order_link", "client"),
        ("carrier", "service", "warehouse"),
        ("tracking_display", "status"),
        ("shipped_at", "eta", "late_display"),
        ("delivered_at", "last_event_at"),
        "created_by",
    )
    readonly_fields = (
        "order_link",
        "client",
        "carrier",
        "service",
        "warehouse",
        "tracking_display",
        "status",
        "shipped_at",
        "eta",
        "late_display",
        "delivered_at",
        "last_event_at",
        "created_by",
    )

    @admin.display(description="tracking number", ordering="tracking_number")
    def tracking_display(self, obj):
        return tracking_link(obj)

    @admin.display(description="carrier page")
    def track_link(self, obj):
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">track ↗</a>', obj.tracking_url
        )

    @admin.display(description="shipped", ordering="shipped_at")
    def shipped_display(self, obj):
        return timezone.localtime(obj.shipped_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="client", ordering="client__code")
    def client_code(self, obj):
        return obj.client.code

    @admin.display(description="carrier / service", ordering="carrier__code")
    def service_display(self, obj):
        return f"{obj.carrier.code} {obj.service.name}"

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj):
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order.number)

    @admin.display(description="ETA", ordering="eta")
    def eta_display(self, obj):
        late = self.late_display(obj)
        if late == "–":
            return obj.eta.isoformat()
        return format_html("{} {}", obj.eta.isoformat(), late)

    @admin.display(description="late")
    def late_display(self, obj):
        if obj.is_late():
            days = (timezone.localdate() - obj.eta).days
            return format_html('<span class="bpo-overdue">late {} d</span>', days)
        if obj.delivered_late:
            return "delivered late"
        return "–"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        orders = scope_queryset(Order.objects.filter(number=term), request.user)
        return queryset.filter(tracking_number=term) | queryset.filter(
            order_id__in=orders.values("pk")
        ), False

    def has_add_permission(self, request):
        return False  # shipments are made from orders (the Ship… action)

    def has_change_permission(self, request, obj=None):
        return False  # what the carrier reports changes them, not editing

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("ship/", view(self.ship_view), name="fulfillment_shipment_ship"),
            path(
                "packing-slips.pdf",
                view(self.packing_slips_view),
                name="fulfillment_shipment_packing_slips",
            ),
            *super().get_urls(),
        ]

    def packing_slips_view(self, request):
        if not request.user.has_perm("fulfillment.view_shipment"):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids"))
        name = "packing-slips" if len(ids) != 1 else f"packing-slip-{ids[0]}"
        return packing_slips_response(request, ids, name)

    def _ship_forms(self, request, orders: list[Order], data=None) -> list[ShipOrderForm]:
        catalog = selectors.ServiceCatalog.load()
        warehouses = Warehouse.objects.in_bulk()
        single = len(orders) == 1
        forms = []
        for order in orders:
            held = services._allocated_by_warehouse(order)
            lines = None
            if single:
                lines = [
                    ln
                    for ln in order.lines.select_related("product").order_by("line_no")
                    if ln.qty_allocated
                ]
            forms.append(
                ShipOrderForm(
                    data,
                    order=order,
                    options=catalog.options(order, include_all=True),
                    held=held,
                    warehouses=warehouses,
                    lines=lines,
                )
            )
        return forms

    def ship_view(self, request):
        """Ship one or many orders: a carrier service (the suggestion preselected) and a
        tracking number per order; one order also gets per-line quantities (partial)."""
        if not request.user.has_perm("fulfillment.add_shipment"):
            raise PermissionDenied
        ids = parse_ids(request.GET.get("ids"))
        visible = scope_queryset(Order.objects.filter(pk__in=ids), request.user)
        orders = sorted(visible.select_related("client", "customer"), key=lambda o: ids.index(o.pk))
        shippable = [o for o in orders if o.status in order_services.SHIPPABLE_STATUSES]
        skipped = [o for o in orders if o.status not in order_services.SHIPPABLE_STATUSES]
        if not orders:
            raise Http404("No such order.")
        forms = self._ship_forms(request, shippable, request.POST or None)
        if request.method == "POST":
            shipped, failed = [], []
            for form in forms:
                if not form.is_valid():
                    failed.append(form)
                    continue
                number = form.cleaned_data["tracking_number"].strip()
                if not number:
                    continue  # left empty: not shipped now
                service = CarrierService.objects.select_related("carrier").get(
                    pk=form.cleaned_data["service"]
                )
                warehouse_id = form.cleaned_data.get("warehouse")
                try:
                    shipment = services.shipment_create(
                        order=form.order,
                        service=service,
                        tracking_number=number,
                        quantities=form.quantities(),
                        warehouse=Warehouse.objects.get(pk=warehouse_id) if warehouse_id else None,
                        user=request.user,
                    )
                except DOMAIN_ERRORS as exc:
                    form.add_error(None, str(exc))
                    failed.append(form)
                else:
                    shipped.append(shipment)
            for shipment in shipped:
                shipment.order.refresh_from_db()
                self.message_user(
                    request,
                    format_html(
                        "Order {} shipped with {} {} (order is now {}).",
                        shipment.order.number,
                        shipment.carrier.code,
                        tracking_link(shipment),
                        shipment.order.get_status_display(),
                    ),
                    messages.SUCCESS,
                )
            if not failed and shipped:
                if len(orders) == 1:
                    return HttpResponseRedirect(
                        reverse("admin:orders_order_change", args=[orders[0].pk])
                    )
                return HttpResponseRedirect(reverse("admin:fulfillment_shipment_changelist"))
            if not failed and not shipped:
                self.message_user(request, "Enter a tracking number to ship.", messages.WARNING)
            if failed:
                forms = failed  # only the orders that did not ship, with their errors
        context = {
            **self.admin_site.each_context(request),
            "title": "Ship order" if len(orders) == 1 else f"Ship {len(shippable)} orders",
            "opts": self.model._meta,
            "forms": forms,
            "skipped": skipped,
            "single": len(orders) == 1,
            "back_url": (
                reverse("admin:orders_order_change", args=[orders[0].pk])
                if len(orders) == 1
                else reverse("admin:orders_order_changelist")
            ),
        }
        return TemplateResponse(request, "admin/fulfillment/shipment/ship.html", context)


# -- tracking events ----------------------------------------------------------------------------
@admin.register(TrackingEvent)
class TrackingEventAdmin(ClientScopedAdmin):
    change_list_template = "admin/fulfillment/trackingevent/change_list.html"
    list_display = (
        "occurred_at",
        "tracking_display",
        "status",
        "location",
        "description",
        "source",
        "client",
    )
    list_filter = ("status", "source", ClientListFilter)
    list_select_related = ("shipment__carrier", "client")
    search_fields = ("=shipment__tracking_number",)
    search_help_text = "Exact tracking number."
    ordering = ("-occurred_at", "-id")
    paginator = BoundedCountPaginator
    readonly_fields = (
        "shipment",
        "client",
        "status",
        "occurred_at",
        "location",
        "description",
        "source",
        "received_at",
        "raw_payload",
    )

    @admin.display(description="tracking number")
    def tracking_display(self, obj):
        return tracking_link(obj.shipment)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        extra = {"can_upload": request.user.has_perm("fulfillment.upload_tracking")}
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(self.upload_view),
                name="fulfillment_trackingevent_upload",
            ),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        """Upload a carrier's status file: bad rows are listed by row number, the good ones
        stored (re-uploading the same file stores nothing twice)."""
        if not request.user.has_perm("fulfillment.upload_tracking"):
            raise PermissionDenied
        if supervised_client_ids(request.user) == frozenset():
            raise PermissionDenied  # the permission, but no client to use it for
        form = TrackingUploadForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            carrier = form.cleaned_data["carrier"]
            try:
                parsed = read_tracking_csv(form.cleaned_data["file"])
            except FulfillmentError as exc:
                form.add_error("file", str(exc))
            else:
                result = {"parsed": parsed, "check_only": form.cleaned_data["check_only"]}
                events = parsed.events
                # Uploading is supervisor work: it touches only the shipments of the clients
                # this user *supervises* (an agent of ACME who supervises NORD must not flag
                # ACME's orders), whatever other memberships they hold.
                supervised = supervised_client_ids(request.user)
                if form.cleaned_data["check_only"]:
                    shipments = Shipment.objects.filter(
                        carrier=carrier, tracking_number__in={e.tracking_number for e in events}
                    )
                    if supervised is not None:
                        shipments = shipments.filter(client_id__in=supervised)
                    known = set(shipments.values_list("tracking_number", flat=True))
                    result["unknown"] = [
                        (e.row, e.tracking_number) for e in events if e.tracking_number not in known
                    ]
                else:
                    report = services.tracking_events_ingest(
                        carrier=carrier,
                        events=events,
                        source=TrackingEvent.Source.CSV,
                        client_ids=supervised,
                    )
                    result["report"] = report
                    result["unknown"] = report.unknown
                    self.message_user(
                        request,
                        f"{carrier.code} status file: {report.created} new event(s), "
                        f"{report.duplicates} already known, {len(report.unknown)} unknown "
                        f"tracking number(s), {parsed.error_count} bad row(s); "
                        f"{report.orders_delivered} order(s) delivered, "
                        f"{report.orders_flagged} flagged.",
                        messages.SUCCESS if not parsed.error_count else messages.WARNING,
                    )
                result["unknown_shown"] = result["unknown"][:200]
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a carrier status file",
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/fulfillment/trackingevent/upload.html", context)


# -- order changelist and order page actions ----------------------------------------------------
def _shippable(order: Order) -> bool:
    if order.status == S.PACKED:
        return True
    return order.status == S.BACKORDERED and order.lines.filter(qty_allocated__gt=0).exists()


for _action in (
    OrderAction(
        "create_wave",
        "Create pick wave…",
        "Waved",
        None,
        redirect_to="admin:fulfillment_pickwave_from_orders",
        permission="fulfillment.add_pickwave",
        applies=lambda o: o.status == S.READY,
    ),
    OrderAction(
        "pack",
        "Confirm packed",
        "Packed",
        lambda o, u, d: services.order_pack(order=o, user=u),
        permission="fulfillment.pack_orders",
        applies=lambda o: o.status == S.PICKING,
    ),
    OrderAction(
        "ship",
        "Ship…",
        "Shipped",
        None,
        redirect_to="admin:fulfillment_shipment_ship",
        permission="fulfillment.add_shipment",
        applies=_shippable,
    ),
    OrderAction(
        "packing_slips",
        "Print packing slips",
        "Printed",
        None,
        redirect_to="admin:fulfillment_shipment_packing_slips",
        permission="fulfillment.view_shipment",
        applies=lambda o: o.status in (S.PICKING, S.PACKED, S.SHIPPED, S.DELIVERED),
    ),
    OrderAction(
        "clear_exception",
        "Clear carrier exception",
        "Exception cleared",
        lambda o, u, d: order_services.order_clear_exception(order=o, user=u),
        applies=lambda o: o.exception_flag,
    ),
):
    register_order_action(_action)
