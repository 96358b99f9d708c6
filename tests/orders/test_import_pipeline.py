"""The streaming order-file import (orders.importing): both formats as shops write them,
every rejection rule, whole-order rejection, idempotency, conflicts and the rejected-rows CSV.

Files are built with the csv module in memory and read by ``OrderFileImport`` directly; the
job lifecycle and admin pages are in test_import_jobs.py, the command in test_import_command.py.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from clients.models import Client
from inventory.models import Product
from orders import services
from orders.importing.pipeline import ImportResult, OrderFileImport
from orders.importing.reader import FileProblem
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.services.priority import compute_priority, priority_input
from tests.factories import Shop
from tests.orders.import_files import (
    NATIVE_HEADER,
    csv_bytes,
    native_order,
    read_csv,
    shopify_header,
    shopify_order,
)

pytestmark = pytest.mark.django_db

SHOPIFY_TIME = "2024-03-05 14:12:44 -0500"
SHOPIFY_TIME_UTC = datetime(2024, 3, 5, 19, 12, 44, tzinfo=UTC)


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        acme={"timezone": "America/New_York"},
        nord={},
        products={
            "nord_only": ("nord", "NORD-ONLY", 5),
            "lamp": ("acme", "LAMP", 10),
            "mug": ("acme", "MUG", 0),  # none in stock: orders for it are backordered
            "tent": ("acme", "TENT", 5),
        },
        users={"supervisor": "sup"},
    )


def run_import(
    client: Client,
    data: bytes,
    *,
    user=None,
    dry_run: bool = False,
    rejects: io.StringIO | None = None,
    file_name: str = "orders.csv",
    **kwargs,
) -> ImportResult:
    return OrderFileImport(
        client=client,
        binary=io.BytesIO(data),
        user=user,
        file_name=file_name,
        dry_run=dry_run,
        rejects=rejects,
        **kwargs,
    ).run()


def lines_of(order: Order) -> list[tuple]:
    return [
        (ln.product.sku, ln.quantity, ln.unit_price, ln.qty_allocated, ln.qty_backordered)
        for ln in order.lines.select_related("product").order_by("line_no")
    ]


def counts() -> tuple[int, int, int, int]:
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Customer.objects.count(),
        OrderEvent.objects.count(),
    )


# -- native format ---------------------------------------------------------------------------


def native_two_orders(first_row_only: bool) -> bytes:
    rows = native_order(
        "A-1001",
        [("LAMP", "2", "19.99"), ("MUG", "1", "5.00")],
        first_row_only=first_row_only,
        placed_at=SHOPIFY_TIME,
        currency="USD",
        customer_email="Jane@Example.com",
        customer_name="Jane Doe",
        customer_tier="gold",
        service_level="expedited",
        payment_status="pending",
        shipping_total="4.50",
        tax_total="1.20",
        ship_to_name="Jane Doe",
        ship_to_address1="1 Main St",
        ship_to_city="Boston",
        ship_to_postcode="02134",
        ship_to_country="us",
        ship_to_phone="+1 555 0100",
        client="acme",
    ) + native_order(
        "A-1002",
        [("TENT", "1", "120.00")],
        placed_at="2024-03-06T08:00:00+00:00",
        ship_by="2024-03-07 17:00",  # naive: the client's zone (New York, EST)
        customer_email="bob@example.com",
        customer_name="Bob Stone",
    )
    return csv_bytes(NATIVE_HEADER, rows)


@pytest.mark.parametrize("first_row_only", [False, True], ids=["fields-every-row", "first-row"])
def test_native_file_creates_the_orders_with_all_their_fields(shop, first_row_only):
    result = run_import(shop.acme, native_two_orders(first_row_only), user=shop.supervisor)

    assert (result.format, result.total_rows) == ("native", 3)
    assert (result.orders_created, result.lines_created, result.orders_rejected) == (2, 3, 0)
    first = Order.objects.get(client=shop.acme, number="A-1001")
    assert first.source == Order.Source.CSV
    assert first.placed_at == SHOPIFY_TIME_UTC
    assert first.service_level == "expedited"
    assert first.payment_status == "pending"
    assert first.currency == "USD"
    assert (first.subtotal, first.shipping_total, first.tax_total, first.total) == (
        Decimal("44.98"),
        Decimal("4.50"),
        Decimal("1.20"),
        Decimal("50.68"),
    )
    assert (
        first.ship_to_name,
        first.ship_to_address1,
        first.ship_to_city,
        first.ship_to_postcode,
        first.ship_to_country,
        first.ship_to_phone,
    ) == ("Jane Doe", "1 Main St", "Boston", "02134", "US", "+1 555 0100")
    assert (first.customer.email, first.customer.name, first.customer.tier) == (
        "jane@example.com",
        "Jane Doe",
        "gold",
    )
    # LAMP is in stock, MUG is not: the order waits for the mug.
    assert lines_of(first) == [
        ("LAMP", 2, Decimal("19.99"), 2, 0),
        ("MUG", 1, Decimal("5.00"), 0, 1),
    ]
    assert first.status == Order.Status.BACKORDERED

    second = Order.objects.get(client=shop.acme, number="A-1002")
    assert second.placed_at == datetime(2024, 3, 6, 8, 0, tzinfo=UTC)
    assert second.ship_by == datetime(2024, 3, 7, 22, 0, tzinfo=UTC)  # 17:00 EST
    assert second.service_level == "standard"
    assert second.payment_status == "paid"
    assert lines_of(second) == [("TENT", 1, Decimal("120.00"), 1, 0)]
    assert second.status == Order.Status.READY
    assert (second.customer.email, second.customer.name, second.customer.tier) == (
        "bob@example.com",
        "Bob Stone",
        "standard",
    )


def test_imported_orders_get_the_sla_promise_priority_and_an_import_event(shop):
    rows = native_order("S-1", [("LAMP", "1", "10.00")], service_level="standard")
    rows += native_order("S-2", [("LAMP", "1", "10.00")], service_level="expedited")
    rows += native_order("S-3", [("LAMP", "1", "10.00")], service_level="overnight")
    shop.acme.sla_standard_hours, shop.acme.sla_expedited_hours = 48, 20
    shop.acme.sla_overnight_hours = 6
    shop.acme.save()

    run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), user=shop.supervisor)

    orders = {o.number: o for o in Order.objects.filter(client=shop.acme)}
    assert {n: o.ship_by - o.placed_at for n, o in orders.items()} == {
        "S-1": datetime(2024, 3, 7) - datetime(2024, 3, 5),
        "S-2": datetime(2024, 3, 5, 20) - datetime(2024, 3, 5),
        "S-3": datetime(2024, 3, 5, 6) - datetime(2024, 3, 5),
    }
    for order in orders.values():
        score, breakdown = compute_priority(
            priority_input(order, "standard"), shop.acme, order.priority_computed_at
        )
        assert (order.priority_score, order.priority_breakdown) == (score, breakdown)
        assert order.priority_score > 0
        event = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.IMPORT)
        assert (event.kind, event.user, event.message) == (
            OrderEvent.Kind.IMPORT,
            shop.supervisor,
            "Imported from orders.csv by sup.",
        )
        assert order.status == Order.Status.READY
    # overdue for all three: the faster service level still ranks higher
    assert (
        orders["S-3"].priority_score > orders["S-2"].priority_score > orders["S-1"].priority_score
    )


def test_dry_run_reports_what_would_happen_and_writes_nothing(shop):
    before = counts()

    result = run_import(shop.acme, native_two_orders(False), dry_run=True)

    assert counts() == before
    assert (result.orders_new, result.lines_new, result.orders_created) == (2, 3, 0)
    assert result.summary(True) == "2 order(s) with 3 line(s) would be created."


def test_customers_are_matched_by_shop_id_then_email_and_created_once(shop, make_customer):
    by_ref = make_customer(shop.acme, email="old-address@example.com", external_id="CUST-7")
    by_email = make_customer(shop.acme, email="kim@example.com", name="Kim")
    other_client = make_customer(shop.nord, email="new@example.com")
    rows = (
        native_order(
            "C-1", [("LAMP", "1", "1")], customer_id="CUST-7", customer_email="moved@example.com"
        )
        + native_order("C-2", [("LAMP", "1", "1")], customer_email="KIM@example.com")
        + native_order(
            "C-3", [("LAMP", "1", "1")], customer_email="new@example.com", customer_name="Neu"
        )
        + native_order(
            "C-4", [("LAMP", "1", "1")], customer_email="new@example.com", customer_name="Neu"
        )
        + native_order("C-5", [("LAMP", "1", "1")], ship_to_name="Guest Person")
    )

    run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    customer_of = dict(Order.objects.values_list("number", "customer_id"))
    assert customer_of["C-1"] == by_ref.pk
    assert customer_of["C-2"] == by_email.pk
    created = Customer.objects.get(client=shop.acme, email="new@example.com")
    assert created.pk != other_client.pk
    assert (created.name, created.tier) == ("Neu", "standard")
    assert customer_of["C-3"] == customer_of["C-4"] == created.pk
    guest = Customer.objects.get(pk=customer_of["C-5"])
    assert (guest.client, guest.email, guest.name) == (shop.acme, "", "Guest Person")
    assert Customer.objects.filter(client=shop.acme).count() == 4


@pytest.mark.parametrize("bom", [False, True], ids=["utf8", "utf8-bom"])
def test_utf8_with_and_without_bom(shop, bom):
    rows = native_order(
        "U-1", [("LAMP", "1", "9.50")], customer_email="zoe@example.com", customer_name="Zoë Müller"
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows, bom=bom))

    assert (result.format, result.orders_created) == ("native", 1)
    order = Order.objects.get(number="U-1")
    assert order.customer.name == "Zoë Müller"


def test_semicolon_file_with_decimal_comma_prices(shop):
    rows = native_order(
        "E-1",
        [("LAMP", "2", "19,99"), ("TENT", "1", "1.234,50")],
        shipping_total="4,50",
        tax_total="0",
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows, delimiter=";"))

    assert (result.orders_created, result.orders_rejected) == (1, 0)
    order = Order.objects.get(number="E-1")
    assert [(sku, qty, price) for sku, qty, price, *_ in lines_of(order)] == [
        ("LAMP", 2, Decimal("19.99")),
        ("TENT", 1, Decimal("1234.50")),
    ]
    assert (order.shipping_total, order.total) == (Decimal("4.50"), Decimal("1278.98"))


def test_comma_file_with_thousands_separators(shop):
    rows = native_order("T-1", [("TENT", "1", "1,234.50")])

    run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert OrderLine.objects.get(order__number="T-1").unit_price == Decimal("1234.50")


# -- rejection rules --------------------------------------------------------------------------

# (column, bad value, which row of the two-row order gets it, line of the error, message)
REJECTIONS = [
    ("sku", "NOPE", 1, 3, "Unknown SKU 'NOPE' for ACME."),
    ("sku", "NORD-ONLY", 1, 3, "Unknown SKU 'NORD-ONLY' for ACME."),
    ("sku", "", 1, 3, "The SKU is missing."),
    ("quantity", "0", 1, 3, "The quantity must be above zero (got 0)."),
    ("quantity", "-2", 1, 3, "The quantity must be above zero (got -2)."),
    ("quantity", "1.5", 1, 3, "The quantity must be a whole number (got '1.5')."),
    ("quantity", "", 1, 3, "The quantity is missing."),
    ("unit_price", "-1.00", 1, 3, "The amount cannot be negative (got -1.00)."),
    ("unit_price", "cheap", 1, 3, "'cheap' is not an amount of money."),
    (
        "placed_at",
        "05/03/2024 14:12",
        0,
        2,
        "'05/03/2024 14:12' is not a date and time (use 2024-03-05 14:12:44 -0500 or ISO 8601).",
    ),
    (
        "placed_at",
        "2024-02-30 10:00:00",
        0,
        2,
        "'2024-02-30 10:00:00' is not a valid date and time.",
    ),
    ("placed_at", "", 0, 2, "The order date is missing."),
    ("ship_by", "next week", 0, 2, None),
    ("currency", "EUR", 0, 2, "The order is in EUR, but ACME trades in USD."),
    ("client", "NORD", 0, 2, "This order belongs to client NORD, not ACME: import it there."),
    (  # (the one order validator's message, as for keyed-in orders)
        "service_level",
        "asap",
        0,
        2,
        "'asap' is not a service level (standard, expedited or overnight).",
    ),
    ("payment_status", "unpaid", 0, 2, "'unpaid' is not a payment status."),
    ("customer_tier", "platinum", 0, 2, "'platinum' is not a customer tier."),
]


@pytest.mark.parametrize(
    ("column", "value", "row", "line", "message"),
    REJECTIONS,
    ids=[f"{c}={v!r}" for c, v, *_ in REJECTIONS],
)
def test_each_rejection_rule_rejects_the_whole_order_with_a_clear_message(
    shop, column, value, row, line, message
):
    bad = native_order("R-1", [("LAMP", "1", "10.00"), ("TENT", "2", "30.00")], currency="USD")
    for target in bad if row == 0 else [bad[row]]:  # order fields sit on every row
        target[column] = value
    good = native_order("G-1", [("LAMP", "1", "10.00")])
    rejects = io.StringIO()
    before_lamp = shop.lamp.stock_levels.get().allocated

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, bad + good), rejects=rejects)

    if message is None:  # the date message names the value; checked in the parser cases
        message = f"'{value}' is not a date and time (use 2024-03-05 14:12:44 -0500 or ISO 8601)."
    assert [e.as_dict() for e in result.errors] == [
        {"line": line, "column": column, "message": message, "order": "R-1"}
    ]
    assert (result.orders_rejected, result.rows_rejected, result.orders_created) == (1, 2, 1)
    assert list(Order.objects.values_list("number", flat=True)) == ["G-1"]
    assert OrderLine.objects.count() == 1
    assert shop.lamp.stock_levels.get().allocated == before_lamp + 1  # only G-1's lamp
    report = read_csv(rejects.getvalue())
    assert report[0] == [*NATIVE_HEADER, "error"]
    assert [r[0] for r in report[1:]] == ["R-1", "R-1"]
    own = f"{column}: {message}"
    other = f"Order R-1 rejected because of line {line}: {message}"
    expected = [own, other] if line == 2 else [other, own]
    assert [r[-1] for r in report[1:]] == expected


def test_whole_order_rejection_lists_every_row_and_the_fixed_file_imports(shop):
    rows = native_order(
        "W-1",
        [("LAMP", "1", "10.00"), ("GHOST", "1", "3.00"), ("TENT", "0", "30.00")],
        first_row_only=True,
        customer_email="w@example.com",
    ) + native_order("W-2", [("TENT", "1", "30.00")])
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), rejects=rejects)

    assert (result.orders_created, result.orders_rejected, result.rows_rejected) == (1, 1, 3)
    assert not Order.objects.filter(number="W-1").exists()
    report = read_csv(rejects.getvalue())
    assert [r[-1] for r in report[1:]] == [
        "Order W-1 rejected because of line 3: Unknown SKU 'GHOST' for ACME.",
        "sku: Unknown SKU 'GHOST' for ACME.",
        "quantity: The quantity must be above zero (got 0).",
    ]
    # the rows are given back as they came (order fields only on the first row)
    assert [r[:-1] for r in report[1:]] == [
        [row.get(c, "") for c in NATIVE_HEADER] for row in rows[:3]
    ]

    # The supervisor fixes the two cells in the report and uploads it as it is.
    report[2][NATIVE_HEADER.index("sku")] = "MUG"
    report[3][NATIVE_HEADER.index("quantity")] = "2"
    fixed = io.StringIO(newline="")
    csv.writer(fixed).writerows(report)
    again = run_import(shop.acme, fixed.getvalue().encode())

    assert (again.orders_created, again.lines_created, again.orders_rejected) == (1, 3, 0)
    order = Order.objects.get(number="W-1")
    assert [ln[:2] for ln in lines_of(order)] == [("LAMP", 1), ("MUG", 1), ("TENT", 2)]
    assert order.customer.email == "w@example.com"


def test_rows_of_one_order_must_be_together(shop):
    """A scattered order is rejected whole — every part — never imported in part."""
    rows = (
        native_order("P-1", [("LAMP", "1", "1")])
        + native_order("P-2", [("LAMP", "1", "1")])
        + native_order("P-1", [("TENT", "1", "1")])
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    message = (
        "The rows of order P-1 are not together (parts start at lines 2, 4); put them one "
        "after another and upload again."
    )
    assert [e.as_dict() for e in result.errors] == [
        {"line": 2, "column": "order_number", "message": message, "order": "P-1"},
        {"line": 4, "column": "order_number", "message": message, "order": "P-1"},
    ]
    assert (result.orders_created, result.orders_rejected, result.rows_rejected) == (1, 2, 2)
    assert not Order.objects.filter(number="P-1").exists()
    assert Order.objects.filter(number="P-2").exists()


def test_missing_order_number_rejects_the_row(shop):
    rows = native_order("", [("LAMP", "1", "1")]) + native_order("N-1", [("LAMP", "1", "1")])

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert [e.as_dict() for e in result.errors] == [
        {
            "line": 2,
            "column": "order_number",
            "message": "The order number is missing.",
            "order": "",
        }
    ]
    assert list(Order.objects.values_list("number", flat=True)) == ["N-1"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \r\n\r\n", "The file is empty."),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "This is not a CSV file (it contains binary data).",
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
            "This is not a CSV file (it contains binary data).",
        ),
        (
            "order_number,placed_at,sku,quantity\nA,2024-03-05,CAF\u00c9,1\n".encode("latin-1"),
            "The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload again.",
        ),
        (
            b"order_number,placed_at,sku,quantity,comment\nA,2024-03-05 10:00,LAMP,1,"
            + b"x" * 70_000
            + b"\nB,2024-03-05 10:00,LAMP,1,ok\nC,2024-03-05 10:00,LAMP,1,"
            + b"y" * 20_000
            + "Caf\u00e9\n".encode("latin-1"),
            "Line 4: the file is not UTF-8 text from here on. Save it as 'CSV UTF-8' and upload "
            "again.",
        ),
        (
            b"Dear team: please ship the orders below\n",
            "This does not look like a CSV order file: the first row should hold column names "
            "separated by commas or semicolons.",
        ),
        (
            b"foo,bar\n1,2\n",
            "Unknown file format: expected the native columns (order_number, sku, quantity, …) "
            "or a Shopify orders export (Name, Lineitem sku, Lineitem quantity, …).",
        ),
        (
            b"order_number,placed_at,sku\nA,2024-03-05,LAMP\n",
            "The native file is missing required column(s): quantity.",
        ),
        (
            b"order_number,sku,unit_price\nA,LAMP,1\n",
            "The native file is missing required column(s): placed_at, quantity.",
        ),
        (
            b"Name,Email,Lineitem sku,Lineitem quantity\n#1,a@b.c,LAMP,1\n",
            "The Shopify file is missing required column(s): created at, lineitem price.",
        ),
    ],
    ids=[
        "empty",
        "blank-lines",
        "png",
        "xlsx",
        "latin-1",
        "latin-1-after-the-sniffed-part",
        "a-letter",
        "unknown-columns",
        "native-no-quantity",
        "native-two-missing",
        "shopify-missing",
    ],
)
def test_a_file_that_cannot_be_used_gives_one_clear_message(shop, data, message):
    before = counts()
    with pytest.raises(FileProblem) as caught:
        run_import(shop.acme, data)
    assert str(caught.value) == message
    assert counts() == before


def test_an_unterminated_quote_rejects_the_row_as_malformed(shop):
    data = b'order_number,placed_at,sku,quantity\nA,2024-03-05,"LAMP\n'

    result = run_import(shop.acme, data)

    assert [e.as_dict() for e in result.errors] == [
        {
            "line": 2,
            "column": "file",
            "message": 'Line 2: a quoted cell is not closed (a " without its partner). Fix the '
            "quotes and upload again.",
            "order": "A",
        }
    ]
    assert Order.objects.count() == 0


# -- idempotency and conflicts -----------------------------------------------------------------


def test_the_same_file_twice_creates_nothing_the_second_time(shop):
    data = native_two_orders(first_row_only=True)
    first = run_import(shop.acme, data, user=shop.supervisor)
    before = counts()

    second = run_import(shop.acme, data, user=shop.supervisor)

    assert first.orders_created == 2
    assert (second.orders_created, second.orders_skipped, second.orders_conflict) == (0, 2, 0)
    assert dict(second.skip_reasons) == {"already imported": 2}
    assert second.errors == []
    assert (
        second.summary(False)
        == "0 order(s) with 0 line(s) created; 2 skipped (2 already imported)."
    )
    assert counts() == before


def test_a_known_order_with_different_lines_is_a_conflict_and_is_not_changed(shop):
    run_import(shop.acme, native_two_orders(first_row_only=False))
    changed = native_order("A-1002", [("TENT", "3", "120.00")]) + native_order(
        "A-1003", [("LAMP", "1", "10.00")]
    )
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, changed), rejects=rejects)

    message = (
        "Order A-1002 was imported before with different lines; it was not changed. "
        "Correct it in the back-office or use a new number."
    )
    assert (result.orders_conflict, result.orders_created, result.orders_rejected) == (1, 1, 0)
    assert [e.as_dict() for e in result.errors] == [
        {"line": 2, "column": "order_number", "message": message, "order": "A-1002"}
    ]
    assert lines_of(Order.objects.get(number="A-1002")) == [("TENT", 1, Decimal("120.00"), 1, 0)]
    report = read_csv(rejects.getvalue())
    assert [(r[0], r[-1]) for r in report[1:]] == [("A-1002", message)]
    assert result.summary(False) == (
        "1 order(s) with 1 line(s) created; 1 conflict(s) with existing orders."
    )


def test_an_order_number_of_another_client_is_not_a_conflict(shop, make_order):
    nord_product = Product.objects.get(sku="NORD-ONLY")
    make_order(shop.nord, [(nord_product, 1)], number="A-1002")

    result = run_import(shop.acme, native_two_orders(first_row_only=False))

    assert (result.orders_created, result.orders_conflict) == (2, 0)
    assert Order.objects.filter(number="A-1002").count() == 2


# -- Shopify "Export orders" -------------------------------------------------------------------


def shopify_file(**kwargs) -> tuple[list[str], list[dict]]:
    rows = shopify_order(
        "#1001",
        [("LAMP", "2", "19.99"), ("MUG", "1", "5.00")],
        email="Ann@Example.com",
        created_at=SHOPIFY_TIME,
        Financial_Status="paid",
        Fulfillment_Status="unfulfilled",
        Subtotal="44.98",
        Shipping="4.50",
        Taxes="2.00",
        Total="51.48",
        Shipping_Method="Express Shipping",
        Billing_Name="Ann Lee",
        Shipping_Name="Ann Lee",
        Shipping_Address1="1 Main St",
        Shipping_Address2='""',
        Shipping_City="Boston",
        Shipping_Zip="'02134",
        Shipping_Province="MA",
        Shipping_Country="US",
        Shipping_Phone="'+1 555 0100",
        Notes="Leave it at the door.\nRing twice, please.",
        Id="5501234567890",
        Tags="vip, repeat",
        Custom_Gift_Wrap="yes",
    ) + shopify_order(
        "#1002",
        [("TENT", "1", "120.00"), ("LAMP", "1", "19.99"), ("LAMP", "1", "0.00")],
        email="",
        created_at="2024-03-06 09:30:00 +0100",
        Financial_Status="authorized",
        Shipping_Method="Standard Shipping",
        Billing_Name="Walk In",
        Shipping_Zip="'00501",
    )
    return shopify_header(extra=("Custom Gift Wrap",), **kwargs), rows


@pytest.mark.parametrize(
    ("quoting", "bom", "seed"),
    [(csv.QUOTE_MINIMAL, False, None), (csv.QUOTE_ALL, True, 11), (csv.QUOTE_MINIMAL, True, 5)],
    ids=["as-exported", "all-quoted-bom-shuffled", "bom-shuffled"],
)
def test_shopify_export_as_shopify_writes_it(shop, quoting, bom, seed):
    header, rows = shopify_file(seed=seed)
    assert len(header) >= 75
    data = csv_bytes(header, rows, quoting=quoting, bom=bom)

    result = run_import(shop.acme, data, user=shop.supervisor, file_name="orders_export.csv")

    assert (result.format, result.total_rows, result.orders_created, result.lines_created) == (
        "shopify",
        5,
        2,
        5,
    )
    assert result.errors == []
    first = Order.objects.get(client=shop.acme, number="#1001")
    assert first.source == Order.Source.SHOPIFY
    assert first.placed_at == SHOPIFY_TIME_UTC
    assert first.service_level == "expedited"  # "Express Shipping"
    assert first.ship_by == datetime(2024, 3, 6, 19, 12, 44, tzinfo=UTC)
    assert first.payment_status == "paid"
    assert (first.shipping_total, first.tax_total, first.total) == (
        Decimal("4.50"),
        Decimal("2.00"),
        Decimal("51.48"),
    )
    assert (
        first.ship_to_name,
        first.ship_to_address1,
        first.ship_to_address2,
        first.ship_to_city,
        first.ship_to_postcode,
        first.ship_to_region,
        first.ship_to_country,
        first.ship_to_phone,
    ) == ("Ann Lee", "1 Main St", "", "Boston", "02134", "MA", "US", "+1 555 0100")
    # Shopify's "Notes" (the customer's delivery instructions) are kept on the order.
    assert first.delivery_notes == "Leave it at the door.\nRing twice, please."
    assert (first.customer.email, first.customer.name) == ("ann@example.com", "Ann Lee")
    assert [ln[:3] for ln in lines_of(first)] == [
        ("LAMP", 2, Decimal("19.99")),
        ("MUG", 1, Decimal("5.00")),
    ]
    assert OrderEvent.objects.get(order=first, kind=OrderEvent.Kind.IMPORT).message == (
        "Imported from orders_export.csv by sup."
    )

    second = Order.objects.get(client=shop.acme, number="#1002")
    assert second.delivery_notes == ""
    assert second.placed_at == datetime(2024, 3, 6, 8, 30, tzinfo=UTC)
    assert (second.service_level, second.payment_status) == ("standard", "authorized")
    assert second.ship_to_postcode == "00501"
    assert (second.customer.email, second.customer.name) == ("", "Walk In")
    assert [ln[:3] for ln in lines_of(second)] == [
        ("TENT", 1, Decimal("120.00")),
        ("LAMP", 1, Decimal("19.99")),
        ("LAMP", 1, Decimal("0.00")),
    ]


def test_shopify_continuation_rows_with_quoted_empties_equal_plain_empties(shop):
    header, rows = shopify_file()
    # Continuation rows as some tools re-save them: every empty cell as a literal "".
    for row in rows:
        if "Financial Status" not in row:
            for name in header:
                row.setdefault(name, '""')

    result = run_import(shop.acme, csv_bytes(header, rows), dry_run=True)

    assert (result.orders_new, result.lines_new, result.errors) == (2, 5, [])


SHOPIFY_STATUSES = [
    "paid",
    "pending",
    "authorized",
    "partially_paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
]


def test_every_shopify_financial_status(shop):
    rows = []
    for i, status in enumerate(SHOPIFY_STATUSES):
        rows += shopify_order(f"#F{i}", [("LAMP", "1", "1.00")], Financial_Status=status)
    rows += shopify_order("#F-blank", [("LAMP", "1", "1.00")], Financial_Status="")
    rows += shopify_order("#F-bad", [("LAMP", "1", "1.00")], Financial_Status="chargeback")

    result = run_import(shop.acme, csv_bytes(shopify_header(), rows))

    got = dict(Order.objects.values_list("number", "payment_status"))
    assert got == {
        **{f"#F{i}": status for i, status in enumerate(SHOPIFY_STATUSES)},
        "#F-blank": "pending",
    }
    assert [(e.order, e.column, e.message) for e in result.errors] == [
        ("#F-bad", "Financial Status", "Unknown financial status 'chargeback'.")
    ]


def test_shopify_fulfilled_lines_and_orders_are_skipped(shop):
    rows = (
        shopify_order(
            "#2001",
            [("LAMP", "1", "10.00", "fulfilled"), ("MUG", "2", "5.00", "pending")],
            Fulfillment_Status="partial",
        )
        + shopify_order(
            "#2002",
            [("LAMP", "1", "10.00", "fulfilled"), ("TENT", "1", "50.00", "fulfilled")],
            Fulfillment_Status="fulfilled",
        )
        + shopify_order("#2003", [("TENT", "1", "50.00", "")], Fulfillment_Status="")
    )

    result = run_import(shop.acme, csv_bytes(shopify_header(), rows))

    assert (result.orders_created, result.orders_skipped) == (2, 1)
    assert dict(result.skip_reasons) == {"already fulfilled in the shop": 1}
    assert [ln[:2] for ln in lines_of(Order.objects.get(number="#2001"))] == [("MUG", 2)]
    assert not Order.objects.filter(number="#2002").exists()
    assert [ln[:2] for ln in lines_of(Order.objects.get(number="#2003"))] == [("TENT", 1)]


def test_shopify_order_fulfilled_at_order_level_is_skipped(shop):
    """A trimmed export without "Lineitem fulfillment status": the order's status decides."""
    header = [h for h in shopify_header() if h != "Lineitem fulfillment status"]
    rows = shopify_order(
        "#2101", [("LAMP", "1", "10.00")], Fulfillment_Status="fulfilled"
    ) + shopify_order("#2102", [("LAMP", "1", "10.00")], Fulfillment_Status="unfulfilled")
    for row in rows:
        row.pop("Lineitem fulfillment status")

    result = run_import(shop.acme, csv_bytes(header, rows))

    assert (result.orders_created, result.orders_skipped) == (1, 1)
    assert dict(result.skip_reasons) == {"already fulfilled in the shop": 1}
    assert list(Order.objects.values_list("number", flat=True)) == ["#2102"]


