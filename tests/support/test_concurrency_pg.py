"""Exactly once under real concurrency (PostgreSQL, real threads): several workers running the
same send task, and several receivers queueing the same notification, at the same instant."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import pytest
from django.core import mail
from django.db import connection

from support import services
from support.models import Event, Notification

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks under real concurrency need PostgreSQL (set DATABASE_URL); "
        "SQLite serialises every writer",
    ),
]

WORKERS = 6


def _run_threads(workers: list[Callable[[], None]]) -> list[str]:
    barrier = threading.Barrier(len(workers), timeout=60)
    errors: list[str] = []

    def run(work):
        try:
            barrier.wait()
            work()
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_same_notification_sent_once_by_concurrent_workers(shop, make_order, mailoutbox):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    services.notifications_queue(requests=[services.NotificationRequest(order.pk, Event.CONFIRMED)])
    n = Notification.objects.get(order=order)
    results = []
    errors = _run_threads(
        [
            lambda: results.append(services.notification_send(notification_id=n.pk))
            for _ in range(WORKERS)
        ]
    )
    assert errors == []
    assert len(mail.outbox) == 1
    assert sum(1 for r in results if r is not None) == 1
    n.refresh_from_db()
    assert (n.status, n.attempts) == ("sent", 1)


@pytest.mark.django_db(transaction=True)
def test_same_notification_queued_once_by_concurrent_receivers(shop, make_order):
    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    changes = [(order.pk, "new", "ready"), (order.pk, "ready", "cancelled")]
    errors = _run_threads(
        [lambda: services.status_changes_handle(changes=changes) for _ in range(WORKERS)]
    )
    assert errors == []
    assert sorted(Notification.objects.filter(order=order).values_list("event", flat=True)) == [
        Event.CANCELLED,
        Event.CONFIRMED,
    ]
