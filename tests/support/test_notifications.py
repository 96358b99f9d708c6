"""Every event sends the right template with the right values, exactly once; opt-out, the
delay-notice rate limit, quiet hours, language fallback, retries and failures."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db.models import DateField, Value
from django.utils import timezone

from fulfillment import services as fulfillment
from fulfillment.tracking_input import EventInput
from orders import services as order_services
from orders.models import OrderEvent
from support import selectors, services, tasks
from support.models import Event, Notification, NotificationPolicy, NotificationTemplate
from tests.support.conftest import quiet_policy

N = Notification.Status


def sent(event):
    return Notification.objects.filter(event=event, status=N.SENT)


def test_confirmed_on_first_allocation(shop, make_order, run_commit, mailoutbox):
    with run_commit():
        order = make_order(shop.client, [(shop.stocked, 2)], customer=shop.customer)
    n = Notification.objects.get(order=order)
    assert (n.event, n.status, n.attempts, n.recipient) == (
        Event.CONFIRMED,
        N.SENT,
        1,
        "ada@example.com",
    )
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.subject == f"Your order {order.number} is confirmed"
    assert mail.to == ["ada@example.com"]
    assert mail.body.startswith("Hello Ada,")
    assert "2 × Blue mug" in mail.body
    token_url = mail.body.split("Track your order: ")[1].split()[0]
    # The link names the order by its random public id, never by its sequential id.
    token = token_url.split("/track/")[1]
    public_id = order.tracking_link.public_id
    assert token.startswith(f"{public_id}.") and len(public_id) >= 16
    assert not token.startswith(f"{order.pk}.")
    html = mail.alternatives[0][0]
    assert f"<strong>{order.number}</strong>" in html
    assert n.body_text == mail.body  # the body as sent
    timeline = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.NOTIFICATION)
    assert "Order confirmed" in timeline.message and "a***@example.com" in timeline.message


def test_backorder_without_date_gets_delay_notice_with_revised_date_and_cancel_link(
    shop, make_order, run_commit, mailoutbox
):
    ship_by = timezone.now() + timedelta(days=2)
    with run_commit():
        order = make_order(shop.client, [(shop.scarce, 1)], customer=shop.customer, ship_by=ship_by)
    assert order.status == "backordered"
    events = sorted(Notification.objects.filter(order=order).values_list("event", flat=True))
    assert events == [Event.CONFIRMED, Event.DELAY]  # the delay notice replaces "backordered"
    delay = Notification.objects.get(order=order, event=Event.DELAY)
    ship_date = ship_by.astimezone(ZoneInfo("Europe/Berlin")).date()
    revised = ship_date + timedelta(days=7)
    assert delay.announces == f"ship:{revised.isoformat()}"
    assert revised.strftime("%-d %B") in delay.subject
    assert "/cancel/" in delay.body_text
    assert "An item you ordered is out of stock." in delay.body_text
    assert delay.status == N.SENT


def test_backorder_with_expected_date_in_time_gets_backorder_notice(
    shop, make_order, run_commit, monkeypatch
):
    soon = timezone.now().date() + timedelta(days=1)
    monkeypatch.setattr(
        selectors, "expected_availability", lambda: Value(soon, output_field=DateField())
    )
    with run_commit():
        order = make_order(
            shop.client,
            [(shop.scarce, 1)],
            customer=shop.customer,
            ship_by=timezone.now() + timedelta(days=5),
        )
    assert set(Notification.objects.filter(order=order).values_list("event", flat=True)) == {
        Event.CONFIRMED,
        Event.BACKORDERED,
    }


def test_shipped_out_for_delivery_delivered(
    shop, make_order, rates, to_status, run_commit, mailoutbox
):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    to_status(order, "packed")
    with run_commit():
        shipment = fulfillment.shipment_create(
            order=order, service=rates.ground, tracking_number="1Z0001"
        )
    shipped = sent(Event.SHIPPED).get(order=order)
    assert shipped.announces == f"shipment:{shipment.pk}"
    assert "SwiftParcel (tracking number 1Z0001)" in shipped.body_text
    assert "https://track.swift.example/t/1Z0001" in shipped.body_text
    assert shipment.eta.strftime("%-d %B") in shipped.body_text
    now = timezone.now()
    with run_commit():
        fulfillment.tracking_events_ingest(
            carrier=rates.swift,
            events=[
                EventInput("1Z0001", "out_for_delivery", now - timedelta(minutes=5)),
                EventInput("1Z0001", "delivered", now),
            ],
            source="webhook",
        )
    assert sent(Event.OUT_FOR_DELIVERY).get(order=order).subject == (
        f"Your order {order.number} arrives today"
    )
    assert (
        sent(Event.DELIVERED).get(order=order).subject == f"Your order {order.number} was delivered"
    )
    # The same carrier file again: nothing new.
    with run_commit():
        fulfillment.tracking_events_ingest(
            carrier=rates.swift,
            events=[EventInput("1Z0001", "out_for_delivery", now - timedelta(minutes=5))],
            source="csv",
        )
    assert Notification.objects.filter(order=order).count() == 3


def test_delivery_exception_names_the_reason(shop, make_order, rates, to_status, run_commit):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    to_status(order, "packed")
    fulfillment.shipment_create(order=order, service=rates.ground, tracking_number="1Z0002")
    with run_commit():
        fulfillment.tracking_events_ingest(
            carrier=rates.swift,
            events=[
                EventInput("1Z0002", "exception", timezone.now(), description="Address not found")
            ],
            source="webhook",
        )
    n = sent(Event.EXCEPTION).get(order=order)
    assert "SwiftParcel reported a problem" in n.body_text
    assert "Address not found" in n.body_text


def test_cancelled(shop, make_order, run_commit):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    with run_commit():
        order_services.order_cancel(order=order, reason="customer called")
    assert (
        sent(Event.CANCELLED).get(order=order).subject == f"Your order {order.number} was cancelled"
    )


def test_exactly_once_under_retried_tasks_and_double_signals(
    shop, make_order, mailoutbox, sync_tasks
):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    changes = [(order.pk, "new", "ready")]
    first = services.status_changes_handle(changes=changes)
    again = services.status_changes_handle(changes=changes)  # the same signal twice
    assert (first.queued, again.queued, again.skipped) == (1, 0, 1)
    n = Notification.objects.get(order=order)
    assert tasks.send_notification(n.pk) == N.SENT
    assert tasks.send_notification(n.pk) == "nothing to send"  # a retried task
    assert len(mailoutbox) == 1
    n.refresh_from_db()
    assert n.attempts == 1


def test_idempotency_key_is_enforced_by_the_database(shop, make_order):
    from django.db import IntegrityError, transaction

    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.DELIVERED)])
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(
            client=shop.client, order=order, event=Event.DELIVERED, announces=""
        )


def test_opt_out_suppresses_informational_mail_but_not_transactional(
    shop, make_order, make_customer, mailoutbox, sync_tasks
):
    customer = make_customer(shop.client, notifications_opt_out=True)
    order = make_order(shop.client, [(shop.stocked, 1)], customer=customer)
    report = services.notifications_queue(
        requests=[
            services.NotificationRequest(order.pk, Event.CONFIRMED),
            services.NotificationRequest(order.pk, Event.DELIVERED),
        ]
    )
    assert (report.queued, report.suppressed) == (1, 1)
    delivered = Notification.objects.get(order=order, event=Event.DELIVERED)
    assert delivered.status == N.SUPPRESSED
    assert "opted out" in delivered.last_error
    assert OrderEvent.objects.filter(
        order=order, kind=OrderEvent.Kind.NOTIFICATION, message__contains="opted out"
    ).exists()
    policy = NotificationPolicy.objects.get(client=shop.client)
    policy.opt_out_covers_transactional = True
    policy.save()
    report = services.notifications_queue(
        requests=[services.NotificationRequest(order.pk, Event.CANCELLED)]
    )
    assert report.suppressed == 1


def test_customer_without_address_is_suppressed(shop, make_order, make_customer):
    customer = make_customer(shop.client, email="")
    order = make_order(shop.client, [(shop.stocked, 1)], customer=customer)
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.CONFIRMED)])
    assert Notification.objects.get(order=order).status == N.SUPPRESSED


def test_at_most_one_delay_notice_per_period(shop, make_order):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    now = timezone.now()

    def notice(day, at):
        return services.notifications_queue(
            requests=[
                services.NotificationRequest(
                    order.pk,
                    Event.DELAY,
                    f"ship:2030-01-{day:02d}",
                    (("revised_date", now.date()),),
                )
            ],
            now=at,
        )

    assert notice(1, now).queued == 1
    assert notice(2, now + timedelta(hours=23)).skipped == 1  # within 24 h: not now
    Notification.objects.filter(order=order).update(created_at=now - timedelta(hours=25))
    assert notice(2, now).queued == 1  # later: the new date goes out
    assert notice(2, now + timedelta(days=3)).skipped == 1  # once per revised date


def test_quiet_hours_hold_non_urgent_mail_until_morning(shop, make_order, mailoutbox, sync_tasks):
    quiet_policy(shop.client, time(21, 0), time(8, 0))
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    berlin = ZoneInfo("Europe/Berlin")
    late_evening = datetime(2026, 12, 1, 23, 30, tzinfo=berlin)
    report = services.notifications_queue(
        requests=[
            services.NotificationRequest(order.pk, Event.CONFIRMED),
            services.NotificationRequest(order.pk, Event.OUT_FOR_DELIVERY, "shipment:1"),
        ],
        now=late_evening,
    )
    assert (report.queued, report.held) == (2, 1)
    held = Notification.objects.get(order=order, event=Event.CONFIRMED)
    assert held.send_after == datetime(2026, 12, 2, 8, 0, tzinfo=berlin)
    assert report.notification_ids == [
        Notification.objects.get(order=order, event=Event.OUT_FOR_DELIVERY).pk
    ]  # the urgent one goes at once
    assert services.notification_send(notification_id=held.pk, now=late_evening) is None
    assert services.notifications_flush(now=late_evening) == 0  # nothing due, nothing lost
    morning = datetime(2026, 12, 2, 8, 1, tzinfo=berlin)
    urgent = Notification.objects.get(order=order, event=Event.OUT_FOR_DELIVERY)
    services.notification_send(notification_id=urgent.pk, now=late_evening)
    assert services.notifications_flush(now=morning) == 1  # the held one, its wait cleared
    held.refresh_from_db()
    assert held.send_after is None
    assert services.notification_send(notification_id=held.pk, now=morning).status == N.SENT


def test_flush_reenqueues_lost_tasks_once_they_are_late(shop, make_order, monkeypatch):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.CONFIRMED)])
    now = timezone.now()
    assert services.notifications_flush(now=now) == 0
    assert services.notifications_flush(now=now + services.LOST_AFTER + timedelta(minutes=1)) == 1


def test_language_fallback_and_client_templates(shop, make_order, mailoutbox, sync_tasks):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    policy = NotificationPolicy.objects.get(client=shop.client)
    policy.default_language = "de"
    policy.save()
    NotificationTemplate.objects.create(
        client=shop.client,
        event=Event.CONFIRMED,
        language="de",
        subject="Bestellung {{ order_number }} bestätigt",
        body_text="Hallo {{ customer_first_name }}",
    )
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.CONFIRMED)])
    n = Notification.objects.get(order=order)
    assert (n.subject, n.body_text, n.body_html, n.language) == (
        f"Bestellung {order.number} bestätigt",
        "Hallo Ada",
        "",
        "de",
    )
    # No German template for "delivered": the shipped default.
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.DELIVERED)])
    assert Notification.objects.get(order=order, event=Event.DELIVERED).language == "en"


def test_switched_off_template_suppresses(shop, make_order):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    NotificationTemplate.objects.create(
        client=shop.client, event=Event.DELIVERED, subject="x", body_text="y", active=False
    )
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.DELIVERED)])
    assert Notification.objects.get(order=order).status == N.SUPPRESSED


def _queued(shop, order):
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.CONFIRMED)])
    return Notification.objects.get(order=order)


def test_transient_errors_retry_with_backoff_then_fail(shop, make_order, settings):
    settings.EMAIL_BACKEND = "tests.support.backends.TransientFailBackend"
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    n = _queued(shop, order)
    now = timezone.now()
    for attempt in range(1, services.MAX_ATTEMPTS):
        n = services.notification_send(notification_id=n.pk, now=now)
        assert (n.status, n.attempts) == (N.QUEUED, attempt)
        assert n.send_after == now + timedelta(minutes=2**attempt)
        assert "SMTPServerDisconnected" in n.last_error
        assert services.notification_send(notification_id=n.pk, now=now) is None  # backing off
        now = n.send_after
    n = services.notification_send(notification_id=n.pk, now=now)
    assert (n.status, n.attempts) == (N.FAILED, services.MAX_ATTEMPTS)
    assert OrderEvent.objects.filter(order=order, message__contains="failed").exists()


def test_greylisting_is_transient_unknown_mailbox_is_permanent(shop, make_order, settings):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    n = _queued(shop, order)
    settings.EMAIL_BACKEND = "tests.support.backends.GreylistBackend"
    assert services.notification_send(notification_id=n.pk).status == N.QUEUED
    settings.EMAIL_BACKEND = "tests.support.backends.PermanentFailBackend"
    n = services.notification_send(notification_id=n.pk, now=timezone.now() + timedelta(hours=1))
    assert (n.status, n.attempts) == (N.FAILED, 2)
    assert "550" in n.last_error


def test_failed_notification_can_be_retried(shop, make_order, settings, mailoutbox):
    settings.EMAIL_BACKEND = "tests.support.backends.PermanentFailBackend"
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    n = _queued(shop, order)
    services.notification_send(notification_id=n.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    services.notification_retry(notification=n)
    assert services.notification_send(notification_id=n.pk).status == N.SENT


def test_bulk_status_changes_enqueue_per_batch_not_per_order(
    shop, make_product, make_customer, monkeypatch, django_capture_on_commit_callbacks
):
    """An import of many orders: the receiver costs one task per 1,000 orders, on commit."""
    from orders.services import LineInput, OrderInput, orders_create_batch
    from support import receivers

    calls = []
    monkeypatch.setattr(
        receivers, "enqueue_many", lambda func, args, **kw: calls.append((func, len(args)))
    )
    inputs = [
        OrderInput(
            number=f"BULK-{i}",
            lines=[LineInput(product=shop.stocked, quantity=1)],
            customer=shop.customer,
        )
        for i in range(60)
    ]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        orders_create_batch(client=shop.client, inputs=inputs)
        assert calls == []  # nothing before the commit
    assert calls == [("support.tasks.handle_status_changes", 1)]
    assert len(callbacks) == 1