def test_shopify_cancelled_orders_are_skipped_or_reported_when_open_here(shop, make_order):
    open_here = make_order(shop.acme, [(shop.lamp, 1)], number="#3002")
    cancelled_here = make_order(shop.acme, [(shop.lamp, 1)], number="#3003")
    services.order_cancel(order=cancelled_here, reason="customer asked")
    rows = (
        shopify_order("#3001", [("LAMP", "1", "10.00")], Cancelled_at="2024-03-06 10:00:00 -0500")
        + shopify_order("#3002", [("LAMP", "1", "10.00")], Cancelled_at="2024-03-06 10:00:00 -0500")
        + shopify_order("#3003", [("LAMP", "1", "10.00")], Cancelled_at="2024-03-06 10:00:00 -0500")
        + shopify_order("#3004", [("LAMP", "1", "10.00")])
    )
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(shopify_header(), rows), rejects=rejects)

    message = (
        "Order #3002 is cancelled in the shop file but is ready here: cancel it in the "
        "back-office if that is right."
    )
    assert (result.orders_created, result.orders_skipped, result.orders_conflict) == (1, 2, 1)
    assert dict(result.skip_reasons) == {"cancelled in the shop": 2}
    assert [(e.order, e.message) for e in result.errors] == [("#3002", message)]
    assert sorted(Order.objects.values_list("number", flat=True)) == ["#3002", "#3003", "#3004"]
    open_here.refresh_from_db()
    assert open_here.status == Order.Status.READY
    name_col = shopify_header().index("Name")
    assert [(r[name_col], r[-1]) for r in read_csv(rejects.getvalue())[1:]] == [("#3002", message)]


