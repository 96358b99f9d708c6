"""The benchmark data generator (``python -m bench generate_backlog``), at a tiny size."""

from __future__ import annotations

import io

import pytest

from bench.generate_backlog import BacklogError, generate_backlog
from orders.models import Order, OrderEvent, OrderLine
from tests.invariants import assert_stock_invariants


@pytest.mark.django_db(transaction=True)
def test_a_small_backlog_is_consistent_and_keeps_its_history_times():
    out = io.StringIO()
    generate_backlog(orders=300, clients=2, skus=400, customers=50, chunk=100, stdout=out)

    assert "Backlog ready" in out.getvalue()
    assert Order.objects.count() == 300
    assert OrderLine.objects.count() > 300
    assert_stock_invariants()
    # Rows carry their own history: created/updated times are the generated ones, not "now"
    # (core.bulk.insert_rows keeps given auto_now values on every database).
    first = Order.objects.order_by("pk").first()
    assert first.created_at < Order.objects.order_by("-pk").first().created_at
    assert first.updated_at >= first.created_at
    assert OrderEvent.objects.filter(order=first, kind="created").exists()
    # Every order row follows the intake's layout: statuses and segments are set.
    assert not Order.objects.filter(segment="").exists()

    with pytest.raises(BacklogError, match="already has 300 orders"):
        generate_backlog(orders=10, clients=1, skus=5, stdout=io.StringIO())
