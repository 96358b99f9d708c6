"""Customer communication in the admin: templates (supervisors, per client, with a live
preview against a real order and a test send), the notifications sent (failed filter,
retry), the client's policy. Thin: every write goes through support.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html

from clients.models import Client
from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    is_supervisor_for,
    scope_queryset,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from orders.admin_actions import OrderAction, register_order_action
from orders.models import Order
from support import services
from support.defaults import DEFAULTS
from support.exceptions import SupportError, TemplateInvalid
from support.models import Event, Notification, NotificationPolicy, NotificationTemplate

PART_FIELDS = {"Subject": "subject", "Plain-text body": "body_text", "HTML body": "body_html"}


def _supervised_clients(user):
    ids = supervised_client_ids(user)
    clients = Client.objects.filter(active=True)
    return clients if ids is None else clients.filter(pk__in=ids)


class SupervisorPerClientMixin:
    """Only supervisors of the row's client may change it; adding offers supervised clients."""

    def has_change_permission(self, request, obj=None):
        ok = super().has_change_permission(request, obj)
        if obj is None:
            return ok
        return ok and is_supervisor_for(request.user, obj.client_id)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and _supervised_clients(request.user).exists()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "client" and formfield is not None:
            formfield.queryset = _supervised_clients(request.user)
        return formfield