def test_shopify_wrong_currency_and_unknown_sku_reject_the_order(shop):
    rows = (
        shopify_order("#4001", [("LAMP", "1", "10.00"), ("LAMP", "1", "2.00")], Currency="CAD")
        + shopify_order("#4002", [("LAMP", "1", "10.00"), ("BOGUS", "1", "2.00")])
        + shopify_order("#4003", [("LAMP", "-1", "10.00")])
        + shopify_order("#4004", [("LAMP", "1", "10.00")], created_at="March 5th")
    )
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(shopify_header(), rows), rejects=rejects)

    assert [(e.order, e.line, e.column, e.message) for e in result.errors] == [
        ("#4001", 2, "Currency", "The order is in CAD, but ACME trades in USD."),
        ("#4002", 5, "Lineitem sku", "Unknown SKU 'BOGUS' for ACME."),
        ("#4003", 6, "Lineitem quantity", "The quantity must be above zero (got -1)."),
        (
            "#4004",
            7,
            "Created at",
            "'March 5th' is not a date and time (use 2024-03-05 14:12:44 -0500 or ISO 8601).",
        ),
    ]
    assert (result.orders_rejected, result.rows_rejected) == (4, 6)
    assert Order.objects.count() == 0
    assert len(read_csv(rejects.getvalue())) == 1 + 6


