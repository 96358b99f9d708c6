"""Rows → order input: one order's rows of the file (``Draft``) parsed into the intake
service's ``OrderInput``, or into row errors. Cell parsing problems (dates, amounts, unknown
SKUs, rows of one order that disagree, NUL characters, over-long customer fields) are found
here; the order rules themselves are intake's one validator (``order_input_problems``), whose
problems are mapped to the rows they come from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter

from clients.models import Client
from inventory.models import Product
from orders.importing.formats import ORDER_FIELDS, SHOPIFY, SHOPIFY_PAYMENT, Layout, cell
from orders.importing.parsing import (
    CellError,
    parse_datetime,
    parse_money,
    parse_quantity,
    service_level_from_shipping_method,
    strip_apostrophe,
)
from orders.importing.results import RowError, shown
from orders.models import Customer, Order
from orders.services.intake import TIERS, LineInput, OrderInput, order_input_problems

_CUSTOMER_LIMITS = tuple(
    (name, Customer._meta.get_field(column).max_length)
    for name, column in (
        ("customer_email", "email"),
        ("customer_name", "name"),
        ("customer_id", "external_id"),
    )
)
_CUSTOMER_NAME_MAX = Customer._meta.get_field("name").max_length
_SHIP_TO_KEYS = ("name", "address1", "address2", "city", "postcode", "region", "phone")
# Where an intake problem points in the file: the order field's column (its line: where the
# value was found), or for a line problem the line's row.
_PROBLEM_FIELDS = {
    "number": "order_number",
    "lines": "sku",
    "total": "unit_price",
    "customer": "customer_id",
}


@dataclass
class Draft:
    """One order's rows while it is being checked, and what became of them."""

    number: str
    rows: list[tuple[int, list[str]]]
    errors: list[RowError] = field(default_factory=list)
    data: OrderInput | None = None
    email: str = ""
    customer_name: str = ""
    customer_ref: str = ""
    tier: str = ""
    cancelled: bool = False
    fulfilled: bool = False

    @property
    def fingerprint(self) -> tuple:
        assert self.data is not None
        return tuple(sorted((ln.product.sku, ln.quantity, ln.unit_price) for ln in self.data.lines))


def order_values(
    rows: list[tuple[int, list[str]]],
    fields: list[tuple[str, int]],
    same: Callable[[list[str]], tuple] | None,
    width: int,
) -> tuple[dict[str, tuple[int, str]], list[tuple[int, str, str, tuple[int, str]]]]:
    """Each order-level field's first non-blank value in the order's rows, with its line, and
    the rows that disagree with it: ``(line, field, value, (line, first value))``.

    ``same`` picks a row's order-field cells at once: a row whose cells equal the first row's
    (order fields on every row) or are all empty (first row only) needs no cell-by-cell look.
    """
    found: dict[str, tuple[int, str]] = {}
    conflicts: list = []
    first_line, first_values = rows[0]
    for name, pos in fields:
        value = cell(first_values, pos)
        if value:
            found[name] = (first_line, value)
    if len(rows) == 1:
        return found, conflicts
    first_raw = same(first_values) if same is not None and len(first_values) > width else None
    for line_no, values in rows[1:]:
        if first_raw is not None and len(values) > width:
            raw = same(values)
            if raw == first_raw or not any(raw):
                continue
        for name, pos in fields:
            value = cell(values, pos)
            if not value:
                continue
            prior = found.get(name)
            if prior is None:
                found[name] = (line_no, value)
            elif prior[1] != value:
                conflicts.append((line_no, name, value, prior))
    return found, conflicts


