"""Import jobs: the services (upload → preview → confirm/discard, inline or in the background
with progress) and the admin pages around them (upload, job page, status JSON, confirm,
discard, rejected rows, template), with permissions and client scoping.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape
from django_q.conf import Conf
from django_q.models import Task

from orders.exceptions import OrderError
from orders.importing import jobs as imports
from orders.importing.formats import NATIVE_COLUMNS
from orders.importing.jobs import (
    ImportNotAllowed,
    can_import,
    import_job_confirm,
    import_job_create,
    import_job_discard,
)
from orders.importing.pipeline import OrderFileImport
from orders.models import Customer, ImportJob, Order, OrderEvent, OrderLine
from tests.factories import Shop
from tests.orders.import_files import NATIVE_HEADER, csv_bytes, native_order, read_csv

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        acme={},
        nord={},
        products={"lamp": ("acme", "LAMP", 20)},
        users={
            "supervisor": ("acme_supervisor_nord_agent", "sup"),  # an agent on NORD
            "agent": "agent",
            "nord_supervisor": "nordsup",
        },
    )


def two_orders(*, bad_sku: str = "") -> bytes:
    rows = native_order(
        "J-1", [("LAMP", "2", "10.00"), (bad_sku or "LAMP", "1", "4.00")], customer_email="a@x.io"
    ) + native_order("J-2", [("LAMP", "1", "10.00")], customer_email="b@x.io")
    return csv_bytes(NATIVE_HEADER, rows)


def upload(data: bytes, name: str = "orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def counts() -> tuple[int, int, int, int]:
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Customer.objects.count(),
        OrderEvent.objects.count(),
    )


def job_url(name: str, job: ImportJob) -> str:
    return reverse(f"admin:orders_importjob_{name}", args=[job.pk])


# -- services ----------------------------------------------------------------------------------


def test_small_file_is_previewed_inline_and_nothing_is_written(shop):
    before = counts()

    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))

    assert counts() == before
    assert (job.status, job.background, job.detected_format) == ("previewed", False, "native")
    assert (job.total_rows, job.processed_rows) == (3, 3)
    assert (job.orders_new, job.lines_new, job.orders_created) == (2, 3, 0)
    assert (job.orders_rejected, job.orders_conflict, job.orders_skipped) == (0, 0, 0)
    assert job.message == "2 order(s) with 3 line(s) would be created."
    assert (job.file_name, job.user, job.errors, bool(job.error_report)) == (
        "orders.csv",
        shop.supervisor,
        [],
        False,
    )
    assert job.started_at is not None and job.finished_at is None


def test_confirm_imports_once_and_names_the_file_and_user(shop):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))

    job = import_job_confirm(job=job, user=shop.supervisor)

    assert job.status == ImportJob.Status.DONE
    assert (job.orders_created, job.lines_created, job.processed_rows) == (2, 3, 3)
    assert job.message == "2 order(s) with 3 line(s) created."
    assert job.finished_at is not None
    assert sorted(Order.objects.filter(client=shop.acme).values_list("number", flat=True)) == [
        "J-1",
        "J-2",
    ]
    events = OrderEvent.objects.filter(kind=OrderEvent.Kind.IMPORT)
    assert sorted(events.values_list("order__number", "user__username", "message")) == [
        ("J-1", "sup", "Imported from orders.csv by sup."),
        ("J-2", "sup", "Imported from orders.csv by sup."),
    ]
    with pytest.raises(OrderError, match=r"^This import is done; it cannot start\.$"):
        import_job_confirm(job=job, user=shop.supervisor)
    with pytest.raises(OrderError, match=r"^Only a previewed import can be discarded\.$"):
        import_job_discard(job=job, user=shop.supervisor)
    assert Order.objects.count() == 2


def test_the_same_file_twice_is_all_skipped(shop):
    first = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))
    import_job_confirm(job=first, user=shop.supervisor)

    second = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))

    assert (second.orders_new, second.orders_skipped, second.orders_conflict) == (0, 2, 0)
    assert (
        second.message == "0 order(s) with 0 line(s) would be created; 2 skipped (2 already "
        "imported)."
    )
    second = import_job_confirm(job=second, user=shop.supervisor)
    assert (second.status, second.orders_created, second.orders_skipped) == ("done", 0, 2)
    assert Order.objects.count() == 2


def test_preview_with_a_rejected_order_keeps_the_report(shop):
    job = import_job_create(
        client=shop.acme, user=shop.supervisor, upload=upload(two_orders(bad_sku="NOPE"))
    )

    assert (job.orders_new, job.orders_rejected, job.rows_rejected) == (1, 1, 2)
    assert job.errors == [
        {"line": 3, "column": "sku", "message": "Unknown SKU 'NOPE' for ACME.", "order": "J-1"}
    ]
    assert (
        job.message == "1 order(s) with 1 line(s) would be created; 1 order(s) rejected (2 row(s))."
    )
    with job.error_report.open("rb") as fh:
        report = read_csv(fh.read())
    assert report[0] == [*NATIVE_HEADER, "error"]
    assert [(r[0], r[2], r[-1]) for r in report[1:]] == [
        ("J-1", "LAMP", "Order J-1 rejected because of line 3: Unknown SKU 'NOPE' for ACME."),
        ("J-1", "NOPE", "sku: Unknown SKU 'NOPE' for ACME."),
    ]


def test_discard_leaves_everything_untouched(shop):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))

    job = import_job_discard(job=job, user=shop.supervisor)

    assert job.status == ImportJob.Status.DISCARDED
    assert job.finished_at is not None
    with pytest.raises(OrderError, match=r"^This import is discarded; it cannot start\.$"):
        import_job_confirm(job=job, user=shop.supervisor)
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x02binary\x00", "This is not a CSV file (it contains binary data)."),
        (b" \n\n ", "The file is empty."),
        (
            b"order_number;sku\nA;LAMP\n",
            "The native file is missing required column(s): placed_at, quantity.",
        ),
    ],
    ids=["binary", "whitespace", "missing-columns"],
)
def test_an_unreadable_file_fails_the_job_with_one_message(shop, data, message):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(data))

    assert (job.status, job.message) == (ImportJob.Status.FAILED, message)
    assert job.finished_at is not None
    assert (job.orders_new, job.errors) == (0, [])
    with pytest.raises(OrderError, match=r"^This import is failed; it cannot start\.$"):
        import_job_confirm(job=job, user=shop.supervisor)
    assert import_job_discard(job=job, user=shop.supervisor).status == "discarded"


def test_only_a_supervisor_of_that_client_may_import(shop):
    assert can_import(shop.supervisor, shop.acme) is True
    assert can_import(shop.supervisor, shop.nord) is False  # only an agent there
    assert can_import(shop.agent, shop.acme) is False
    assert can_import(shop.nord_supervisor, shop.acme) is False

    with pytest.raises(ImportNotAllowed, match=r"^You may not import orders for NORD\.$"):
        import_job_create(client=shop.nord, user=shop.supervisor, upload=upload(two_orders()))
    with pytest.raises(ImportNotAllowed, match=r"^You may not import orders for ACME\.$"):
        import_job_create(client=shop.acme, user=shop.agent, upload=upload(two_orders()))
    assert ImportJob.objects.count() == 0

    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))
    with pytest.raises(ImportNotAllowed, match=r"^You may not import orders for ACME\.$"):
        import_job_confirm(job=job, user=shop.nord_supervisor)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert Order.objects.count() == 0


def test_unknown_requested_format_is_refused(shop):
    with pytest.raises(OrderError, match=r"^Unknown format 'excel'\.$"):
        import_job_create(
            client=shop.acme,
            user=shop.supervisor,
            upload=upload(two_orders()),
            requested_format="excel",
        )


# -- the background path ------------------------------------------------------------------------

STATUS_KEYS = ("status", "processed_rows", "total_rows", "orders_new", "orders_created")


@pytest.fixture
def background(monkeypatch, client, shop):
    """Files above 3 rows go to django-q (run synchronously here), 2 orders per chunk, and every
    progress save is followed by a look at the status endpoint, as the job page polls it."""
    monkeypatch.setattr(imports, "BACKGROUND_ROWS", 3)
    monkeypatch.setattr(imports, "PROGRESS_EVERY_ROWS", 1)
    monkeypatch.setattr(Conf, "SYNC", True)
    monkeypatch.setitem(OrderFileImport.__init__.__kwdefaults__, "chunk_orders", 2)
    monkeypatch.setitem(OrderFileImport.__init__.__kwdefaults__, "create_chunk_orders", 2)
    polled: list[dict] = []
    original = imports._progress_saver

    def recording_saver(job_id):
        save = original(job_id)

        def saved_then_polled(result, line):
            save(result, line)
            data = client.get(reverse("admin:orders_importjob_status", args=[job_id])).json()
            polled.append({key: data[key] for key in STATUS_KEYS})

        return saved_then_polled

    monkeypatch.setattr(imports, "_progress_saver", recording_saver)
    client.force_login(shop.supervisor)
    return polled


def six_orders() -> bytes:
    rows = []
    for i in range(1, 7):
        rows += native_order(f"B-{i}", [("LAMP", "1", "10.00")])
    return csv_bytes(NATIVE_HEADER, rows)


def test_a_big_file_is_previewed_and_imported_in_the_background_with_progress(
    shop, client, background, django_capture_on_commit_callbacks
):
    before = counts()
    with django_capture_on_commit_callbacks() as queued:
        response = client.post(
            reverse("admin:orders_importjob_upload"),
            {"client": shop.acme.pk, "file_format": "auto", "file": upload(six_orders())},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == job_url("change", job)
    # Queued, not run: the page polls while the job is being checked.
    assert (job.background, job.status, job.total_rows) == (True, "validating", 6)
    assert len(queued) == 1
    page = client.get(job_url("change", job)).content.decode()
    assert 'data-running="1"' in page and '<div id="job-progress" >' in page

    queued[0]()  # the django-q worker runs orders.tasks.preview_import

    assert background == [
        {
            "status": "validating",
            "processed_rows": p,
            "total_rows": 6,
            "orders_new": n,
            "orders_created": 0,
        }
        for p, n in ((3, 2), (5, 4), (6, 6))
    ]
    job.refresh_from_db()
    assert (job.status, job.orders_new, job.lines_new, job.processed_rows) == ("previewed", 6, 6, 6)
    assert counts() == before
    background.clear()

    with django_capture_on_commit_callbacks() as queued:
        response = client.post(job_url("confirm", job))
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.orders_created) == ("importing", 0, 0)
    assert Order.objects.count() == 0
    page = client.get(job_url("change", job)).content.decode()
    assert 'data-running="1"' in page
    assert '<progress id="job-bar" max="100" value="0"' in page
    assert client.get(job_url("status", job)).json()["finished"] is False

    queued[0]()  # orders.tasks.run_import

    # First every row is checked (nothing created yet), then the orders are created, most
    # urgent first, two per transaction here.
    assert background == [
        {
            "status": "importing",
            "processed_rows": p,
            "total_rows": 6,
            "orders_new": n,
            "orders_created": c,
        }
        for p, n, c in ((3, 2, 0), (5, 4, 0), (6, 6, 0), (6, 6, 2), (6, 6, 4), (6, 6, 6))
    ]
    status = client.get(job_url("status", job)).json()
    assert status == {
        "status": "done",
        "status_display": "Done",
        "total_rows": 6,
        "processed_rows": 6,
        "percent": 100,
        "orders_new": 6,
        "orders_created": 6,
        "orders_rejected": 0,
        "orders_conflict": 0,
        "orders_skipped": 0,
        "rows_rejected": 0,
        "message": "6 order(s) with 6 line(s) created.",
        "progress_text": "6 / 6 rows · 6 orders created · 0 rejected",
        "finished": True,
    }
    assert Order.objects.filter(client=shop.acme).count() == 6
    tasks = Task.objects.filter(group="imports").order_by("started")
    assert list(tasks.values_list("name", "func", "success")) == [
        (f"import-{job.pk}", "orders.tasks.preview_import", True),
        (f"import-{job.pk}", "orders.tasks.run_import", True),
    ]


def test_a_retried_background_task_does_nothing_twice(shop, background):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(six_orders()))
    assert job.status == ImportJob.Status.VALIDATING
    imports.import_job_preview(job_id=job.pk)
    imports.import_job_preview(job_id=job.pk)  # a retry after success: nothing to do
    job.refresh_from_db()
    assert (job.status, job.orders_new) == ("previewed", 6)

    import_job_confirm(job=job, user=shop.supervisor)  # queued (never run: not committed)
    imports.import_job_run(job_id=job.pk)
    imports.import_job_run(job_id=job.pk)  # done already: returns at once

    job.refresh_from_db()
    assert (job.status, job.orders_created) == ("done", 6)
    assert Order.objects.count() == 6


def test_the_job_page_shows_a_progress_bar_while_importing(shop, client):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(six_orders()))
    # Half the rows checked, no order created yet: a quarter of the way (checking is the first
    # half of an import, creating the second).
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.IMPORTING, processed_rows=3, orders_created=0, orders_rejected=1
    )
    client.force_login(shop.supervisor)

    page = client.get(job_url("change", job)).content.decode()

    assert 'data-running="1"' in page
    assert '<div id="job-progress" >' in page
    assert '<progress id="job-bar" max="100" value="25"' in page
    assert "3 / 6 rows · 0 orders created · 1 rejected" in page
    assert 'id="job-counts"' not in page and 'id="confirm-import"' not in page
    assert client.get(job_url("status", job)).json()["percent"] == 25
    # Every row checked, 3 of the 6 new orders created: three quarters.
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=6, orders_new=6, orders_created=3)
    assert client.get(job_url("status", job)).json()["percent"] == 75

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE)
    page = client.get(job_url("change", job)).content.decode()
    assert 'data-running="0"' in page and '<div id="job-progress" hidden>' in page


# -- admin pages ---------------------------------------------------------------------------------


def client_options(page: str) -> list[str]:
    select = re.search(r'<select name="client".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="(\d+)"', select)


def test_upload_preview_confirm_through_the_admin(shop, client):
    client.force_login(shop.supervisor)
    page = client.get(reverse("admin:orders_importjob_upload")).content.decode()
    assert client_options(page) == [str(shop.acme.pk)]  # not NORD, where they are an agent

    response = client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(two_orders())},
    )
    job = ImportJob.objects.get()
    assert response["Location"] == job_url("change", job)
    page = client.get(job_url("change", job)).content.decode()
    assert "Preview — nothing has been written yet" in page
    assert '<td id="count-new">2 (3 lines)</td>' in page
    assert '<button type="submit" id="confirm-import">Import 2 orders</button>' in page
    assert Order.objects.count() == 0

    response = client.post(job_url("confirm", job), follow=True)

    assert response.redirect_chain == [(job_url("change", job), 302)]
    page = response.content.decode()
    assert "2 order(s) with 3 line(s) created." in page
    assert '<td id="count-created">2 (3 lines)</td>' in page
    assert 'id="confirm-import"' not in page
    assert Order.objects.filter(client=shop.acme).count() == 2

    # "Open the orders it created": the queue of exactly this import's orders.
    queue_url = reverse("admin:orders_order_changelist") + f"?import_job={job.pk}&queue=all"
    assert f'href="{escape(queue_url)}" id="to-queue"' in page
    other = Order.objects.create(
        client=shop.acme,
        number="OTHER-1",
        placed_at=datetime(2024, 1, 1, tzinfo=UTC),
        ship_by=datetime(2024, 1, 2, tzinfo=UTC),
        currency="USD",
    )
    queue = client.get(queue_url)
    assert {o.number for o in queue.context["cl"].result_list} == {"J-1", "J-2"}
    assert other.number not in queue.content.decode()
    bad = client.get(reverse("admin:orders_order_changelist") + "?import_job=x&queue=all")
    assert list(bad.context["cl"].result_list) == []


def test_nothing_to_import_has_no_confirm_button(shop, client):
    client.force_login(shop.supervisor)
    header_only = csv_bytes(NATIVE_HEADER, [])
    client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(header_only)},
    )
    job = ImportJob.objects.get()

    page = client.get(job_url("change", job)).content.decode()

    assert (job.status, job.total_rows, job.orders_new) == ("previewed", 0, 0)
    assert 'id="confirm-import"' not in page
    assert client.post(job_url("discard", job)).status_code == 302
    job.refresh_from_db()
    assert job.status == "discarded"


def test_rejected_rows_download_and_the_fixed_file_imports(shop, client):
    client.force_login(shop.supervisor)
    client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(two_orders(bad_sku="X9"))},
    )
    job = ImportJob.objects.get()
    page = client.get(job_url("change", job)).content.decode()
    assert f'href="{job_url("rejected", job)}" id="download-rejected"' in page
    assert "<td>3</td><td>J-1</td><td>sku</td><td>Unknown SKU &#x27;X9&#x27; for ACME.</td>" in page

    response = client.get(job_url("rejected", job))

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="orders-rejected.csv"'
    report = read_csv(b"".join(response.streaming_content))
    assert report[0] == [*NATIVE_HEADER, "error"]
    assert [(r[0], r[2]) for r in report[1:]] == [("J-1", "LAMP"), ("J-1", "X9")]

    import_job_confirm(job=job, user=shop.supervisor)  # J-2 comes in, J-1 waits for the fix
    report[2][2] = "LAMP"
    fixed = csv_bytes(report[0], [dict(zip(report[0], r, strict=True)) for r in report[1:]])
    client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(fixed, "fixed.csv")},
    )
    second = ImportJob.objects.exclude(pk=job.pk).get()
    assert (second.orders_new, second.orders_rejected, second.lines_new) == (1, 0, 2)
    client.post(job_url("confirm", second))
    second.refresh_from_db()
    assert (second.status, second.orders_created) == ("done", 1)
    assert sorted(Order.objects.values_list("number", flat=True)) == ["J-1", "J-2"]
    assert client.get(job_url("rejected", second)).status_code == 404  # nothing rejected


def test_the_template_downloads_and_imports(shop, client, make_product):
    make_product(shop.acme, "SKU-1")
    make_product(shop.acme, "SKU-2")
    client.force_login(shop.supervisor)

    response = client.get(reverse("admin:orders_importjob_template"))

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = read_csv(response.content)
    assert rows[0] == [name for name, _, _ in NATIVE_COLUMNS]
    assert len(rows) == 3
    job = import_job_create(
        client=shop.acme, user=shop.supervisor, upload=upload(response.content, "template.csv")
    )
    assert (job.status, job.orders_new, job.lines_new, job.errors) == ("previewed", 1, 2, [])
    job = import_job_confirm(job=job, user=shop.supervisor)
    order = Order.objects.get(number="10001")
    assert order.placed_at == datetime(2024, 3, 5, 19, 12, 44, tzinfo=UTC)
    assert (order.ship_to_postcode, order.customer.email) == ("02134", "jane@example.com")


@pytest.mark.parametrize(
    ("name", "data", "file_format", "message"),
    [
        (
            "photo.png",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "auto",
            "This is not a CSV file (it contains binary data).",
        ),
        (
            "orders.csv",
            "order_number,placed_at,sku,quantity\nA,2024-03-05,LAMP,1\nB,x,\xe9,1\n".encode(
                "latin-1"
            ),
            "auto",
            "The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload again.",
        ),
        ("orders.csv", b"   \n", "auto", "The file is empty."),
        (
            "../../etc/orders.csv",
            b"a;b;c\n1;2;3\n",
            "auto",
            "Unknown file format: expected the native columns (order_number, sku, quantity, …) "
            "or a Shopify orders export (Name, Lineitem sku, Lineitem quantity, …).",
        ),
        (
            "orders.csv",
            b"order_number,placed_at,sku,quantity\nA,2024-03-05,LAMP,1\n",
            "shopify",
            "The Shopify file is missing required column(s): name, created at, lineitem quantity, "
            "lineitem sku, lineitem price.",
        ),
        (
            "orders.csv",
            b'order_number,placed_at,sku,quantity\x00\n"A,2024,\x00\n',
            "auto",
            "This is not a CSV file (it contains binary data).",
        ),
    ],
    # (a stray NUL in a cell of a text file rejects that row's order instead: see
    # test_import_hardening.py; a NUL in the header line is not a CSV file)
    ids=["png", "latin-1", "whitespace", "path-in-name", "forced-shopify", "nul-byte"],
)
def test_bad_uploads_end_in_a_failed_job_page_not_an_error(
    shop, client, name, data, file_format, message
):
    client.force_login(shop.supervisor)

    response = client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": file_format, "file": upload(data, name)},
        follow=True,
    )

    job = ImportJob.objects.get()
    assert response.status_code == 200
    assert (job.status, job.message, job.file_name) == ("failed", message, name.rsplit("/")[-1])
    assert (
        f'<p id="job-message"><strong>{escape(message)}</strong></p>' in response.content.decode()
    )
    assert 'id="confirm-import"' not in response.content.decode()
    assert client.get(job_url("status", job)).json()["finished"] is True


def test_an_empty_upload_is_refused_by_the_form(shop, client):
    client.force_login(shop.supervisor)

    response = client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(b"")},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The submitted file is empty."]}
    assert ImportJob.objects.count() == 0


def test_agents_cannot_reach_the_import_pages(shop, client):
    job = import_job_create(
        client=shop.acme, user=shop.supervisor, upload=upload(two_orders(bad_sku="X"))
    )
    client.force_login(shop.agent)

    assert client.get(reverse("admin:orders_importjob_changelist")).status_code == 403
    assert client.get(reverse("admin:orders_importjob_upload")).status_code == 403
    response = client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.acme.pk, "file_format": "auto", "file": upload(two_orders())},
    )
    assert response.status_code == 403
    for name in ("change", "status", "rejected"):
        assert client.get(job_url(name, job)).status_code == 403, name
    for name in ("confirm", "discard"):
        assert client.post(job_url(name, job)).status_code == 403, name
    job.refresh_from_db()
    assert (job.status, ImportJob.objects.count(), Order.objects.count()) == ("previewed", 1, 0)


def test_a_supervisor_cannot_import_into_a_client_they_do_not_supervise(shop, client):
    client.force_login(shop.supervisor)

    response = client.post(
        reverse("admin:orders_importjob_upload"),
        {"client": shop.nord.pk, "file_format": "auto", "file": upload(two_orders())},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "client": ["Select a valid choice. That choice is not one of the available choices."]
    }
    assert ImportJob.objects.count() == 0


def test_another_clients_job_is_not_there(shop, client):
    job = import_job_create(
        client=shop.acme, user=shop.supervisor, upload=upload(two_orders(bad_sku="X"))
    )
    client.force_login(shop.nord_supervisor)

    for name in ("change", "status", "rejected"):
        assert client.get(job_url(name, job)).status_code == 404, name
    for name in ("confirm", "discard"):
        assert client.post(job_url(name, job)).status_code == 404, name
    changelist = client.get(reverse("admin:orders_importjob_changelist"))
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == []
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert Order.objects.count() == 0

    missing = reverse("admin:orders_importjob_status", args=[job.pk + 1000])
    client.force_login(shop.supervisor)
    assert client.get(missing).status_code == 404
    assert list(
        client.get(reverse("admin:orders_importjob_changelist")).context["cl"].result_list
    ) == [job]


def test_confirm_and_discard_need_post(shop, client):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))
    client.force_login(shop.supervisor)

    assert client.get(job_url("confirm", job)).status_code == 405
    assert client.get(job_url("discard", job)).status_code == 405
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED


def test_confirming_a_finished_job_again_shows_a_message(shop, client):
    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))
    import_job_confirm(job=job, user=shop.supervisor)
    client.force_login(shop.supervisor)

    response = client.post(job_url("confirm", job), follow=True)

    assert [str(m) for m in response.context["messages"]] == [
        "This import is done; it cannot start."
    ]
    assert Order.objects.count() == 2


def test_an_internal_error_fails_the_job_with_a_message_instead_of_leaving_it_running(
    shop, monkeypatch, caplog
):
    """E.g. the database going away or the helper process of a large file failing: the job
    ends failed with a message the supervisor can act on, and the error is logged."""
    from orders.importing.pipeline import OrderFileImport

    job = import_job_create(client=shop.acme, user=shop.supervisor, upload=upload(two_orders()))
    assert job.status == ImportJob.Status.PREVIEWED

    def broken(self):
        raise RuntimeError("The import's helper process failed (status 9).")

    monkeypatch.setattr(OrderFileImport, "run", broken)
    import_job_confirm(job=job, user=shop.supervisor)  # a small file: imported at once

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.message.startswith("The import stopped on an internal error (it is logged).")
    assert job.finished_at is not None
    assert "helper process failed" in caplog.text
    assert Order.objects.filter(client=shop.acme).count() == 0