def test_scarce_stock_goes_to_the_most_urgent_orders_of_the_file_wherever_they_stand(shop):
    """Orders are created most urgent first, across chunks: the 5 tents go to the overnight
    orders at the end of the file, and nobody's stock is taken back (no pre-emption entries)."""
    rows = []
    for i in range(1, 7):
        rows += native_order(f"STD-{i}", [("TENT", "1", "10.00")], service_level="standard")
    for i in range(1, 6):
        rows += native_order(f"ON-{i}", [("TENT", "1", "10.00")], service_level="overnight")

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), chunk_orders=2)

    assert (result.orders_created, result.lines_created) == (11, 11)
    status = dict(Order.objects.filter(client=shop.acme).values_list("number", "status"))
    assert {n for n, s in status.items() if s == "ready"} == {f"ON-{i}" for i in range(1, 6)}
    assert {n for n, s in status.items() if s == "backordered"} == {f"STD-{i}" for i in range(1, 7)}
    assert not OrderEvent.objects.filter(message__contains="re-assigned").exists()
    shop.tent.refresh_from_db()
    level = shop.tent.stock_levels.get()
    assert (level.on_hand, level.allocated, level.backordered) == (5, 5, 6)


def test_the_spool_between_the_phases_holds_orders_not_the_file_in_memory(shop):
    """Chunks of 2 orders checked, 3 created per transaction: everything arrives, in order."""
    rows = []
    for i in range(1, 8):
        rows += native_order(f"S-{i}", [("LAMP", "1", "10.00"), ("MUG", "2", "3.50")])
    result = run_import(
        shop.acme, csv_bytes(NATIVE_HEADER, rows), chunk_orders=2, create_chunk_orders=3
    )
    assert (result.orders_created, result.lines_created) == (7, 14)
    lines = OrderLine.objects.filter(order__client=shop.acme)
    assert sorted(lines.values_list("order__number", "product__sku", "quantity")) == sorted(
        [(f"S-{i}", "LAMP", 1) for i in range(1, 8)] + [(f"S-{i}", "MUG", 2) for i in range(1, 8)]
    )
    assert set(Order.objects.filter(client=shop.acme).values_list("status", flat=True)) == {
        "backordered"
    }


