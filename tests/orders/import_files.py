"""Order files for the import tests, written with the csv module the way shops write them.

Native files use our documented columns; Shopify files use the full "Export orders" header
(79 columns) in whatever order the test asks for, with continuation rows that repeat only
Name, Email, Created at and the Lineitem columns — as Shopify does.
"""

from __future__ import annotations

import csv
import io
import random

NATIVE_HEADER = [
    "order_number",
    "placed_at",
    "sku",
    "quantity",
    "unit_price",
    "currency",
    "customer_email",
    "customer_name",
    "customer_id",
    "customer_tier",
    "service_level",
    "ship_by",
    "payment_status",
    "shipping_total",
    "tax_total",
    "ship_to_name",
    "ship_to_address1",
    "ship_to_city",
    "ship_to_postcode",
    "ship_to_country",
    "ship_to_phone",
    "client",
]
# Everything but order_number and the line columns: what "only on the first row" blanks.
NATIVE_ORDER_COLUMNS = [
    c for c in NATIVE_HEADER if c not in {"order_number", "sku", "quantity", "unit_price"}
]

SHOPIFY_HEADER = [
    "Name",
    "Email",
    "Financial Status",
    "Paid at",
    "Fulfillment Status",
    "Fulfilled at",
    "Accepts Marketing",
    "Currency",
    "Subtotal",
    "Shipping",
    "Taxes",
    "Total",
    "Discount Code",
    "Discount Amount",
    "Shipping Method",
    "Created at",
    "Lineitem quantity",
    "Lineitem name",
    "Lineitem price",
    "Lineitem compare at price",
    "Lineitem sku",
    "Lineitem requires shipping",
    "Lineitem taxable",
    "Lineitem fulfillment status",
    "Billing Name",
    "Billing Street",
    "Billing Address1",
    "Billing Address2",
    "Billing Company",
    "Billing City",
    "Billing Zip",
    "Billing Province",
    "Billing Country",
    "Billing Phone",
    "Shipping Name",
    "Shipping Street",
    "Shipping Address1",
    "Shipping Address2",
    "Shipping Company",
    "Shipping City",
    "Shipping Zip",
    "Shipping Province",
    "Shipping Country",
    "Shipping Phone",
    "Notes",
    "Note Attributes",
    "Cancelled at",
    "Payment Method",
    "Payment Reference",
    "Refunded Amount",
    "Vendor",
    "Outstanding Balance",
    "Employee",
    "Location",
    "Device ID",
    "Id",
    "Tags",
    "Risk Level",
    "Source",
    "Lineitem discount",
    "Tax 1 Name",
    "Tax 1 Value",
    "Tax 2 Name",
    "Tax 2 Value",
    "Tax 3 Name",
    "Tax 3 Value",
    "Tax 4 Name",
    "Tax 4 Value",
    "Tax 5 Name",
    "Tax 5 Value",
    "Phone",
    "Receipt Number",
    "Duties",
    "Billing Province Name",
    "Shipping Province Name",
    "Payment ID",
    "Payment Terms Name",
    "Next Payment Due At",
    "Payment References",
]
# Columns Shopify repeats on every row of an order.
SHOPIFY_REPEATED = {"Name", "Email", "Created at"}


def csv_bytes(
    header: list[str],
    rows: list[dict],
    *,
    delimiter: str = ",",
    bom: bool = False,
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    """``rows`` are dicts by column name; a missing column is an empty cell."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter, quoting=quoting)
    writer.writerow(header)
    for row in rows:
        unknown = set(row) - set(header)
        assert not unknown, f"columns not in the header: {unknown}"
        writer.writerow([row.get(name, "") for name in header])
    data = text.getvalue().encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data


def native_order(number: str, lines: list[tuple], *, first_row_only: bool = False, **fields):
    """Rows of one native order: ``lines`` are ``(sku, quantity, unit_price)``.

    Order fields go on every row, or with ``first_row_only`` on the first row alone.
    """
    fields.setdefault("placed_at", "2024-03-05 14:12:44 -0500")
    rows = []
    for i, (sku, quantity, price) in enumerate(lines):
        row = {"order_number": number, "sku": sku, "quantity": quantity, "unit_price": price}
        if i == 0 or not first_row_only:
            row.update(fields)
        rows.append(row)
    return rows


def shopify_order(
    name: str, lines: list[tuple], *, email: str = "", created_at: str = "", **fields
) -> list[dict]:
    """Rows of one Shopify order: ``lines`` are ``(sku, quantity, price[, line status])``.

    ``fields`` use Shopify's column names (``Financial_Status`` → "Financial Status") and go
    on the first row only; continuation rows repeat Name, Email, Created at and Lineitem *.
    """
    order_fields = {k.replace("_", " "): v for k, v in fields.items()}
    order_fields.setdefault("Financial Status", "paid")
    order_fields.setdefault("Currency", "USD")
    rows = []
    for i, (sku, quantity, price, *rest) in enumerate(lines):
        row = {
            "Name": name,
            "Email": email,
            "Created at": created_at or "2024-03-05 14:12:44 -0500",
            "Lineitem quantity": quantity,
            "Lineitem name": f"Item {sku}",
            "Lineitem price": price,
            "Lineitem compare at price": "",
            "Lineitem sku": sku,
            "Lineitem requires shipping": "true",
            "Lineitem taxable": "true",
            "Lineitem fulfillment status": rest[0] if rest else "pending",
            "Lineitem discount": "0.00",
        }
        if i == 0:
            row.update(order_fields)
        rows.append(row)
    return rows


def shopify_header(*, seed: int | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    """The real header plus ``extra`` unknown columns, shuffled when ``seed`` is given."""
    header = [*SHOPIFY_HEADER, *extra]
    if seed is not None:
        random.Random(seed).shuffle(header)
    return header


def read_csv(data: bytes | str) -> list[list[str]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    return list(csv.reader(io.StringIO(text, newline="")))
