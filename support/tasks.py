"""django-q2 entry points: thin, idempotent, safe to retry (ids in, one service each)."""

from support import services


def send_notification(notification_id: int) -> str:
    """Send one notification (a no-op if it is no longer queued)."""
    n = services.notification_send(notification_id=notification_id)
    return n.status if n is not None else "nothing to send"


def handle_status_changes(changes: list) -> int:
    report = services.status_changes_handle(changes=[tuple(c) for c in changes])
    return report.queued


def handle_shipment_created(shipment_id: int) -> int:
    return services.shipment_created_handle(shipment_id=shipment_id).queued


def handle_tracking_events(events: list) -> int:
    return services.tracking_events_handle(events=[tuple(e) for e in events]).queued


def scan_delays() -> int:
    """Periodic: delay notices for open orders that will miss (or missed) their promise."""
    return services.delay_notices_queue().queued


def flush_notifications() -> int:
    """Periodic: enqueue notifications whose quiet hours or retry back-off are over."""
    return services.notifications_flush()


def scan_delays_for_products(product_ids: list) -> int:
    """Expected supply moved: delay notices for the orders waiting for these products."""
    return services.delay_notices_for_products(product_ids=product_ids).queued


def send_escalation_emails(escalation_ids: list) -> int:
    from support.escalation import escalation_email_send

    return sum(escalation_email_send(escalation_id=pk) for pk in escalation_ids)


def scan_escalations() -> dict:
    from support.escalation import escalations_scan

    return escalations_scan()