def test_the_spool_keeps_every_value_of_a_built_order_exactly(shop):
    """Spool records are marshal data (dates and amounts as text): read back, the order row
    is equal value for value, time zones and decimals included."""
    from orders.importing.spool import Spooled as _Spooled
    from orders.services.intake import LineInput, OrderInput, order_build

    data = OrderInput(
        number="RT-1",
        lines=[LineInput(product=shop.lamp, quantity=2, unit_price=Decimal("19.99"))],
        placed_at=datetime(2024, 3, 5, 19, 12, 44, 123456, tzinfo=UTC),
        service_level="expedited",
        shipping_total=Decimal("4.95"),
        tax_total=Decimal("0.07"),
        ship_to={"name": "Zoë Ünal", "city": "Köln", "country": "DE"},
        source=Order.Source.CSV,
        note="Imported from x.csv.",
    )
    new = order_build(shop.acme, data, datetime(2024, 3, 6, tzinfo=UTC), "gold")
    record = _Spooled((7, 8), "zoe@example.com", "Zoë", "C-1", "gold", new)

    back = _Spooled.loads(record.dumps())

    assert back.new.row == new.row
    assert [type(v) for v in back.new.row] == [type(v) for v in new.row]
    assert back.new.lines == new.lines == [(shop.lamp.pk, 2, Decimal("19.99"))]
    assert back.new.row[new.row.index(new.ship_by)] == new.ship_by
    assert (back.new.score, back.new.ship_by, back.new.placed_at) == (
        new.score,
        new.ship_by,
        new.placed_at,
    )
    at = new.row._fields.index("priority_breakdown")
    assert back.new.row[at].data == new.row[at].data
    assert (back.line_nos, back.email, back.customer_name, back.customer_ref, back.tier) == (
        (7, 8),
        "zoe@example.com",
        "Zoë",
        "C-1",
        "gold",
    )


