"""Under real concurrency (PostgreSQL, forked processes): parallel orders of one customer
never exceed the credit limit together, and 8 processes issuing invoices for one client get a
gap-free, duplicate-free series."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from billing.models import Invoice
from clients.models import Client
from orders.models import Order

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="row locks across processes need PostgreSQL (set DATABASE_URL); "
        "SQLite serialises every writer",
    ),
]

PROCESSES = 8


def _child(barrier, results, work, args) -> None:
    for conn in connections.all(initialized_only=True):
        conn.connection = None  # a forked child must not reuse the parent's connection
    try:
        barrier.wait(timeout=60)
        results.put(("ok", work(*args)))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        connections.close_all()


def _run(work, args_list):
    connection.close()
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(len(args_list)), ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(barrier, results, work, args)) for args in args_list
    ]
    for child in children:
        child.start()
    outcomes = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert all(o[0] == "ok" for o in outcomes), outcomes
    return [o[1] for o in outcomes]


def _create_order(client_id, product_id, customer_id, number):
    from inventory.models import Product
    from orders.models import Customer
    from orders.services import LineInput, order_create

    order = order_create(
        client=Client.objects.get(pk=client_id),
        number=number,
        customer=Customer.objects.get(pk=customer_id),
        placed_at=timezone.now(),
        lines=[
            LineInput(
                product=Product.objects.get(pk=product_id), quantity=1, unit_price=Decimal("40")
            )
        ],
    )
    return order.status


@pytest.mark.django_db(transaction=True)
def test_parallel_orders_cannot_together_exceed_the_credit_limit(
    make_client, make_warehouse, make_product, make_customer
):
    client = make_client("ACME")
    product = make_product(client, "LAMP", stock={make_warehouse(): 100})
    customer = make_customer(client, credit_limit=Decimal("100.00"))
    statuses = _run(
        _create_order,
        [(client.pk, product.pk, customer.pk, f"C-{i}") for i in range(PROCESSES)],
    )
    # 40 each: two fit under 100, the third would make 120.
    assert sorted(statuses).count("ready") == 2
    assert Order.objects.filter(customer=customer, status="ready").count() == 2
    assert Order.objects.filter(customer=customer, hold_type="credit").count() == PROCESSES - 2


def _issue(client_id, order_ids):
    from billing.services import InvoiceDraft, LineDraft, invoices_issue
    from core.db import atomic_with_retry

    client = Client.objects.get(pk=client_id)

    @atomic_with_retry
    def one(order):
        draft = InvoiceDraft(
            order=order, lines=[LineDraft("x", Decimal(1), Decimal("1.00"), Decimal(0))]
        )
        return invoices_issue(client=client, drafts=[draft])[0].number

    return [one(o) for o in Order.objects.filter(pk__in=order_ids)]


@pytest.mark.django_db(transaction=True)
def test_eight_processes_issue_a_gap_free_series(make_client, make_warehouse, make_product):
    from orders.services import LineInput, order_create

    client = make_client("ACME")
    product = make_product(client, "LAMP", stock={make_warehouse(): 500})
    orders = [
        order_create(
            client=client,
            number=f"O-{i}",
            lines=[LineInput(product=product, quantity=1, unit_price=Decimal("1"))],
        ).pk
        for i in range(PROCESSES * 10)
    ]
    numbers = _run(_issue, [(client.pk, orders[i::PROCESSES]) for i in range(PROCESSES)])
    issued = sorted(n for batch in numbers for n in batch)
    year = timezone.localdate().year
    assert issued == [f"ACME-{year}-{n:06d}" for n in range(1, PROCESSES * 10 + 1)]
    assert Invoice.objects.values("number").distinct().count() == PROCESSES * 10
