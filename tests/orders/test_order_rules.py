"""One set of order rules (issue #12 item 2): ``order_input_problems`` returns every problem of
an order; keyed-in orders raise the first, imports map each to its row — same messages."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from orders.exceptions import OrderValidationError
from orders.importing.pipeline import OrderFileImport
from orders.models import Order
from orders.services import LineInput, OrderInput, order_create
from orders.services.intake import order_input_problems
from tests.orders.import_files import NATIVE_HEADER, csv_bytes, native_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(make_client, make_warehouse, make_product):
    client = make_client("ACME")
    east = make_warehouse("EAST")
    make_product(client, "LAMP", stock={east: 5})
    make_product(client, "OLD", active=False)
    return client


def test_every_problem_of_an_order_is_returned(acme):
    lamp, old = acme.products.get(sku="LAMP"), acme.products.get(sku="OLD")
    data = OrderInput(
        number="N" * 65,
        lines=[LineInput(product=old, quantity=1), LineInput(product=lamp, quantity=0)],
        currency="EUR",
        service_level="warp",
        payment_status="stolen",
        ship_to={"postcode": "1" * 21},
    )

    problems = order_input_problems(acme, data)

    assert [(p.field, p.line, p.message) for p in problems] == [
        ("number", None, "The order number is 65 characters long; at most 64 are allowed."),
        ("currency", None, "The order is in EUR, but ACME trades in USD."),
        (
            "service_level",
            None,
            "'warp' is not a service level (standard, expedited or overnight).",
        ),
        ("payment_status", None, "'stolen' is not a payment status."),
        ("ship_to_postcode", None, "The value is 21 characters long; at most 20 are allowed."),
        ("sku", 0, "SKU 'OLD' is inactive for ACME."),
        ("quantity", 1, "The quantity of SKU 'LAMP' must be a whole number above zero."),
    ]


def test_keyed_in_orders_get_the_import_rules_and_messages(acme):
    old = acme.products.get(sku="OLD")

    with pytest.raises(OrderValidationError) as keyed:
        order_create(client=acme, number="K-1", lines=[LineInput(product=old, quantity=1)])

    imported = OrderFileImport(
        client=acme,
        binary=io.BytesIO(csv_bytes(NATIVE_HEADER, native_order("K-1", [("OLD", "1", "1")]))),
        dry_run=False,
    ).run()
    assert str(keyed.value) == imported.errors[0].message == "SKU 'OLD' is inactive for ACME."
    assert Order.objects.count() == 0


def test_a_total_beyond_the_money_columns_is_refused_for_keyed_in_orders_too(acme):
    lamp = acme.products.get(sku="LAMP")

    with pytest.raises(OrderValidationError, match="more than the system can hold"):
        order_create(
            client=acme,
            number="K-2",
            lines=[LineInput(product=lamp, quantity=2, unit_price=Decimal("9999999999.00"))],
        )
