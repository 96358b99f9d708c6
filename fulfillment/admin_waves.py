"""Pick waves in the admin: the wave list, creating waves (from a form or the selected orders),
the wave page with its pick list, packing slips and "confirm packed"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from clients.scoping import ClientListFilter, ClientScopedAdmin, client_ids_for, scope_queryset
from core.paginator import BoundedCountPaginator
from fulfillment import selectors, services
from fulfillment.admin_common import DOMAIN_ERRORS, packing_slips_response, parse_ids, pdf_response
from fulfillment.forms import WaveCreateForm
from fulfillment.models import PickWave
from fulfillment.pdf import paper_from, pick_list_pdf
from orders.models import Order

S = Order.Status


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
        services.waves_sync_visible(client_ids=client_ids_for(request.user))
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
        result = services.wave_orders_pack(
            wave=wave, order_ids=parse_ids(request.POST.get("orders")), user=request.user
        )
        if result.packed:
            slips = (
                reverse("admin:fulfillment_shipment_packing_slips")
                + "?ids="
                + ",".join(str(o.pk) for o in result.packed)
            )
            self.message_user(
                request,
                format_html(
                    'Packed: {} – <a href="{}" target="_blank">print packing slips</a>',
                    ", ".join(o.number for o in result.packed),
                    slips,
                ),
                messages.SUCCESS,
            )
        for text in result.failed[:50]:
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
