"""Admin for purchase orders: list (late filter), approve, send, receive, delivery notes.
Thin: every change goes through ``inventory.purchasing``.

Scoping by ``clients.scoping``; agents read, and changes need the supervisor role **for the
row's client** (``is_supervisor_for``), checked per object.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    is_supervisor_for,
    scope_queryset,
)
from core.paginator import BoundedCountPaginator
from inventory import purchasing
from inventory.exceptions import InventoryError
from inventory.forms_purchasing import DeliveryNoteForm, ReceivePurchaseOrderForm
from inventory.models import (
    PurchaseOrder,
    PurchaseOrderLine,
)
from inventory.selectors import (
    late_q,
)


class LateFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "late"

    def lookups(self, request, model_admin):
        return (("yes", "Late (past expected date, units open)"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(late_q()).distinct()
        return queryset


class PurchaseOrderLineInline(admin.TabularInline):
    model = PurchaseOrderLine
    fields = (
        "product",
        "supplier_sku",
        "quantity",
        "quantity_received",
        "unit_cost",
        "lead_time_days",
        "why",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


PO_ACTIONS = {
    # name: (label, service, permission)
    "approve": ("Approve", purchasing.purchase_order_approve, "inventory.approve_purchaseorder"),
    "send": ("Send to supplier", purchasing.purchase_order_send, "inventory.send_purchaseorder"),
    "cancel": ("Cancel", purchasing.purchase_order_cancel, "inventory.change_purchaseorder"),
}
S = PurchaseOrder.Status


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ClientScopedAdmin):
    change_form_template = "admin/inventory/purchaseorder/change_form.html"
    list_display = (
        "__str__",
        "supplier",
        "warehouse",
        "status",
        "expected_on",
        "late_display",
        "total_value",
        "client",
    )
    list_filter = ("status", LateFilter, "warehouse", ClientListFilter)
    list_select_related = ("supplier", "warehouse", "client")
    search_fields = ("=number", "^supplier__code")
    inlines = [PurchaseOrderLineInline]
    paginator = BoundedCountPaginator
    fields = (
        "number",
        "client",
        "supplier",
        "warehouse",
        "status",
        "expected_on",
        "total_value",
        "currency",
        "auto_approved",
        "approved_at",
        "approved_by",
        "sent_at",
        "sent_by",
        "sent_to",
        "closed_at",
        "note",
    )
    actions = ["approve_selected", "send_selected", "cancel_selected"]

    def get_readonly_fields(self, request, obj=None):
        editable = {"note"}
        if obj is not None and obj.status not in (S.RECEIVED, S.CANCELLED):
            editable.add("expected_on")
        return [f for f in self.fields if f not in editable]

    def has_add_permission(self, request):
        return False  # the plan writes drafts

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )

    @admin.display(description="late")
    def late_display(self, obj):
        if (
            obj.status in (S.SENT, S.PARTIALLY_RECEIVED)
            and obj.expected_on
            and obj.expected_on < timezone.localdate()
        ):
            return format_html('<strong class="bpo-overdue">late</strong>')
        return ""

    def save_model(self, request, obj, form, change):
        # Only the note and the expected date can be edited; a new date goes through the
        # service (it re-dates backorders and tells listeners).
        if "expected_on" in form.changed_data and obj.expected_on:
            new_date = obj.expected_on
            obj.expected_on = form.initial.get("expected_on")
            PurchaseOrder.objects.filter(pk=obj.pk).update(note=obj.note)
            purchasing.purchase_order_reschedule(
                purchase_order=obj, expected_on=new_date, user=request.user
            )
        else:
            PurchaseOrder.objects.filter(pk=obj.pk).update(note=obj.note)

    # Actions on the list: each PO checked for its client's supervisor role.
    def _bulk(self, request, queryset, name):
        label, service, perm = PO_ACTIONS[name]
        done, refused = 0, []
        if not request.user.has_perm(perm):
            raise PermissionDenied
        for po in queryset.order_by("pk"):
            if not is_supervisor_for(request.user, po.client_id):
                refused.append(f"{po}: only a supervisor of {po.client.code} may do this.")
                continue
            try:
                service(purchase_order=po, user=request.user)
                done += 1
            except InventoryError as exc:
                refused.append(str(exc))
        if done:
            self.message_user(request, f"{label}: {done} purchase order(s).", messages.SUCCESS)
        for text in refused:
            self.message_user(request, text, messages.ERROR)

    @admin.action(description="Approve selected purchase orders", permissions=["approve"])
    def approve_selected(self, request, queryset):
        self._bulk(request, queryset, "approve")

    @admin.action(description="Send selected purchase orders to suppliers", permissions=["send"])
    def send_selected(self, request, queryset):
        self._bulk(request, queryset, "send")

    @admin.action(description="Cancel selected purchase orders", permissions=["change"])
    def cancel_selected(self, request, queryset):
        self._bulk(request, queryset, "cancel")

    def has_approve_permission(self, request):
        return request.user.has_perm("inventory.approve_purchaseorder")

    def has_send_permission(self, request):
        return request.user.has_perm("inventory.send_purchaseorder")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/do/<str:name>/", view(self.do_view), name="inventory_purchaseorder_do"),
            path(
                "<int:pk>/receive/", view(self.receive_view), name="inventory_purchaseorder_receive"
            ),
            path("<int:pk>/pdf/", view(self.pdf_view), name="inventory_purchaseorder_pdf"),
            *super().get_urls(),
        ]

    def _po(self, request, pk) -> PurchaseOrder:
        return get_object_or_404(
            scope_queryset(
                PurchaseOrder.objects.select_related("client", "supplier", "warehouse"),
                request.user,
            ),
            pk=pk,
        )

    def do_view(self, request, pk, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        po = self._po(request, pk)
        if name not in PO_ACTIONS:
            raise Http404("No such action.")
        _label, service, perm = PO_ACTIONS[name]
        if not request.user.has_perm(perm) or not is_supervisor_for(request.user, po.client_id):
            self.message_user(
                request, f"Only a supervisor of {po.client.code} may do this.", messages.ERROR
            )
        else:
            try:
                po = service(purchase_order=po, user=request.user)
            except InventoryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request, f"{po}: {po.get_status_display().lower()}.", messages.SUCCESS
                )
        return HttpResponseRedirect(reverse("admin:inventory_purchaseorder_change", args=[po.pk]))

    def receive_view(self, request, pk):
        po = self._po(request, pk)
        if not request.user.has_perm("inventory.receive_purchaseorder") or not is_supervisor_for(
            request.user, po.client_id
        ):
            raise PermissionDenied
        change_url = reverse("admin:inventory_purchaseorder_change", args=[po.pk])
        form = ReceivePurchaseOrderForm(
            request.POST if request.POST.get("kind") == "form" else None, purchase_order=po
        )
        upload = DeliveryNoteForm(
            request.POST if request.POST.get("kind") == "file" else None,
            request.FILES if request.POST.get("kind") == "file" else None,
        )
        if request.method == "POST":
            try:
                if request.POST.get("kind") == "file" and upload.is_valid():
                    data = upload.cleaned_data["file"].read(purchasing.DELIVERY_NOTE_MAX_BYTES + 1)
                    po = purchasing.purchase_order_receive_delivery_note(
                        purchase_order=po, data=data, user=request.user
                    )
                elif request.POST.get("kind") == "form" and form.is_valid():
                    po = purchasing.purchase_order_receive(
                        purchase_order=po,
                        quantities=form.quantities(),
                        user=request.user,
                        reference=form.cleaned_data["reference"],
                    )
                else:
                    po = None
            except InventoryError as exc:
                target = upload if request.POST.get("kind") == "file" else form
                for text in str(exc).split(". "):
                    target.add_error(None, text if text.endswith(".") else text + ".")
            else:
                if po is not None:
                    self.message_user(
                        request, f"{po}: {po.get_status_display().lower()}.", messages.SUCCESS
                    )
                    return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Receive {po}",
            "po": po,
            "form": form,
            "upload": upload,
            "opts": self.model._meta,
            "change_url": change_url,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/inventory/purchaseorder/receive.html", context)

    def pdf_view(self, request, pk):
        po = self._po(request, pk)
        if not po.pdf:
            raise Http404("This purchase order has not been sent yet.")
        return FileResponse(
            po.pdf.open("rb"), content_type="application/pdf", filename=f"{po.number}.pdf"
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        po = self.get_object(request, object_id)
        supervisor = is_supervisor_for(request.user, po.client_id)
        buttons = []
        if supervisor:
            for name, (label, _service, perm) in PO_ACTIONS.items():
                target = {"approve": S.APPROVED, "send": S.SENT, "cancel": S.CANCELLED}[name]
                if target in purchasing.TRANSITIONS[po.status] and request.user.has_perm(perm):
                    buttons.append((name, label))
        extra = {
            "po": po,
            "buttons": buttons,
            "can_receive": supervisor
            and po.status in (S.SENT, S.PARTIALLY_RECEIVED)
            and request.user.has_perm("inventory.receive_purchaseorder"),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})