class OrderRows:
    """Turns drafts of one file into order input for one client (``finish``)."""

    def __init__(
        self,
        *,
        client: Client,
        layout: Layout,
        raw_header: list[str],
        products: dict[str, Product],
        scattered: dict[str, list[int]],
        decimal_comma: bool,
        note: str,
    ) -> None:
        self.client, self.layout, self._raw_header = client, layout, raw_header
        self._products, self._scattered = products, scattered
        self.decimal_comma, self._note = decimal_comma, note
        index = layout.index
        # The order-level fields this file has columns for (the others are always blank).
        self._order_fields = [(name, index[name]) for name in ORDER_FIELDS if name in index]
        positions = [pos for _, pos in self._order_fields]
        self._same_order_cells = itemgetter(*positions) if len(positions) > 1 else None
        self._order_cells_width = max(positions, default=0)
        self._line_at = tuple(
            index.get(name) for name in ("sku", "quantity", "unit_price", "line_fulfillment_status")
        )
        self._customer_limits = [(n, limit) for n, limit in _CUSTOMER_LIMITS if n in index]

    def finish(self, draft: Draft) -> Draft:
        """Parse the draft's rows: sets ``draft.data`` (and the customer details), or adds
        errors; marks Shopify orders cancelled or fulfilled in the shop."""
        number = draft.number
        first_line = draft.rows[0][0]
        col = self.layout.columns
        if self._has_nul(draft):
            return draft
        if draft.errors:  # a malformed row: its cells cannot be trusted
            return draft
        if not number:
            draft.errors.append(
                RowError(
                    first_line,
                    col.get("order_number", "order_number"),
                    "The order number is missing.",
                )
            )
            return draft
        if number in self._scattered:
            starts = ", ".join(str(n) for n in self._scattered[number])
            draft.errors.append(
                RowError(
                    first_line,
                    col["order_number"],
                    f"The rows of order {shown(number)} are not together (parts start at "
                    f"lines {starts}); put them one after another and upload again.",
                    shown(number),
                )
            )
            return draft
        values_found, conflicts = order_values(
            draft.rows, self._order_fields, self._same_order_cells, self._order_cells_width
        )

        def value_of(name: str, _none=(first_line, "")) -> tuple[int, str]:
            return values_found.get(name, _none)

        def error(line: int, name: str, message: str) -> None:
            draft.errors.append(RowError(line, col.get(name, name), message, shown(number)))

        for line, name, value, (first_at, first_value) in conflicts:
            error(
                line,
                name,
                f"The rows of order {shown(number)} disagree: '{shown(value)}' here but "
                f"'{shown(first_value)}' on line {first_at}. Give every row of an order the "
                "same order details (or leave them blank after the first row).",
            )
        for name, limit in self._customer_limits:
            line, value = value_of(name)
            if len(value) > limit:
                error(
                    line,
                    name,
                    f"The value is {len(value)} characters long; at most {limit} are allowed.",
                )

        client = self.client
        shopify = self.layout.format == SHOPIFY
        line, client_code = value_of("client")
        if client_code and client_code.upper() != client.code:
            error(
                line,
                "client",
                f"This order belongs to client {client_code}, not {client.code}: import it there.",
            )
        line, placed_text = value_of("placed_at")
        placed_at = None
        if not placed_text:
            error(line, "placed_at", "The order date is missing.")
        else:
            try:
                placed_at = parse_datetime(placed_text, client.timezone)
            except CellError as exc:
                error(line, "placed_at", str(exc))
        line, ship_by_text = value_of("ship_by")
        ship_by = None
        if ship_by_text:
            try:
                ship_by = parse_datetime(ship_by_text, client.timezone)
            except CellError as exc:
                error(line, "ship_by", str(exc))
        if shopify:
            service_level = service_level_from_shipping_method(value_of("shipping_method")[1])
            line, status_text = value_of("payment_status")
            payment = SHOPIFY_PAYMENT.get(status_text.lower()) if status_text else "pending"
            if payment is None:
                error(line, "payment_status", f"Unknown financial status '{status_text}'.")
            draft.cancelled = bool(value_of("cancelled_at")[1])
        else:
            service_level = value_of("service_level")[1].lower() or "standard"
            payment = value_of("payment_status")[1].lower() or "paid"
        money = {}
        for name in ("shipping_total", "tax_total"):
            line, text = value_of(name)
            try:
                money[name] = parse_money(text, decimal_comma=self.decimal_comma)
            except CellError as exc:
                error(line, name, str(exc))
        lines: list[LineInput] = []
        line_rows: list[int] = []  # the row of each line (for the validator's problems)
        unfulfilled_seen = False
        # The order's own status counts too: trimmed exports lack "Lineitem fulfillment status".
        order_fulfilled = shopify and value_of("fulfillment_status")[1].lower() == "fulfilled"
        sku_at, quantity_at, price_at, fulfilled_at = self._line_at
        products, decimal_comma = self._products, self.decimal_comma
        for line_no, values in draft.rows:
            if order_fulfilled or (shopify and cell(values, fulfilled_at).lower() == "fulfilled"):
                continue  # shipped by the shop already: nothing for us to do for this line
            unfulfilled_seen = True
            sku = cell(values, sku_at)
            product = products.get(sku) if sku else None
            if not sku:
                error(line_no, "sku", "The SKU is missing.")
            elif product is None:
                error(line_no, "sku", f"Unknown SKU '{shown(sku)}' for {client.code}.")
            try:
                quantity = parse_quantity(cell(values, quantity_at))
            except CellError as exc:
                error(line_no, "quantity", str(exc))
                quantity = None
            try:
                price = parse_money(cell(values, price_at), decimal_comma=decimal_comma)
            except CellError as exc:
                error(line_no, "unit_price", str(exc))
                price = None
            if product is not None and quantity is not None and price is not None:
                lines.append(LineInput(product=product, quantity=quantity, unit_price=price))
                line_rows.append(line_no)
        if shopify and not unfulfilled_seen:
            draft.fulfilled = True
        if draft.errors or draft.fulfilled:
            return draft
        email = value_of("customer_email")[1].lower()
        draft.email = email
        draft.customer_name = (
            value_of("customer_name")[1] or value_of("ship_to_name")[1] or email or "Guest customer"
        )[:_CUSTOMER_NAME_MAX]  # (only a fallback can be longer: the others were checked)
        draft.customer_ref = value_of("customer_id")[1]
        tier = value_of("customer_tier")[1].lower()
        if tier and tier not in TIERS:
            error(
                value_of("customer_tier")[0], "customer_tier", f"'{tier}' is not a customer tier."
            )
            return draft
        draft.tier = tier or Customer.Tier.STANDARD.value
        ship_to = {}
        for key in _SHIP_TO_KEYS:
            value = values_found.get(f"ship_to_{key}")
            ship_to[key] = strip_apostrophe(value[1]) if value else ""
        country = value_of("ship_to_country")[1].upper()
        ship_to["country"] = country if len(country) == 2 else ""
        data = OrderInput(
            number=number,
            lines=lines,
            placed_at=placed_at,
            service_level=service_level,
            ship_by=ship_by,
            payment_status=payment,
            currency=value_of("currency")[1].upper() or None,
            shipping_total=money.get("shipping_total", Decimal("0")),
            tax_total=money.get("tax_total", Decimal("0")),
            ship_to=ship_to,
            source=Order.Source.SHOPIFY if shopify else Order.Source.CSV,
            note=self._note,
            delivery_notes=value_of("delivery_notes")[1],
        )
        for problem in order_input_problems(client, data):
            name = _PROBLEM_FIELDS.get(problem.field, problem.field)
            if problem.line is not None:
                error(line_rows[problem.line], name, problem.message)
            else:
                error(value_of(name)[0], name, problem.message)
        if not draft.errors:
            data.currency = client.currency
            draft.data = data
        return draft

    def _has_nul(self, draft: Draft) -> bool:
        """NUL is no text character (PostgreSQL refuses it anywhere): reject its rows."""
        found = False
        for line_no, values in draft.rows:
            if "\x00" not in "".join(values):
                continue
            for pos, value in enumerate(values):
                if "\x00" in value:
                    found = True
                    column = self._raw_header[pos] if pos < len(self._raw_header) else "file"
                    draft.errors.append(
                        RowError(
                            line_no,
                            column.strip() or f"column {pos + 1}",
                            "The cell contains a NUL character (\\0), which is not text: "
                            "remove it and upload again.",
                            shown(draft.number),
                        )
                    )
        if found:
            draft.number = shown(draft.number)
        return found