def test_an_order_created_elsewhere_between_check_and_create_is_a_conflict(shop, monkeypatch):
    """Someone keys in L-2 after the file was checked: L-2 is reported (count, error, rejects
    file with its rows) and not touched; the other orders of the chunk still come in."""
    from orders.importing import pipeline

    rows = []
    for i in range(1, 4):
        rows += native_order(f"L-{i}", [("LAMP", "1", "10.00"), ("TENT", "1", "5.00")])
    original = pipeline.OrderFileImport._create_spooled

    def create_with_a_rival(self):
        services.order_create(
            client=shop.acme,
            number="L-2",
            lines=[services.LineInput(product=shop.mug, quantity=4)],
        )
        original(self)

    monkeypatch.setattr(pipeline.OrderFileImport, "_create_spooled", create_with_a_rival)
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), rejects=rejects)

    assert (result.orders_created, result.lines_created, result.orders_conflict) == (2, 4, 1)
    assert [(e.order, e.line) for e in result.errors] == [("L-2", 4)]
    assert "created by someone else" in result.errors[0].message
    rival = Order.objects.get(client=shop.acme, number="L-2")
    assert lines_of(rival) == [("MUG", 4, Decimal("0.00"), 0, 4)]
    header, *rejected = read_csv(rejects.getvalue())
    assert header[-1] == "error"
    assert [r[0] for r in rejected] == ["L-2", "L-2"]
    assert all("created by someone else" in r[-1] for r in rejected)


