"""The two file formats we read, and how their columns map to one row shape.

**Native** (documented in README, template downloadable from the import page): one row per
order line; order fields on every row or only on an order's first row.

**Shopify "Export orders"**: columns found by header name, never position; order fields only
on an order's first row; continuation rows repeat Name, Email, Created at and Lineitem *.
"""

from __future__ import annotations

from dataclasses import dataclass

from orders.resources import FORMULA_TRIGGERS

NATIVE = "native"
SHOPIFY = "shopify"

# canonical field -> (native column, description) ; the template is built from this table
NATIVE_COLUMNS: list[tuple[str, str, bool]] = [
    ("order_number", "The shop's order number (unique per client).", True),
    ("placed_at", "When the order was placed: 2024-03-05 14:12:44 -0500 or ISO 8601.", True),
    ("sku", "Product SKU as set up for the client.", True),
    ("quantity", "Whole number above zero.", True),
    ("unit_price", "Price per unit, e.g. 19.99 (default 0).", False),
    ("currency", "ISO code; must be the client's currency (default: the client's).", False),
    ("customer_email", "Customer e-mail (matches or creates the customer).", False),
    ("customer_name", "Customer name.", False),
    ("customer_id", "The shop's customer id (optional).", False),
    ("customer_tier", "standard, silver, gold or vip (new customers only).", False),
    ("service_level", "standard, expedited or overnight (default standard).", False),
    ("ship_by", "Promised ship date/time; derived from the client's SLA when empty.", False),
    ("payment_status", "paid, pending, authorized, partially_paid, … (default paid).", False),
    ("shipping_total", "Shipping charged (default 0).", False),
    ("tax_total", "Tax charged (default 0).", False),
    ("ship_to_name", "Recipient name.", False),
    ("ship_to_address1", "Street address.", False),
    ("ship_to_address2", "Address line 2.", False),
    ("ship_to_city", "City.", False),
    ("ship_to_postcode", "Postcode.", False),
    ("ship_to_region", "State / province.", False),
    ("ship_to_country", "Two-letter country code.", False),
    ("ship_to_phone", "Phone.", False),
    ("delivery_notes", "Delivery instructions from the customer (kept on the order).", False),
    ("client", "Client code; when present it must be the client you import into.", False),
]
NATIVE_REQUIRED = [name for name, _, required in NATIVE_COLUMNS if required]

SHOPIFY_MAP = {
    "name": "order_number",
    "email": "customer_email",
    "financial status": "payment_status",
    "fulfillment status": "fulfillment_status",
    "currency": "currency",
    "shipping": "shipping_total",
    "taxes": "tax_total",
    "total": "total",
    "shipping method": "shipping_method",
    "created at": "placed_at",
    "cancelled at": "cancelled_at",
    "lineitem quantity": "quantity",
    "lineitem name": "line_name",
    "lineitem price": "unit_price",
    "lineitem sku": "sku",
    "lineitem fulfillment status": "line_fulfillment_status",
    "billing name": "customer_name",
    "shipping name": "ship_to_name",
    "shipping address1": "ship_to_address1",
    "shipping address2": "ship_to_address2",
    "shipping city": "ship_to_city",
    "shipping zip": "ship_to_postcode",
    "shipping province": "ship_to_region",
    "shipping country": "ship_to_country",
    "shipping phone": "ship_to_phone",
    "notes": "delivery_notes",
}
SHOPIFY_REQUIRED = ["name", "created at", "lineitem quantity", "lineitem sku", "lineitem price"]
SHOPIFY_PAYMENT = {
    "paid": "paid",
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "expired",
}
# Fields that belong to the order (only on the first row of a Shopify order).
ORDER_FIELDS = {
    "placed_at",
    "customer_email",
    "customer_name",
    "customer_id",
    "customer_tier",
    "service_level",
    "ship_by",
    "payment_status",
    "currency",
    "shipping_total",
    "tax_total",
    "total",
    "shipping_method",
    "cancelled_at",
    "fulfillment_status",
    "client",
    "delivery_notes",
} | {name for name, _, _ in NATIVE_COLUMNS if name.startswith("ship_to_")}


@dataclass(frozen=True)
class Layout:
    """Where each canonical field sits in this file's rows."""

    format: str
    index: dict[str, int]  # canonical field -> column position
    columns: dict[str, str]  # canonical field -> the column's name in the file (for messages)


def cell(values: list[str], pos: int | None) -> str:
    """The text of the cell at ``pos`` (a ``Layout.index`` position; ``None``: the file has no
    such column): stripped, ``""`` when blank or a quoted empty string (Shopify writes both).

    A cell our rejected-rows file neutralised for spreadsheets (``'=…``, see
    ``orders.resources.neutralise_formula``) reads as what it was, so a fixed file imports."""
    if pos is None or pos >= len(values):
        return ""
    value = values[pos].strip()
    if value[:1] == "'" and value[1:2] in FORMULA_TRIGGERS and len(value) > 1:
        value = value[1:].strip()
    return "" if value == '""' else value


class HeaderProblem(Exception):
    pass


def _native_key(header: str) -> str:
    return header.replace(" ", "_")


def detect_format(header: list[str]) -> str | None:
    keys = set(header)
    if {"name", "lineitem sku"} <= keys or {"name", "lineitem quantity"} <= keys:
        return SHOPIFY
    if {"order_number", "sku"} <= {_native_key(h) for h in keys}:
        return NATIVE
    return None


def build_layout(header: list[str], raw_header: list[str], requested: str = "auto") -> Layout:
    """Map this file's columns; raise :class:`HeaderProblem` naming what is missing."""
    detected = detect_format(header)
    fmt = detected if requested in ("", "auto") else requested
    if fmt is None:
        raise HeaderProblem(
            "Unknown file format: expected the native columns (order_number, sku, quantity, …) "
            "or a Shopify orders export (Name, Lineitem sku, Lineitem quantity, …)."
        )
    index: dict[str, int] = {}
    columns: dict[str, str] = {}
    if fmt == SHOPIFY:
        missing = [c for c in SHOPIFY_REQUIRED if c not in header]
        for pos, name in enumerate(header):
            field = SHOPIFY_MAP.get(name)
            if field and field not in index:
                index[field], columns[field] = pos, raw_header[pos].strip()
    else:
        known = {name for name, _, _ in NATIVE_COLUMNS}
        for pos, name in enumerate(header):
            key = _native_key(name)
            if key in known and key not in index:
                index[key], columns[key] = pos, raw_header[pos].strip()
        missing = [c for c in NATIVE_REQUIRED if c not in index]
    if missing:
        label = "Shopify" if fmt == SHOPIFY else "native"
        raise HeaderProblem(
            f"The {label} file is missing required column(s): {', '.join(missing)}."
        )
    return Layout(format=fmt, index=index, columns=columns)
