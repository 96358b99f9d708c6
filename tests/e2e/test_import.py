"""Importing a Shopify orders export in the browser: upload, preview, confirm, find the orders.

Issue acceptance: a browser test uploads a Shopify-format file, sees the preview with a
rejected row, confirms, and finds the orders in the queue.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from orders.models import ImportJob, Order
from tests.orders.import_files import SHOPIFY_HEADER

pytestmark = pytest.mark.e2e

TIMEOUT = 20_000  # ms, for expectations that follow a form post on a slow shared machine

# Shopify's full "Export orders" header, shared with the import unit tests.
HEADER = SHOPIFY_HEADER
UNKNOWN_SKU = "ACME-GHOST-1"
# (street, city, zip) — Shopify writes all-digit zips as '02134 so that Excel keeps the zero.
BOSTON = ("12 Beacon Street", "Boston", "'02134")
SALEM = ("8 Harbor Road", "Salem", "'01970")
CAMBRIDGE = ("3 Meadow Lane", "Cambridge", "'02139")


def _order_row(name, email, created, buyer, address, total, method="Standard Shipping"):
    """An order's first row: the order columns, as Shopify fills them."""
    street, city, zip_code = address
    return {
        "Name": name,
        "Email": email,
        "Financial Status": "paid",
        "Paid at": created,
        "Fulfillment Status": "unfulfilled",
        "Accepts Marketing": "no",
        "Currency": "USD",
        "Subtotal": total,
        "Shipping": "0.00",
        "Taxes": "0.00",
        "Total": total,
        "Shipping Method": method,
        "Created at": created,
        "Billing Name": buyer,
        "Billing Address1": street,
        "Billing City": city,
        "Billing Zip": zip_code,
        "Billing Country": "US",
        "Shipping Name": buyer,
        "Shipping Address1": street,
        "Shipping City": city,
        "Shipping Zip": zip_code,
        "Shipping Province": "MA",
        "Shipping Country": "US",
        "Payment Method": "Shopify Payments",
        "Source": "web",
    }


def _line(name, email, created, qty, title, price, sku):
    """The Lineitem columns; a continuation row is this and nothing else."""
    return {
        "Name": name,
        "Email": email,
        "Created at": created,
        "Lineitem quantity": str(qty),
        "Lineitem name": title,
        "Lineitem price": price,
        "Lineitem sku": sku,
        "Lineitem requires shipping": "true",
        "Lineitem taxable": "true",
        "Lineitem fulfillment status": "pending",
    }


