"""Billing reads: the order page panel, accounts receivable, exports (all client-scoped)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone

from billing.models import Invoice, Payment
from clients.scoping import is_supervisor_for, scope_queryset
from orders.models import Order


def order_billing_panel(*, order: Order, user) -> dict:
    balance = order.total - order.amount_paid
    return {
        "id": "order-billing",
        "title": "Invoices and payments",
        "template": "billing/panels/order_billing.html",
        "context": {
            "order": order,
            "balance": balance,
            "overpaid": -balance,
            "invoices": list(Invoice.objects.filter(order=order).order_by("issued_at", "pk")),
            "payments": list(Payment.objects.filter(order=order).order_by("received_at", "pk")),
            "can_supervise": is_supervisor_for(user, order.client_id),
            "gated_hold": order.status == Order.Status.ON_HOLD
            and order.hold_type in (Order.HoldType.PAYMENT, Order.HoldType.CREDIT),
        },
    }


def invoices_visible_to(user) -> QuerySet[Invoice]:
    return scope_queryset(Invoice.objects.all(), user)


def payments_visible_to(user) -> QuerySet[Payment]:
    return scope_queryset(Payment.objects.all(), user)


def open_invoices(user) -> QuerySet[Invoice]:
    return (
        invoices_visible_to(user)
        .filter(kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED)
        .annotate(
            credited=Sum(
                "credit_notes__total", filter=Q(credit_notes__status=Invoice.Status.ISSUED)
            )
        )
        .exclude(amount_paid__gte=F("total"))
        .select_related("client", "customer", "order")
        .order_by("due_on", "pk")
    )


def receivables(user, *, today: dt.date | None = None) -> dict:
    """Open invoices with days past due, and the balance per customer."""
    today = today or timezone.localdate()
    rows = []
    per_customer: dict[tuple, Decimal] = {}
    for inv in open_invoices(user)[:2000]:
        open_amount = inv.total - inv.amount_paid - (inv.credited or Decimal("0"))
        if open_amount <= 0:
            continue
        days = (today - inv.due_on).days if inv.due_on else 0
        rows.append({"invoice": inv, "open": open_amount, "days_overdue": max(days, 0)})
        key = (inv.client.code, inv.customer.name if inv.customer_id else "(no customer)")
        per_customer[key] = per_customer.get(key, Decimal("0")) + open_amount
    return {
        "rows": rows,
        "overdue": [r for r in rows if r["days_overdue"] > 0],
        "per_customer": sorted(per_customer.items(), key=lambda kv: -kv[1]),
    }
