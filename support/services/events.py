"""What happened → what to send: order status moves, shipments, carrier events and the delay scan
turned into notification requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from orders.models import Order
from support.models import (
    Event,
)
from support.selectors import (
    DelayFinding,
    delay_scan,
)
from support.services.queueing import NotificationRequest, QueueReport, notifications_queue
from support.services.templates import shipment_values


# -- what happened → what to send ------------------------------------------------------------
def delay_notices_queue(
    *, now: datetime | None = None, order_ids: Iterable[int] | None = None
) -> QueueReport:
    """Run the delay scan (all open orders, or ``order_ids``) and queue a delay notice with
    the revised date and the cancel link for each order found — once per revised date, at
    most one per order per the client's interval."""
    findings = delay_scan(now=now, order_ids=order_ids)
    return notifications_queue(requests=[delay_request(f) for f in findings], now=now)


def delay_request(f: DelayFinding) -> NotificationRequest:
    return NotificationRequest(
        order_id=f.order_id,
        event=Event.DELAY,
        announces=f.announces,
        values=(
            ("revised_date", f.revised_date),
            ("revised_kind", f.revised_kind),
            ("delay_reason", f.reason),
        ),
    )


def status_changes_handle(*, changes: list[tuple[int, str, str]]) -> QueueReport:
    """Turn order status moves into notifications: confirmed (first allocation), delay notice
    or backordered, delivered, cancelled. (Shipped comes from the shipment, with its carrier.)"""
    S = Order.Status
    requests: list[NotificationRequest] = []
    backordered: list[int] = []
    for order_id, from_status, to_status in changes:
        if from_status == S.NEW and to_status in (S.READY, S.BACKORDERED):
            requests.append(NotificationRequest(order_id, Event.CONFIRMED))
        if to_status == S.BACKORDERED:
            backordered.append(order_id)
        elif to_status == S.DELIVERED:
            requests.append(NotificationRequest(order_id, Event.DELIVERED))
        elif to_status == S.CANCELLED:
            requests.append(NotificationRequest(order_id, Event.CANCELLED))
    if backordered:
        # A backorder that makes the order late gets the delay notice (revised date, cancel
        # link) instead of the plain backorder notice: one e-mail, not two.
        late = delay_scan(order_ids=backordered)
        requests.extend(delay_request(f) for f in late)
        late_ids = {f.order_id for f in late}
        requests.extend(
            NotificationRequest(i, Event.BACKORDERED) for i in backordered if i not in late_ids
        )
    return notifications_queue(requests=requests)


def shipment_created_handle(*, shipment_id: int) -> QueueReport:
    """The shipped e-mail (carrier, tracking number and link, ETA), once per shipment; and a
    delay notice if the carrier's ETA is after the promised delivery."""
    from fulfillment.models import Shipment

    shipment = Shipment.objects.select_related("carrier").filter(pk=shipment_id).first()
    if shipment is None:
        return QueueReport()
    values = shipment_values(shipment)
    report = notifications_queue(
        requests=[
            NotificationRequest(
                shipment.order_id,
                Event.SHIPPED,
                f"shipment:{shipment.pk}",
                tuple(values.items()),
            )
        ]
    )
    late = delay_notices_queue(order_ids=[shipment.order_id])
    report.queued += late.queued
    return report


def tracking_events_handle(*, events: list[tuple[int, int, int, str]]) -> QueueReport:
    """Out for delivery and delivery exceptions (once per shipment and event)."""
    from fulfillment.models import PROBLEM_STATUSES, Shipment, TrackingEvent, TrackingStatus

    relevant = [
        e for e in events if e[3] == TrackingStatus.OUT_FOR_DELIVERY or e[3] in PROBLEM_STATUSES
    ]
    if not relevant:
        return QueueReport()
    shipments = Shipment.objects.select_related("carrier").in_bulk({e[1] for e in relevant})
    descriptions = dict(
        TrackingEvent.objects.filter(pk__in=[e[0] for e in relevant]).values_list(
            "pk", "description"
        )
    )
    requests = []
    for event_id, shipment_id, order_id, status in relevant:
        values = shipment_values(shipments.get(shipment_id))
        if status == TrackingStatus.OUT_FOR_DELIVERY:
            requests.append(
                NotificationRequest(
                    order_id,
                    Event.OUT_FOR_DELIVERY,
                    f"shipment:{shipment_id}",
                    tuple(values.items()),
                )
            )
        else:
            reason = descriptions.get(event_id) or TrackingStatus(status).label.lower()
            values["exception_reason"] = reason
            requests.append(
                NotificationRequest(
                    order_id, Event.EXCEPTION, f"event:{event_id}", tuple(values.items())
                )
            )
    report = notifications_queue(requests=requests)
    # A carrier problem may come with a later ETA: look at these orders now, not in an hour.
    report.queued += delay_notices_queue(order_ids={e[2] for e in relevant}).queued
    return report


def delay_notices_for_products(*, product_ids: Iterable[int]) -> QueueReport:
    """Expected supply of these products moved: re-check the orders waiting for them."""
    from orders.models import OrderLine

    order_ids = set(
        OrderLine.objects.filter(
            product_id__in=list(product_ids),
            qty_backordered__gt=0,
            order__status=Order.Status.BACKORDERED,
        ).values_list("order_id", flat=True)
    )
    return delay_notices_queue(order_ids=order_ids) if order_ids else QueueReport()
