"""Fixtures for customer communication: tasks run inline, a client with a stocked product and
a customer, and helpers to drive orders through the real services."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf

from support.models import NotificationPolicy
from tests.fulfillment.conftest import rates, to_status  # noqa: F401 - shared fixtures


@pytest.fixture
def sync_tasks(monkeypatch):
    """django-q2 tasks run inline (as with Q_SYNC=1)."""
    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def run_commit(django_capture_on_commit_callbacks, sync_tasks):
    """``with run_commit(): ...`` — on-commit work (signal receivers' tasks) runs at the end."""

    def make():
        return django_capture_on_commit_callbacks(execute=True)

    return make


@pytest.fixture
def shop(make_client, make_warehouse, make_product, make_customer):
    """A client with no quiet hours (tests that want them set them), a warehouse, a stocked
    and an out-of-stock product, and a customer with an address."""

    class Shop:
        pass

    s = Shop()
    s.client = make_client(timezone="Europe/Berlin")
    NotificationPolicy.objects.create(client=s.client, quiet_hours_start=None, quiet_hours_end=None)
    s.warehouse = make_warehouse()
    s.stocked = make_product(s.client, stock={s.warehouse: 100}, name="Blue mug")
    s.scarce = make_product(s.client, name="Red lamp")
    s.customer = make_customer(s.client, name="Ada Lovelace", email="ada@example.com")
    return s


def quiet_policy(client, start=time(21, 0), end=time(8, 0)) -> NotificationPolicy:
    policy = NotificationPolicy.objects.get(client=client)
    policy.quiet_hours_start, policy.quiet_hours_end = start, end
    policy.save()
    return policy


def hours_ago(h: float):
    return timezone.now() - timedelta(hours=h)
