"""``manage.py import_orders``: the same rules as the admin, for scheduled feeds.

Exit status: 0 when every order was created or skipped, 1 when rows were rejected or
conflicted, 2 when the file could not be read at all; ``--dry-run`` writes nothing.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from orders.models import Customer, Order, OrderEvent, OrderLine
from tests.orders.import_files import (
    NATIVE_HEADER,
    csv_bytes,
    native_order,
    read_csv,
    shopify_header,
    shopify_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(make_client, make_warehouse, make_product):
    client = make_client("ACME")
    make_product(client, "LAMP", stock={make_warehouse("EAST"): 10})
    return client


def run(*args) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of the command."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_orders", *map(str, args), stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def write(tmp_path: Path, rows: list[dict], name: str = "feed.csv", **kwargs) -> Path:
    path = tmp_path / name
    path.write_bytes(csv_bytes(NATIVE_HEADER, rows, **kwargs))
    return path


def counts() -> tuple[int, int, int, int]:
    return (
        Order.objects.count(),
        OrderLine.objects.count(),
        Customer.objects.count(),
        OrderEvent.objects.count(),
    )


def good_rows() -> list[dict]:
    return native_order(
        "K-1", [("LAMP", "1", "10.00"), ("LAMP", "2", "1.00")], customer_email="k@x.io"
    ) + native_order("K-2", [("LAMP", "1", "10.00")])


def test_a_clean_file_imports_and_exits_0(acme, tmp_path):
    path = write(tmp_path, good_rows())

    code, out, err = run(path, "--client", "acme")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("feed.csv (native, 3 rows, ")
    assert lines[1:] == ["2 order(s) with 3 line(s) created."]
    assert sorted(Order.objects.filter(client=acme).values_list("number", flat=True)) == [
        "K-1",
        "K-2",
    ]
    event = OrderEvent.objects.get(order__number="K-2", kind=OrderEvent.Kind.IMPORT)
    assert (event.user, event.message) == (None, "Imported from feed.csv.")


def test_the_same_file_again_skips_everything_and_exits_0(acme, tmp_path):
    path = write(tmp_path, good_rows())
    run(path, "--client", "ACME")
    before = counts()

    code, out, _ = run(path, "--client", "ACME")

    assert code == 0
    assert out.splitlines()[1] == (
        "0 order(s) with 0 line(s) created; 2 skipped (2 already imported)."
    )
    assert counts() == before


def test_rejected_rows_exit_1_and_land_in_the_rejects_file(acme, tmp_path):
    rows = good_rows()
    rows[1]["quantity"] = "-1"
    path = write(tmp_path, rows)
    rejects = tmp_path / "rejects.csv"

    code, out, _ = run(path, "--client", "ACME", "--rejects", rejects)

    assert code == 1
    assert out.splitlines()[1:] == [
        "1 order(s) with 1 line(s) created; 1 order(s) rejected (2 row(s)).",
        "  line 3, quantity: The quantity must be above zero (got -1).",
    ]
    assert list(Order.objects.values_list("number", flat=True)) == ["K-2"]
    report = read_csv(rejects.read_bytes())
    assert report[0] == [*NATIVE_HEADER, "error"]
    assert [(r[0], r[3], r[-1]) for r in report[1:]] == [
        (
            "K-1",
            "1",
            "Order K-1 rejected because of line 3: The quantity must be above zero (got -1).",
        ),
        # (neutralised for spreadsheets like the export: "-1" would run as a formula)
        ("K-1", "'-1", "quantity: The quantity must be above zero (got -1)."),
    ]


def test_a_conflict_exits_1(acme, tmp_path):
    run(write(tmp_path, good_rows()), "--client", "ACME")
    changed = native_order("K-2", [("LAMP", "5", "10.00")])

    code, out, _ = run(write(tmp_path, changed, "changed.csv"), "--client", "ACME")

    assert code == 1
    assert out.splitlines()[1:] == [
        "0 order(s) with 0 line(s) created; 1 conflict(s) with existing orders.",
        "  line 2, order_number: Order K-2 was imported before with different lines; it was "
        "not changed. Correct it in the back-office or use a new number.",
    ]
    assert OrderLine.objects.get(order__number="K-2").quantity == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"\x00\x00\x00\x18ftypmp42",
            "feed.csv: This is not a CSV file (it contains binary data).",
        ),
        (b"", "feed.csv: The file is empty."),
        (
            b"Name,Email\n#1,a@b.c\n",
            "feed.csv: Unknown file format: expected the native columns (order_number, sku, "
            "quantity, …) or a Shopify orders export (Name, Lineitem sku, Lineitem quantity, …).",
        ),
        (
            b"order_number,sku\n1,LAMP\n",
            "feed.csv: The native file is missing required column(s): placed_at, quantity.",
        ),
    ],
    ids=["binary", "empty", "unknown-format", "missing-columns"],
)
def test_an_unreadable_file_exits_2_with_one_message(acme, tmp_path, data, message):
    path = tmp_path / "feed.csv"
    path.write_bytes(data)
    before = counts()

    code, out, err = run(path, "--client", "ACME")

    assert (code, out, err) == (2, "", message + "\n")
    assert counts() == before


def test_dry_run_writes_nothing_but_reports_and_still_exits_1_on_rejects(acme, tmp_path):
    rows = good_rows() + native_order("K-3", [("NOPE", "1", "1.00")])
    path = write(tmp_path, rows)
    before = counts()

    code, out, _ = run(path, "--client", "ACME", "--dry-run")

    assert code == 1
    assert out.splitlines()[1:] == [
        "Dry run: 2 order(s) with 3 line(s) would be created; 1 order(s) rejected (1 row(s)).",
        "  line 5, sku: Unknown SKU 'NOPE' for ACME.",
    ]
    assert counts() == before


def test_a_shopify_feed_with_the_format_forced(acme, tmp_path):
    path = tmp_path / "shopify.csv"
    path.write_bytes(
        csv_bytes(shopify_header(seed=3), shopify_order("#9", [("LAMP", "3", "2.50")]), bom=True)
    )

    code, out, _ = run(path, "--client", "ACME", "--format", "shopify", "--chunk", "1")

    assert code == 0
    assert out.splitlines()[1] == "1 order(s) with 1 line(s) created."
    assert Order.objects.get(number="#9").source == Order.Source.SHOPIFY


def test_more_than_50_problems_are_summarised(acme, tmp_path):
    rows = []
    for i in range(52):
        rows += native_order(f"M-{i}", [("NOPE", "1", "1.00")])
    path = write(tmp_path, rows)

    code, out, _ = run(path, "--client", "ACME", "--dry-run")

    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 2 + 50 + 1
    assert lines[-1] == "  … and 2 more (see --rejects)"


def test_unknown_client_or_file_is_a_command_error(acme, tmp_path):
    with pytest.raises(CommandError, match=r"^No client with code nope\.$"):
        call_command("import_orders", str(write(tmp_path, good_rows())), "--client", "nope")
    with pytest.raises(CommandError, match=r"^No such file: .*missing\.csv$"):
        call_command("import_orders", str(tmp_path / "missing.csv"), "--client", "ACME")
    assert Order.objects.count() == 0
