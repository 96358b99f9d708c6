"""Support tickets in the admin: the agent's queue (my tickets, unassigned, due soonest first,
at risk, breached), Take next ticket, the ticket page (conversation, reply, canned replies,
status buttons, and the linked order's facts beside it), logging a phone call, the
supervisor's escalation inbox. Thin: every write goes through support.tickets /
support.escalation; everything is scoped by clients/scoping.py."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from clients.scoping import (
    ClientListFilter,
    ClientScopedAdmin,
    client_ids_for,
    is_supervisor_for,
    supervised_client_ids,
)
from core.paginator import BoundedCountPaginator
from orders.models import Customer, Order
from support import tickets as services
from support.escalation import escalation_acknowledge
from support.exceptions import SupportError
from support.models import (
    Escalation,
    Macro,
    SLAPolicy,
    SupportSettings,
    Ticket,
    TicketMessage,
)
from support.selectors import ticket_page_data

S = Ticket.Status
_REF = re.compile(r"^\s*T-?(\d{1,12})\s*$", re.IGNORECASE)


class QueueFilter(admin.SimpleListFilter):
    """The agent's saved queues."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [
            ("mine", "My open tickets"),
            ("unassigned", "Unassigned"),
            ("at_risk", "At risk"),
            ("breached", "Breached"),
            ("escalated", "Escalated"),
            ("all", "All tickets (resolved and closed too)"),
        ]

    def choices(self, changelist):
        for choice in super().choices(changelist):
            if choice["display"] == "All":
                choice["display"] = "Open (default)"
            yield choice

    def queryset(self, request, queryset):
        value = self.value()
        active = [S.NEW, S.OPEN, S.PENDING_CUSTOMER, S.PENDING_INTERNAL]
        now = timezone.now()
        if value == "mine":
            return queryset.filter(assignee=request.user, status__in=active)
        if value == "unassigned":
            return queryset.filter(assignee__isnull=True, status__in=active)
        if value == "at_risk":
            return queryset.filter(
                status__in=[S.NEW, S.OPEN, S.PENDING_INTERNAL],
                first_response_breached=False,
                resolution_breached=False,
            ).filter(
                Q(first_responded_at__isnull=True, first_response_risk_at__lte=now)
                | Q(resolution_risk_at__lte=now)
            )
        if value == "breached":
            return queryset.filter(status__in=active).filter(
                Q(first_response_breached=True) | Q(resolution_breached=True)
            )
        if value == "escalated":
            return queryset.filter(status__in=active, escalation_level__gt=0)
        if value == "all":
            return queryset
        return queryset.filter(status__in=active)  # the default queue: open tickets


class PhoneCallForm(forms.ModelForm):
    """Logging a phone call: a ticket whose first message is the agent's notes."""

    body = forms.CharField(label="What the customer said", widget=forms.Textarea)

    class Meta:
        model = Ticket
        fields = [
            "client",
            "order",
            "customer",
            "requester_name",
            "requester_email",
            "subject",
            "category",
            "priority",
        ]