class TemplateForm(forms.ModelForm):
    class Meta:
        model = NotificationTemplate
        fields = ["client", "event", "language", "active", "subject", "body_text", "body_html"]
        widgets = {
            "subject": forms.TextInput(attrs={"size": 90}),
            "body_text": forms.Textarea(attrs={"rows": 14, "cols": 90}),
            "body_html": forms.Textarea(attrs={"rows": 14, "cols": 90}),
        }

    def clean(self):
        data = super().clean()
        try:
            services.template_check(
                subject=data.get("subject") or "",
                body_text=data.get("body_text") or "",
                body_html=data.get("body_html") or "",
            )
        except TemplateInvalid as exc:
            for error in exc.errors:
                part = error.split(":", 1)[0]
                self.add_error(PART_FIELDS.get(part), f"Refused: {error}")
        return data


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(SupervisorPerClientMixin, ClientScopedAdmin):
    form = TemplateForm
    list_display = ("client", "event", "language", "active", "subject", "updated_at", "updated_by")
    list_filter = ("event", "language", "active", ClientListFilter)
    list_select_related = ("client", "updated_by")
    change_form_template = "admin/support/notificationtemplate/change_form.html"

    class Media:
        js = ("support/template_preview.js",)
        css = {"all": ("support/template_preview.css",)}

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        event = request.GET.get("event") or Event.CONFIRMED
        default = DEFAULTS.get(event) or DEFAULTS[Event.CONFIRMED]
        initial.setdefault("event", event if event in DEFAULTS else Event.CONFIRMED)
        initial.setdefault("subject", default.subject)
        initial.setdefault("body_text", default.body_text)
        initial.setdefault("body_html", default.body_html)
        return initial

    def save_model(self, request, obj, form, change):
        services.template_save(template=obj, user=request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra = {
            "preview_url": reverse("admin:support_notificationtemplate_preview"),
            "test_send_url": reverse("admin:support_notificationtemplate_test_send"),
            "defaults_events": [(e.value, e.label) for e in Event],
            "user_email": request.user.email,
        }
        return super().changeform_view(
            request, object_id, form_url, {**extra, **(extra_context or {})}
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="support_notificationtemplate_preview"),
            path(
                "test-send/",
                view(self.test_send_view),
                name="support_notificationtemplate_test_send",
            ),
            *super().get_urls(),
        ]

    def _preview_args(self, request):
        """(order, event, sources) for a supervisor of the order's client, or PermissionDenied."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        client_id = request.POST.get("client", "")
        if not client_id.isdigit() or not is_supervisor_for(request.user, int(client_id)):
            raise SupportError("Choose one of the clients you supervise first.")
        orders = scope_queryset(Order.objects.filter(client_id=int(client_id)), request.user)
        number = (request.POST.get("order_number") or "").strip()
        order = (
            orders.filter(number=number).first()
            if number
            else orders.order_by("-placed_at", "-id").first()
        )
        if order is None:
            raise SupportError(
                f"No order {number} for this client." if number else "This client has no orders."
            )
        event = request.POST.get("event") or Event.CONFIRMED
        if event not in Event.values:
            raise SupportError("Unknown event.")
        sources = {k: request.POST.get(k, "") for k in ("subject", "body_text", "body_html")}
        return order, event, sources

    def preview_view(self, request):
        if request.method != "POST":
            return JsonResponse({"error": "POST only."}, status=405)
        try:
            order, event, sources = self._preview_args(request)
            rendered = services.template_preview(order=order, event=event, **sources)
        except TemplateInvalid as exc:
            return JsonResponse({"errors": exc.errors}, status=200)
        except SupportError as exc:
            return JsonResponse({"errors": [str(exc)]}, status=200)
        return JsonResponse({"order": order.number, **rendered, "errors": []})

    def test_send_view(self, request):
        if request.method != "POST":
            return JsonResponse({"error": "POST only."}, status=405)
        try:
            order, event, sources = self._preview_args(request)
            services.template_test_send(
                client_id=order.client_id,
                order=order,
                event=event,
                to=request.user.email,
                **sources,
            )
        except TemplateInvalid as exc:
            return JsonResponse({"errors": exc.errors})
        except SupportError as exc:
            return JsonResponse({"errors": [str(exc)]})
        return JsonResponse({"errors": [], "message": f"Test e-mail sent to {request.user.email}."})


class FailedFilter(admin.SimpleListFilter):
    title = "problems"
    parameter_name = "problems"

    def lookups(self, request, model_admin):
        return [("failed", "Failed notifications"), ("waiting", "Waiting to retry")]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=Notification.Status.FAILED)
        if self.value() == "waiting":
            return queryset.filter(status=Notification.Status.QUEUED, attempts__gt=0)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ClientScopedAdmin):
    list_display = (
        "created_at",
        "order_link",
        "event",
        "recipient",
        "status",
        "attempts",
        "sent_at",
        "error_short",
    )
    list_filter = (FailedFilter, "status", "event", ClientListFilter)
    list_select_related = ("order",)
    search_fields = ("=order__number", "=recipient")
    search_help_text = "Exact order number or e-mail address."
    paginator = BoundedCountPaginator
    actions = ["retry_failed"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    fields = (
        "client",
        "order",
        "event",
        "announces",
        "recipient",
        "language",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "send_after",
        "sent_at",
        "subject",
        "body_text",
        "body_html",
    )

    @admin.display(description="order", ordering="order__number")
    def order_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:orders_order_change", args=[obj.order_id]),
            obj.order.number,
        )

    @admin.display(description="last error")
    def error_short(self, obj):
        return (obj.last_error or "")[:80]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a record of what was sent; the only change is the retry action

    def has_retry_permission(self, request):
        return request.user.has_perm("support.change_notification")

    @admin.action(description="Retry the selected failed notifications", permissions=["retry"])
    def retry_failed(self, request, queryset):
        done, refused = 0, []
        for n in queryset.filter(status=Notification.Status.FAILED):
            if not is_supervisor_for(request.user, n.client_id):
                refused.append(f"{n.pk}: only a supervisor of the client may retry")
                continue
            try:
                services.notification_retry(notification=n, user=request.user)
                done += 1
            except SupportError as exc:
                refused.append(str(exc))
        if done:
            self.message_user(request, f"Queued again: {done} notification(s).", messages.SUCCESS)
        for text in refused[:10]:
            self.message_user(request, text, messages.ERROR)
        if not done and not refused:
            self.message_user(request, "None of the selected notifications failed.", messages.INFO)


@admin.register(NotificationPolicy)
class NotificationPolicyAdmin(SupervisorPerClientMixin, ClientScopedAdmin):
    list_display = (
        "client",
        "default_language",
        "delay_notice_interval_hours",
        "quiet_hours_start",
        "quiet_hours_end",
        "opt_out_covers_transactional",
    )


def _revoke(order, user, data):
    from support.services import tracking_link_revoke

    tracking_link_revoke(order=order, user=user)


register_order_action(
    OrderAction(
        "revoke_tracking_links",
        "Revoke customer tracking links",
        "Tracking links revoked",
        _revoke,
        supervisor_only=True,
        applies=lambda o: True,
        permission="support.change_trackinglink",
    )
)

from support import ticket_admin  # noqa: E402,F401  (tickets, macros, SLA, escalations)
