"""The queue's export in a browser: the agent filters the queue, clicks Export…, keeps the
default CSV and gets a file with the labels shown on the pages."""

from __future__ import annotations

import csv

import pytest

from orders.models import Order

pytestmark = pytest.mark.e2e


def test_export_downloads_a_csv_with_labels(seed_demo, admin_login, live_server):
    seed_demo(orders=20)
    page = admin_login("agent", "agent")
    page.goto(f"{live_server.url}/admin/orders/order/?queue=all")
    page.locator("#export-queue").click()
    page.wait_for_url("**/admin/orders/order/export/**")
    assert page.locator("#id_file_format_0").is_checked()  # CSV by default
    with page.expect_download() as info:
        page.locator("#export-submit").click()
    download = info.value
    assert download.suggested_filename.startswith("orders-")
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:5] == ["Order number", "Client", "Customer", "Customer e-mail", "Status"]
    status_labels = set(dict(Order.Status.choices).values())
    statuses = {row[header.index("Status")] for row in rows[1:]}
    assert statuses and statuses <= status_labels
    assert {row[header.index("Expedited")] for row in rows[1:]} <= {"Yes", "No"}
    visible = set(
        Order.objects.filter(client__memberships__user__username="agent").values_list(
            "number", flat=True
        )
    )
    assert {row[0].lstrip("'") for row in rows[1:]} == visible
