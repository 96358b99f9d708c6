"""The agent's queue in the admin: work-queue filters, the changelist's row totals, the form
bulk actions ask for a reason or an agent with."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.utils import timezone

from orders import selectors
from orders.admin_actions import OrderAction
from orders.models import CLOSED_STATUSES, ImportedOrder, Order

User = get_user_model()


def agents_for_clients(client_ids) -> forms.QuerySet:
    qs = User.objects.filter(is_active=True)
    if client_ids is not None:
        qs = qs.filter(memberships__client_id__in=client_ids).distinct()
    return qs.order_by("username")


class WorkQueueFilter(admin.SimpleListFilter):
    """The agent's work queues. With nothing chosen, the queue is every open order."""

    title = "work queue"
    parameter_name = "queue"
    default = "open"

    def lookups(self, request, model_admin):
        return (
            ("open", "All open"),
            ("mine", "My orders"),
            ("unassigned", "Unassigned"),
            ("due_today", "Due today"),
            ("overdue", "Overdue"),
            ("at_risk", "At risk"),
            ("backordered", "Backordered"),
            ("on_hold", "On hold"),
            ("expedited", "Expedited"),
            ("exceptions", "Carrier exceptions"),
            ("closed", "Closed"),
            ("all", "Everything"),
        )

    def choices(self, changelist):
        current = self.value() or self.default
        for value, title in self.lookup_choices:
            yield {
                "selected": current == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or self.default
        now = timezone.now()
        open_qs = queryset.exclude(status__in=CLOSED_STATUSES)
        if value == "all":
            return queryset
        if value == "closed":
            return queryset.filter(status__in=CLOSED_STATUSES)
        if value == "mine":
            return open_qs.filter(assigned_to=request.user)
        if value == "unassigned":
            return open_qs.filter(assigned_to__isnull=True)
        if value == "due_today":
            start, end = selectors.today_bounds(now)
            return open_qs.filter(ship_by__gte=start, ship_by__lt=end)
        if value == "overdue":
            return open_qs.filter(ship_by__lt=now)
        if value == "at_risk":
            return open_qs.filter(segment=Order.Segment.AT_RISK)
        if value == "backordered":
            return queryset.filter(status=Order.Status.BACKORDERED)
        if value == "on_hold":
            return queryset.filter(status=Order.Status.ON_HOLD)
        if value == "expedited":
            return open_qs.filter(expedite=True)
        if value == "exceptions":
            return queryset.filter(exception_flag=True)
        return open_qs


class ImportJobFilter(admin.SimpleListFilter):
    """``?import_job=<id>``: exactly the orders that import created (the import page's "Open
    the orders it created" link). In the sidebar only while it is on (to see and clear it)."""

    title = "import"
    parameter_name = "import_job"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"Import job {value}")] if value else []

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not str(value).isdigit():
            return queryset.none()
        return queryset.filter(
            pk__in=ImportedOrder.objects.filter(job_id=int(value)).values("order_id")
        )


class OrderChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        qs = super().get_queryset(request, exclude_parameters)
        return selectors.with_line_totals(qs)


class ActionForm(forms.Form):
    hold_type = forms.ChoiceField(
        label="Hold reason",
        choices=[("", "Choose a reason…"), *Order.HoldType.choices],
        required=False,
    )
    reason = forms.CharField(max_length=255, required=False, widget=forms.TextInput())
    agent = forms.ModelChoiceField(queryset=User.objects.none(), required=False)

    def __init__(self, *args, action: OrderAction, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.action = action
        if action.needs_hold_type:
            self.fields["hold_type"].required = True
            self.fields["reason"].label = "Detail"
            self.fields["reason"].help_text = "Required for “Other”; optional otherwise."
        else:
            del self.fields["hold_type"]
        if action.needs_reason:
            self.fields["reason"].required = True
        elif not action.needs_hold_type:
            del self.fields["reason"]
        if action.needs_agent:
            self.fields["agent"].queryset = agents
            self.fields["agent"].required = True
        else:
            del self.fields["agent"]

    def clean(self):
        data = super().clean()
        if data.get("hold_type") == Order.HoldType.OTHER and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the order is put on hold.")
        return data
