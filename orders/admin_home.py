"""The orders' panels on the admin home page (``core.signals.home_page_panels``): the agent's
own work with the take-next button, the work queues' counts, what is due today and the notes
that mention them.

Fast at a million orders: every count is bounded (``COUNT`` over at most ``COUNT_LIMIT + 1``
rows, each through the work queue's partial index; shown as "1,000+" beyond), every list is
a ``LIMIT`` in queue order, and the mentions look at the latest ``RECENT_EVENTS`` timeline
entries only (by primary key). About fifteen queries, none growing with the backlog.
"""

from __future__ import annotations

from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone

from core.signals import home_page_panels
from orders import selectors
from orders.admin_display import due_text
from orders.admin_queue import WorkQueueFilter
from orders.models import Order, OrderEvent

COUNT_LIMIT = 1000
LIST_LIMIT = 8
RECENT_EVENTS = 50_000
HOME_QUEUES = (
    ("mine", "My orders"),
    ("unassigned", "Unassigned"),
    ("due_today", "Due today"),
    ("overdue", "Overdue"),
    ("at_risk", "At risk"),
    ("backordered", "Backordered"),
    ("on_hold", "On hold"),
    ("expedited", "Expedited"),
    ("exceptions", "Carrier exceptions"),
)


def bounded_count(queryset, limit: int | None = None) -> tuple[int, bool]:
    """``(count, more)``: the rows up to ``limit`` (``COUNT_LIMIT``), and whether there are
    more."""
    limit = COUNT_LIMIT if limit is None else limit
    n = queryset.order_by().values("pk")[: limit + 1].count()
    return min(n, limit), n > limit


def queue_queryset(request, value: str):
    queue = WorkQueueFilter(request, {"queue": [value]}, Order, None)
    return queue.queryset(request, selectors.orders_visible_to(request.user))


def _rows(queryset) -> list[dict]:
    return [
        {
            "order": order,
            "url": reverse("admin:orders_order_change", args=[order.pk]),
            "due": due_text(order),
        }
        for order in queryset.select_related("client", "customer")[:LIST_LIMIT]
    ]


def _may_work(request) -> bool:
    return request.user.has_perm("orders.change_order") and request.user.has_perm(
        "orders.view_order"
    )


@receiver(home_page_panels, dispatch_uid="orders_my_work")
def my_work_panel(sender, request, **kwargs):
    if not _may_work(request):
        return None
    mine = queue_queryset(request, "mine").order_by("-priority_score", "id")
    count, more = bounded_count(mine)
    return {
        "id": "my-work",
        "title": "My work",
        "order": 10,
        "template": "admin/orders/home/my_work.html",
        "context": {
            "count": count,
            "more": more,
            "rows": _rows(mine),
            "can_add": request.user.has_perm("orders.add_order"),
            "queue_url": reverse("admin:orders_order_changelist") + "?queue=mine",
        },
    }


@receiver(home_page_panels, dispatch_uid="orders_queues")
def queues_panel(sender, request, **kwargs):
    if not _may_work(request):
        return None
    changelist = reverse("admin:orders_order_changelist")
    queues = []
    for value, title in HOME_QUEUES:
        count, more = bounded_count(queue_queryset(request, value))
        queues.append(
            {
                "value": value,
                "title": title,
                "count": count,
                "more": more,
                "url": f"{changelist}?queue={value}",
            }
        )
    return {
        "id": "queues",
        "title": "Work queues",
        "order": 20,
        "template": "admin/orders/home/queues.html",
        "context": {"queues": queues, "limit": COUNT_LIMIT},
    }


@receiver(home_page_panels, dispatch_uid="orders_due_today")
def due_today_panel(sender, request, **kwargs):
    if not _may_work(request):
        return None
    due = queue_queryset(request, "due_today").order_by("ship_by", "id")
    count, more = bounded_count(due)
    return {
        "id": "due-today",
        "title": "Due today",
        "order": 30,
        "template": "admin/orders/home/due_today.html",
        "context": {
            "count": count,
            "more": more,
            "rows": _rows(due),
            "queue_url": reverse("admin:orders_order_changelist") + "?queue=due_today",
        },
    }


def notes_mentioning(user, limit: int = LIST_LIMIT) -> list[OrderEvent]:
    """Notes that mention ``@username`` among the latest timeline entries, newest first, of
    the user's clients only."""
    latest = OrderEvent.objects.order_by("-id").values_list("id", flat=True).first()
    if latest is None:
        return []
    events = OrderEvent.objects.filter(
        id__gt=latest - RECENT_EVENTS,
        kind=OrderEvent.Kind.NOTE,
        message__icontains=f"@{user.get_username()}",
    ).exclude(user=user)
    visible = selectors.orders_visible_to(user).values("id")
    if not user.is_superuser:
        events = events.filter(order_id__in=visible)
    return list(events.select_related("order", "user").order_by("-id")[:limit])


@receiver(home_page_panels, dispatch_uid="orders_mentions")
def mentions_panel(sender, request, **kwargs):
    if not request.user.has_perm("orders.view_order"):
        return None
    notes = [
        {
            "event": event,
            "url": reverse("admin:orders_order_change", args=[event.order_id]),
            "ago": timezone.now() - event.created_at,
        }
        for event in notes_mentioning(request.user)
    ]
    return {
        "id": "mentions",
        "title": "Notes mentioning you",
        "order": 40,
        "template": "admin/orders/home/mentions.html",
        "context": {"notes": notes, "username": request.user.get_username()},
    }
