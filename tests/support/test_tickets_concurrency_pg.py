"""Tickets under real concurrency (PostgreSQL, real threads): agents pressing Take next ticket
at the same instant get different tickets; two scans at once escalate each ticket once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from support import tickets as svc
from support.escalation import escalations_scan
from support.models import Escalation, InboxEntry, Ticket
from tests.support.test_concurrency_pg import _run_threads

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks under real concurrency need PostgreSQL (set DATABASE_URL); "
        "SQLite serialises every writer",
    ),
]
AGENTS = 6


@pytest.mark.django_db(transaction=True)
def test_take_next_ticket_gives_each_agent_a_different_ticket(shop, make_user):
    for i in range(AGENTS):
        svc.ticket_create(
            client=shop.client,
            channel="email",
            subject=f"Q{i}",
            body="Hello",
            requester_email=f"c{i}@example.com",
        )
    agents = [make_user(clients=[shop.client]) for _ in range(AGENTS)]
    taken: list[int | None] = []

    def take(user):
        t = svc.ticket_take_next(user=user, client_ids=frozenset({shop.client.pk}))
        taken.append(t.pk if t else None)

    errors = _run_threads([lambda u=u: take(u) for u in agents])
    assert not errors, errors
    assert None not in taken and len(set(taken)) == AGENTS
    assert Ticket.objects.filter(assignee__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_escalate_once(shop, make_user):
    make_user(clients=[shop.client], role="supervisor")
    for i in range(5):
        svc.ticket_create(
            client=shop.client,
            channel="email",
            subject=f"Q{i}",
            body="Hello",
            requester_email=f"c{i}@example.com",
            now=timezone.now() - timedelta(days=10),
        )
    later = timezone.now()
    moments = [later + timedelta(microseconds=i) for i in range(4)]
    errors = _run_threads([lambda m=m: escalations_scan(now=m) for m in moments])
    assert not errors, errors
    keys = list(Escalation.objects.values_list("ticket_id", "trigger", "to_level"))
    # first reply and resolution breached: two escalations per ticket, each created once
    assert len(keys) == 10 and len(keys) == len(set(keys))
    # every escalation reached the supervisor exactly once, whichever run created it
    assert InboxEntry.objects.count() == 10