def _shopify_export() -> bytes:
    """Three orders as Shopify exports them: #1001 (one line), #1002 (two lines, a two-line
    note) and #1003, whose SKU the client does not have."""
    now = timezone.now()
    t1, t2, t3 = ((now - timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S %z") for h in (5, 3, 2))
    ana, ben, chloe = "ana.smith@example.com", "ben.meyer@example.com", "chloe.rossi@example.com"
    rows = [
        {
            **_order_row("#1001", ana, t1, "Ana Smith", BOSTON, "49.00"),
            **_line("#1001", ana, t1, 1, "Trail jacket", "49.00", "ACME-0001"),
            "Shipping Phone": "'+16175550100",
            "Id": "5550001",
        },
        {
            **_order_row("#1002", ben, t2, "Ben Meyer", SALEM, "120.00", "Express Shipping"),
            **_line("#1002", ben, t2, 2, "Alpine mug", "15.50", "ACME-0002"),
            "Notes": "Leave it with the neighbour at no. 10.\nRing twice, the bell is broken.",
            "Tags": "gift, repeat customer",
            "Id": "5550002",
        },
        _line("#1002", ben, t2, 1, "Summit tent", "89.00", "ACME-0003"),
        {
            **_order_row("#1003", chloe, t3, "Chloe Rossi", CAMBRIDGE, "30.00"),
            **_line("#1003", chloe, t3, 1, "Glacier lamp", "30.00", UNKNOWN_SKU),
            "Id": "5550003",
        },
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HEADER, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """Uploaded files and rejected-row reports go to a temporary folder, not ./media."""
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def test_supervisor_imports_a_shopify_export(seed_demo, media_root, admin_login, live_server):
    seed_demo(orders=10)
    page = admin_login("supervisor", "supervisor")

    # Upload: client, format, file.
    page.goto(f"{live_server.url}/admin/orders/importjob/upload/")
    page.select_option("#id_client", label="Acme Outdoor Gear (ACME)")
    page.select_option("#id_file_format", label="Shopify orders export")
    page.set_input_files(
        "#id_file",
        files=[
            {"name": "orders_export_1.csv", "mimeType": "text/csv", "buffer": _shopify_export()}
        ],
    )
    page.locator("#import-form input[type=submit]").click()

    # The preview: two orders would come in, the one with the unknown SKU is rejected.
    page.wait_for_url(re.compile(r"/admin/orders/importjob/\d+/change/$"), timeout=TIMEOUT)
    counts = page.locator("#job-counts")
    expect(counts.locator("h2")).to_have_text("Preview — nothing has been written yet")
    expect(page.locator("#job-status")).to_have_text("Preview ready")
    expect(page.locator("#count-rows")).to_have_text("4")
    expect(page.locator("#count-new")).to_have_text("2 (3 lines)")
    expect(page.locator("#count-rejected")).to_have_text("1 (1 rows)")
    expect(page.locator("#count-skipped")).to_have_text("0")
    expect(page.locator("#count-conflict")).to_have_text("0")
    errors = page.locator("#job-errors tbody tr")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("#1003")
    expect(errors.first).to_contain_text("Lineitem sku")
    expect(errors.first).to_contain_text(f"Unknown SKU '{UNKNOWN_SKU}' for ACME.")
    assert not Order.objects.filter(number__in=["#1001", "#1002", "#1003"]).exists()

    # The rejected rows come back as the shop's columns plus an error column.
    with page.expect_download() as download:
        page.locator("#download-rejected").click()
    rejected = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert rejected[0] == [*HEADER, "error"]
    assert [row[0] for row in rejected[1:]] == ["#1003"]
    assert UNKNOWN_SKU in rejected[1][-1]

    # Confirm: the two good orders are created.
    confirm = page.locator("#confirm-import")
    expect(confirm).to_have_text("Import 2 orders")
    confirm.click()
    expect(counts.locator("h2")).to_have_text("Result", timeout=TIMEOUT)
    expect(page.locator("#job-status")).to_have_text("Done")
    expect(page.locator("#count-created")).to_have_text("2 (3 lines)")
    expect(page.locator(".messagelist .success")).to_contain_text(
        "2 order(s) with 3 line(s) created"
    )
    expect(page.locator("#confirm-import")).to_have_count(0)

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.DONE
    assert (job.orders_created, job.orders_rejected) == (2, 1)
    imported = {
        o.number: o for o in Order.objects.filter(client__code="ACME", number__startswith="#")
    }
    assert set(imported) == {"#1001", "#1002"}
    assert imported["#1002"].lines.count() == 2
    assert imported["#1002"].service_level == Order.ServiceLevel.EXPEDITED
    assert imported["#1001"].ship_to_postcode == "02134"
    assert imported["#1001"].ship_to_phone == "+16175550100"

    # The queue of exactly the orders this import created, then each found by its number.
    page.locator("#to-queue").click()
    page.wait_for_url(re.compile(rf"/admin/orders/order/\?import_job={job.pk}&queue=all$"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2, timeout=TIMEOUT)
    for number, customer in (("#1001", "Ana Smith"), ("#1002", "Ben Meyer")):
        page.fill("#searchbar", number)
        page.locator("#changelist-search [type=submit]").click()
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1, timeout=TIMEOUT)
        expect(rows.first.locator(".field-number")).to_have_text(number)
        expect(rows.first.locator(".field-client_code")).to_have_text("ACME")
        expect(rows.first.locator(".field-customer")).to_contain_text(customer)
        expect(rows.first.locator(".field-status")).to_have_text(
            imported[number].get_status_display()
        )
    rows.first.locator(".field-number a").click()
    expect(page.locator("#order-header .big")).to_have_text("#1002", timeout=TIMEOUT)
    expect(page.locator("#order-lines tbody tr")).to_have_count(2)
    expect(page.locator("#order-timeline")).to_contain_text("orders_export_1.csv")


def test_an_interrupted_import_is_found_and_resumed_in_the_browser(
    seed_demo, media_root, admin_login, live_server
):
    """Issue #11 finding 8: the job page finds a dead worker's job, shows what it created
    and resumes it."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from clients.models import Client
    from orders.importing.jobs import import_job_create

    seed_demo(orders=10)
    acme = Client.objects.get(code="ACME")
    sku = acme.products.filter(active=True).order_by("sku").first().sku
    data = (
        "order_number,placed_at,sku,quantity\n"
        + "".join(f"RES-{i},2024-03-05 10:00,{sku},1\n" for i in range(3))
    ).encode()
    job = import_job_create(
        client=acme,
        user=get_user_model().objects.get(username="supervisor"),
        upload=SimpleUploadedFile("resume.csv", data),
    )
    # Confirmed, then its worker (on another machine) stopped beating long ago.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.IMPORTING,
        worker="other-host:4242",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    page = admin_login("supervisor", "supervisor")

    page.goto(f"{live_server.url}/admin/orders/importjob/{job.pk}/change/")

    expect(page.locator("#job-status")).to_have_text("Interrupted")
    expect(page.locator("#job-message")).to_contain_text("0 order(s) with 0 line(s) were created")
    page.locator("#resume-import").click()
    expect(page.locator("#job-status")).to_have_text("Done", timeout=TIMEOUT)
    expect(page.locator("#count-created")).to_have_text("3 (3 lines)")
    assert Order.objects.filter(number__startswith="RES-").count() == 3
