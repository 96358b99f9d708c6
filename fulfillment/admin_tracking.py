"""Carrier tracking events in the admin: the event list and the carrier status-file upload."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from clients.scoping import ClientListFilter, ClientScopedAdmin, supervised_client_ids
from core.paginator import BoundedCountPaginator
from fulfillment import selectors, services
from fulfillment.admin_common import tracking_link
from fulfillment.exceptions import FulfillmentError
from fulfillment.forms import TrackingUploadForm
from fulfillment.models import TrackingEvent
from fulfillment.tracking_input import read_tracking_csv


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
                    result["unknown"] = selectors.tracking_numbers_unknown(
                        carrier=carrier, events=events, client_ids=supervised
                    )
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
