"""The plain-row bulk helpers (``core.bulk.insert_rows``/``update_rows``) and the
``field__anyof`` lookup the hot paths use: same results as the ORM on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.bulk import JSONText, insert_rows, update_rows
from inventory.models import Product
from orders.models import Order, OrderEvent, OrderLine

pytestmark = pytest.mark.django_db


def _order_row(client, number: str) -> tuple:
    now = timezone.now()
    return (client.pk, number, now, now, "USD", Decimal("12.50"), ["a", {"b": 1}], 7)


ORDER_FIELDS = (
    "client_id",
    "number",
    "placed_at",
    "ship_by",
    "currency",
    "total",
    "priority_breakdown",
    "priority_score",
)


def test_insert_rows_returns_ids_in_order_and_fills_defaults(make_client):
    acme = make_client("ACME")
    ids = insert_rows(Order, ORDER_FIELDS, [_order_row(acme, "A-1"), _order_row(acme, "A-2")])

    assert len(ids) == 2
    first, second = (Order.objects.get(pk=pk) for pk in ids)
    assert (first.number, second.number) == ("A-1", "A-2")
    # Given values, JSON included, and every other column's default (``now`` for auto ones).
    assert (second.total, second.priority_breakdown, second.priority_score) == (
        Decimal("12.50"),
        ["a", {"b": 1}],
        7,
    )
    assert (second.status, second.hold_reason, second.expedite, second.assigned_to_id) == (
        "new",
        "",
        False,
        None,
    )
    assert second.created_at is not None and second.updated_at is not None


def test_insert_rows_without_ids_and_with_a_duplicate_key(
    make_client, make_warehouse, make_product, make_order
):
    acme = make_client("ACME")
    lamp = make_product(acme, "LAMP", stock={make_warehouse("EAST"): 1})
    order = make_order(acme, [(lamp, 1)], number="E-1")
    assert (
        insert_rows(
            OrderEvent, ("order_id", "kind", "message"), [(order.pk, "note", "x")], return_ids=False
        )
        == []
    )
    assert OrderEvent.objects.filter(order=order, kind="note", message="x").count() == 1

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_rows(Order, ORDER_FIELDS, [_order_row(acme, "E-1")])  # (client, number) taken
    assert Order.objects.filter(client=acme, number="E-1").count() == 1


def test_update_rows_sets_only_the_named_columns(make_client, make_product):
    acme = make_client("ACME")
    a, b, c = (make_product(acme, sku) for sku in ("A", "B", "C"))

    updated = update_rows(Product, ("name", "active"), [(a.pk, "Lamp", False), (b.pk, "Mug", True)])

    assert updated == 2
    rows = dict(Product.objects.values_list("sku", "name"))
    assert rows == {"A": "Lamp", "B": "Mug", "C": c.name}
    assert list(Product.objects.filter(active=False).values_list("sku", flat=True)) == ["A"]
    assert update_rows(Product, ("name",), []) == 0


def test_anyof_matches_like_in(make_client, make_product):
    acme = make_client("ACME")
    a, b, c = (make_product(acme, sku) for sku in ("A", "B", "C"))

    assert set(Product.objects.filter(pk__anyof=[a.pk, c.pk])) == {a, c}
    assert set(Product.objects.filter(sku__anyof=["B", "Z"])) == {b}
    assert set(Product.objects.filter(client_id__anyof=[acme.pk])) == {a, b, c}  # a relation
    assert set(Product.objects.filter(client__anyof=[acme.pk])) == {a, b, c}
    assert list(Product.objects.filter(pk__anyof=[])) == []  # like __in=[]: nothing
    assert set(Product.objects.exclude(pk__anyof=[])) == {a, b, c}
    assert set(Product.objects.exclude(pk__anyof=[b.pk])) == {a, c}


def test_json_text_is_stored_as_the_json_it_holds(make_client):
    acme = make_client("ACME")
    row = list(_order_row(acme, "J-1"))
    row[6] = JSONText([{"factor": "due", "points": 30, "why": "due in 2.0 h – “soon”"}])

    (pk,) = insert_rows(Order, ORDER_FIELDS, [row])

    stored = Order.objects.get(pk=pk).priority_breakdown
    assert stored == [{"factor": "due", "points": 30, "why": "due in 2.0 h – “soon”"}]
    assert JSONText(text=str(row[6])).data == stored


def test_update_rows_integer_columns_with_nulls(
    make_client, make_warehouse, make_product, make_order
):
    """Integer columns go as one array text (``{1,NULL,…}``): NULLs survive."""
    acme = make_client("ACME")
    make_warehouse("EAST")
    lamp = make_product(acme, "LAMP")  # no stock: its lines are backordered at a level
    order = make_order(acme, [(lamp, 2), (lamp, 1)], number="N-1")
    first, second = order.lines.order_by("line_no")
    level_id = first.backorder_level_id
    assert level_id is not None

    updated = update_rows(
        OrderLine,
        ("qty_backordered", "backorder_level_id"),
        [(first.pk, 0, None), (second.pk, 1, second.backorder_level_id)],
    )

    assert updated == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.qty_backordered, first.backorder_level_id) == (0, None)
    assert (second.qty_backordered, second.backorder_level_id) == (1, level_id)