@admin.register(Ticket)
class TicketAdmin(ClientScopedAdmin):
    list_display = (
        "ref_link",
        "subject",
        "client",
        "status",
        "priority",
        "category",
        "assignee",
        "due",
        "agreement_status",
        "escalation_level",
        "order_number",
    )
    list_filter = (
        QueueFilter,
        "status",
        "agreement_status",
        "category",
        "priority",
        "channel",
        ClientListFilter,
    )
    list_select_related = ("client", "assignee", "order")
    ordering = ("resolution_due", "id")
    search_fields = ("=requester_email",)
    search_help_text = "Ticket (T-123), customer name or e-mail, order number."
    raw_id_fields = ("order", "customer")
    list_per_page = 50
    paginator = BoundedCountPaginator
    actions = ["assign_to_me", "close_tickets"]
    change_form_template = "admin/support/ticket/change_form.html"
    change_list_template = "admin/support/ticket/change_list.html"

    @admin.display(description="ticket", ordering="id")
    def ref_link(self, obj):
        return obj.ref

    @admin.display(description="due", ordering="resolution_due")
    def due(self, obj):
        if obj.first_responded_at is None and obj.first_response_due:
            return f"reply by {timezone.localtime(obj.first_response_due):%Y-%m-%d %H:%M}"
        if obj.resolution_due:
            return f"resolve by {timezone.localtime(obj.resolution_due):%Y-%m-%d %H:%M}"
        return "–"

    @admin.display(description="order")
    def order_number(self, obj):
        return obj.order.number if obj.order_id else "–"

    def get_search_results(self, request, queryset, search_term):
        """``T-123``; else the union of tickets by requester e-mail, by the order number and
        by customer name/e-mail — each an indexed lookup (trigram index on customer names),
        combined as a UNION of ids, never an OR across JOINs (as the order search does)."""
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        match = _REF.match(term)
        if match:
            return queryset.filter(pk=int(match.group(1))), False
        ids = client_ids_for(request.user)
        customers = Customer.objects.filter(Q(name__icontains=term) | Q(email__iexact=term))
        orders = Order.objects.filter(number=term)
        if ids is not None:
            customers = customers.filter(client_id__in=ids)
            orders = orders.filter(client_id__in=ids)
        matches = (
            Ticket.objects.order_by()
            .filter(requester_email=term.lower())
            .values("id")
            .union(
                Ticket.objects.order_by().filter(order_id__in=orders.values("id")).values("id"),
                Ticket.objects.order_by()
                .filter(customer_id__in=customers.values("id"))
                .values("id"),
            )
        )
        return queryset.filter(id__in=matches), False

    # --- add = log a phone call; change page = the workstation --------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = PhoneCallForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*PhoneCallForm.Meta.fields, "body"]
        return [
            "client",
            "subject",
            "channel",
            "category",
            "priority",
            "status",
            "assignee",
            "requester_name",
            "requester_email",
            "customer",
            "order",
            "agreement_status",
            "first_response_due",
            "resolution_due",
            "first_responded_at",
            "on_hold_seconds",
            "first_reply_seconds",
            "next_reply_seconds",
            "requester_wait_seconds",
            "agent_work_seconds",
            "escalation_level",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return self.get_fields(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        try:
            ticket = services.ticket_create(
                client=data["client"],
                channel=Ticket.Channel.PHONE,
                subject=data["subject"],
                body=data["body"],
                requester_email=data.get("requester_email") or "",
                requester_name=data.get("requester_name") or "",
                customer=data.get("customer"),
                order=data.get("order"),
                category=data["category"],
                priority=data["priority"],
                user=request.user,
            )
        except SupportError as exc:
            raise PermissionDenied(str(exc)) from exc
        obj.pk = ticket.pk

    def save_related(self, request, form, formsets, change):
        return None

    def log_addition(self, request, obj, message):
        return None

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id:
            ticket = self.get_object(request, object_id)
            if ticket is not None and self.has_view_permission(request, ticket):
                extra_context.update(ticket_page_data(ticket))
                extra_context["ticket"] = ticket
                extra_context["moves"] = [
                    (status, S(status).label)
                    for status in sorted(services.TRANSITIONS[ticket.status])
                ]
                extra_context["macros"] = Macro.objects.filter(client_id=ticket.client_id)
                extra_context["can_work"] = self.has_change_permission(request, ticket)
            extra_context["show_save"] = False
            extra_context["show_save_and_continue"] = False
            extra_context["show_save_and_add_another"] = False
        return super().changeform_view(request, object_id, form_url, extra_context)

    # --- custom POST views -----------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("take-next/", wrap(self.take_next_view), name="support_ticket_take_next"),
            path("<int:pk>/work/", wrap(self.work_view), name="support_ticket_work"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = {"can_take_next": self.has_change_permission(request)}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def take_next_view(self, request):
        if request.method != "POST":
            return redirect("admin:support_ticket_changelist")
        if not self.has_change_permission(request):
            raise PermissionDenied
        ticket = services.ticket_take_next(
            user=request.user, client_ids=client_ids_for(request.user)
        )
        if ticket is None:
            messages.info(request, "No unassigned ticket is waiting. Well done.")
            return redirect("admin:support_ticket_changelist")
        messages.success(request, f"{ticket.ref} is yours.")
        return redirect("admin:support_ticket_change", ticket.pk)

    def work_view(self, request, pk: int):
        """Reply, note, canned reply, status move, take — one POST endpoint for the page."""
        if request.method != "POST":
            return redirect("admin:support_ticket_change", pk)
        ticket = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, ticket):
            raise PermissionDenied
        do = request.POST.get("do", "")
        body = request.POST.get("body", "")
        uploads = [
            services.Upload(f.name, f.content_type or "", f.read())
            for f in request.FILES.getlist("attachments")[:5]
        ]
        try:
            if do == "reply":
                status = request.POST.get("set_status") or None
                services.ticket_reply(
                    ticket=ticket, user=request.user, body=body, set_status=status, uploads=uploads
                )
                messages.success(request, "Reply sent to the customer.")
            elif do == "note":
                services.ticket_note(ticket=ticket, user=request.user, body=body, uploads=uploads)
                messages.success(request, "Note added.")
            elif do == "macro":
                macro = Macro.objects.filter(
                    client_id=ticket.client_id, pk=request.POST.get("macro") or 0
                ).first()
                if macro is None:
                    raise SupportError("Pick a canned reply.")
                services.ticket_apply_macro(ticket=ticket, macro=macro, user=request.user)
                messages.success(request, f"Canned reply '{macro.name}' sent.")
            elif do == "move":
                to = request.POST.get("to", "")
                if to not in S.values:
                    raise SupportError("Unknown status.")
                services.ticket_transition(ticket=ticket, to_status=to, user=request.user)
                messages.success(request, f"{ticket.ref} is now {S(to).label.lower()}.")
            elif do == "take":
                services.ticket_assign(ticket=ticket, assignee=request.user, user=request.user)
                messages.success(request, f"{ticket.ref} is yours.")
            else:
                raise SupportError("Unknown action.")
        except SupportError as exc:
            messages.error(request, str(exc))
        return redirect("admin:support_ticket_change", ticket.pk)

    # --- bulk actions ---------------------------------------------------------------------

    @admin.action(description="Assign to me", permissions=["change"])
    def assign_to_me(self, request, queryset):
        done, errors = services.tickets_bulk_assign(
            ticket_ids=queryset.values_list("pk", flat=True),
            assignee=request.user,
            user=request.user,
        )
        self._report(request, done, errors, "assigned to you")

    @admin.action(description="Close (supervisors)", permissions=["close"])
    def close_tickets(self, request, queryset):
        done, errors = services.tickets_bulk_close(
            ticket_ids=queryset.values_list("pk", flat=True), user=request.user
        )
        self._report(request, done, errors, "closed")

    def has_close_permission(self, request):
        ids = supervised_client_ids(request.user)  # checked again per ticket's client
        return ids is None or bool(ids)

    def _report(self, request, done, errors, what):
        if done:
            self.message_user(request, f"{done} ticket(s) {what}.", messages.SUCCESS)
        for error in errors[:10]:
            self.message_user(request, error, messages.ERROR)


@admin.register(TicketMessage)
class TicketMessageAdmin(ClientScopedAdmin):
    list_display = ("ticket", "kind", "author", "author_email", "created_at")
    list_filter = ("kind", ClientListFilter)
    list_select_related = ("ticket", "author")
    raw_id_fields = ("ticket",)
    readonly_fields = ("ticket", "client", "kind", "author", "author_email", "body", "message_id")
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SupervisorOnlyMixin:
    """Configuration rows (canned replies, SLA policies, support settings): supervisors of the
    row's client change them; the client choice lists only the clients they supervise."""

    def has_change_permission(self, request, obj=None):
        ok = super().has_change_permission(request, obj)
        if obj is not None:
            return ok and is_supervisor_for(request.user, obj.client_id)
        return ok

    def has_add_permission(self, request):
        ids = supervised_client_ids(request.user)
        return super().has_add_permission(request) and (ids is None or bool(ids))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "client" and formfield is not None:
            ids = supervised_client_ids(request.user)
            if ids is not None:
                formfield.queryset = formfield.queryset.filter(pk__in=ids)
        return formfield


@admin.register(Macro)
class MacroAdmin(SupervisorOnlyMixin, ClientScopedAdmin):
    list_display = ("name", "client", "set_status")
    list_filter = (ClientListFilter,)

    def save_model(self, request, obj, form, change):
        from support.rendering import TemplateRefused, compile_template

        try:
            compile_template(obj.body, html=False, part="body")
        except TemplateRefused as exc:
            raise PermissionDenied(str(exc)) from exc
        super().save_model(request, obj, form, change)


@admin.register(SLAPolicy)
class SLAPolicyAdmin(SupervisorOnlyMixin, ClientScopedAdmin):
    list_display = ("client", "priority", "first_response_hours", "resolution_hours")
    list_filter = (ClientListFilter, "priority")


@admin.register(SupportSettings)
class SupportSettingsAdmin(SupervisorOnlyMixin, ClientScopedAdmin):
    list_display = ("client", "inbound_address", "account_owner", "at_risk_share")
    raw_id_fields = ("account_owner",)


class InboxFilter(admin.SimpleListFilter):
    title = "inbox"
    parameter_name = "inbox"

    def lookups(self, request, model_admin):
        return [("mine", "My inbox (open)"), ("open", "All open")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(inbox__user=request.user, inbox__done_at__isnull=True)
        if self.value() == "open":
            return queryset.filter(closed_at__isnull=True)
        return queryset


@admin.register(Escalation)
class EscalationAdmin(ClientScopedAdmin):
    """The escalation inbox: ``?inbox=mine`` is what the header's count links to."""

    list_display = (
        "ticket_link",
        "trigger",
        "from_level",
        "to_level",
        "why",
        "created_at",
        "acknowledged_by",
        "closed_at",
    )
    list_filter = (InboxFilter, "trigger", "to_level", ClientListFilter)
    list_select_related = ("ticket", "acknowledged_by")
    actions = ["acknowledge"]
    readonly_fields = (
        "ticket",
        "trigger",
        "from_level",
        "to_level",
        "why",
        "created_at",
        "acknowledged_by",
        "acknowledged_at",
        "closed_at",
    )
    fields = readonly_fields

    @admin.display(description="ticket")
    def ticket_link(self, obj):
        url = reverse("admin:support_ticket_change", args=[obj.ticket_id])
        return format_html('<a href="{}">T-{} {}</a>', url, obj.ticket_id, obj.ticket.subject)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Acknowledge (take the ticket over)", permissions=["change"])
    def acknowledge(self, request, queryset):
        done = 0
        for e in queryset.order_by("pk"):
            try:
                escalation_acknowledge(escalation=e, user=request.user)
                done += 1
            except SupportError as exc:
                self.message_user(request, f"T-{e.ticket_id}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} escalation(s) acknowledged.", messages.SUCCESS)