@pytest.mark.django_db(transaction=True)
def test_a_large_file_is_checked_by_two_processes_with_the_same_outcome(shop, monkeypatch):
    """From ``parallel_min_rows`` on (PostgreSQL, outside a transaction) a forked helper checks
    the second half of the file: counts, errors, rejected rows and the orders created are
    those of the one-process check, in file order."""
    from django.db import connection

    from orders.importing import pipeline

    if connection.vendor != "postgresql":
        pytest.skip("the helper process needs PostgreSQL (an SQLite test database is private)")
    # Earlier tests of the session may leave threads behind (live servers): the import then
    # stays in one process, as it should; here the helper is what is being tested.
    monkeypatch.setattr(pipeline.threading, "active_count", lambda: 1)
    services.order_create(
        client=shop.acme,
        number="P-33",
        lines=[services.LineInput(product=shop.mug, quantity=9)],
    )
    rows = []
    for i in range(1, 41):
        level = "overnight" if i % 5 == 0 else "standard"
        qty = "0" if i % 7 == 0 else "1"  # a bad line rejects its order, in both halves
        rows += native_order(
            f"P-{i}", [("LAMP", "1", "10.00"), ("TENT", qty, "5.00")], service_level=level
        )
    data = csv_bytes(NATIVE_HEADER, rows)

    def check(parallel_min_rows: int) -> tuple[ImportResult, str]:
        rejects = io.StringIO()
        result = run_import(
            shop.acme,
            data,
            dry_run=True,
            rejects=rejects,
            chunk_orders=3,
            parallel_min_rows=parallel_min_rows,
        )
        return result, rejects.getvalue()

    one, one_rejects = check(10**9)
    two, two_rejects = check(1)

    assert (one.checked_by, two.checked_by) == (1, 2)
    assert two.summary(True) == one.summary(True)
    assert (two.total_rows, two.orders_new, two.lines_new, two.error_count) == (
        one.total_rows,
        one.orders_new,
        one.lines_new,
        one.error_count,
    )
    assert [e.as_dict() for e in two.errors] == [e.as_dict() for e in one.errors]
    assert {e.order for e in two.errors} == {"P-7", "P-14", "P-21", "P-28", "P-33", "P-35"}
    assert two_rejects == one_rejects and two_rejects.count("\n") == 1 + 12

    rejects = io.StringIO()
    seen: list[int] = []
    result = run_import(
        shop.acme,
        data,
        rejects=rejects,
        chunk_orders=3,
        parallel_min_rows=1,
        progress=lambda r, _line: seen.append(r.rows_checked),
    )

    assert result.checked_by == 2
    # Progress counts the helper's rows too (read from memory it shares), never going back.
    assert seen == sorted(seen) and seen[-1] == result.total_rows == 80
    assert (result.orders_created, result.lines_created) == (one.orders_new, one.lines_new)
    assert rejects.getvalue() == one_rejects
    created = Order.objects.filter(client=shop.acme).exclude(number="P-33")
    assert created.count() == 34
    # The 5 tents went to the most urgent orders of the whole file (overnight ones, from both
    # halves), as with one process.
    ready = set(created.filter(status="ready").values_list("number", flat=True))
    assert ready == {"P-5", "P-10", "P-15", "P-20", "P-25"}


