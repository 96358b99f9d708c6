"""Two replenishment runs at once, in two real processes, against PostgreSQL: one draft per
supplier × warehouse, with the same lines as a single run would write."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal

import pytest
from django.db import connection, connections

from inventory.models import PurchaseOrder, PurchaseOrderLine, ReplenishmentRun

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="overlapping runs in separate processes need PostgreSQL (set DATABASE_URL); "
        "SQLite serialises every writer",
    ),
]


def _run_in_child(barrier, results) -> None:
    # A forked child must not reuse the parent's connection: drop it without closing it.
    for conn in connections.all(initialized_only=True):
        conn.connection = None
    try:
        from inventory.replenishment import replenishment_run

        barrier.wait(timeout=30)
        run = replenishment_run(trigger="race")
        results.put(("ok", run.pos_created, run.pos_updated))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc), None))
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_leave_one_draft_per_supplier_and_warehouse(
    make_client, make_warehouse, make_product, make_supplier, make_terms, make_rule
):
    client = make_client("ACME")
    warehouses = [make_warehouse(f"W{i}") for i in range(3)]
    suppliers = [make_supplier(client, f"S{i}") for i in range(2)]
    for n in range(30):
        product = make_product(client, f"P{n:03d}")
        make_terms(suppliers[n % 2], product, unit_cost=Decimal("1.00"), pack_multiple=6)
        for warehouse in warehouses:
            make_rule(product, warehouse, min_qty=5, max_qty=40)
    connection.close()  # the children open their own connections
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    children = [ctx.Process(target=_run_in_child, args=(barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert all(o[0] == "ok" for o in outcomes), outcomes
    # One run created the six drafts; the other, after waiting for the lock, changed nothing.
    assert sorted(o[1] for o in outcomes) == [0, 6]
    assert sorted(o[2] for o in outcomes) == [0, 0]
    drafts = PurchaseOrder.objects.filter(status="draft")
    assert drafts.count() == 6
    assert sorted(drafts.values_list("supplier_id", "warehouse_id")) == sorted(
        (s.pk, w.pk) for s in suppliers for w in warehouses
    )
    assert PurchaseOrderLine.objects.count() == 90
    assert set(PurchaseOrderLine.objects.values_list("quantity", flat=True)) == {42}  # 40 → 7×6
    assert ReplenishmentRun.objects.filter(status="done").count() == 2