def test_the_helpers_reader_leaves_the_shared_file_offset_alone(tmp_path):
    """A forked helper shares the parent's file offset: it reads with ``pread`` instead."""
    from orders.importing.helper import private_reader as _private_reader

    path = tmp_path / "orders.csv"
    path.write_bytes(b"order_number,sku\nA-1,LAMP\n")
    with path.open("rb") as fh:
        fh.seek(6)
        reader = _private_reader(fh)
        reader.seek(0)
        assert reader.read() == b"order_number,sku\nA-1,LAMP\n"
        assert fh.read() == b"number,sku\nA-1,LAMP\n"
    assert _private_reader(io.BytesIO(b"x")) is not None


@pytest.mark.django_db(transaction=True)
def test_no_helper_process_in_a_threaded_process_or_a_transaction(shop):
    """Forking copies only the calling thread (a lock another thread holds would stay locked
    in the helper), and a helper cannot see a transaction's uncommitted rows."""
    import threading

    from django.db import transaction

    importer = OrderFileImport(client=shop.acme, binary=io.BytesIO(b""), parallel_min_rows=1)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert importer._may_fork(10) is False
    finally:
        stop.set()
        other.join()
    with transaction.atomic():
        assert importer._may_fork(10) is False
    assert importer._may_fork(0) is False  # below parallel_min_rows
