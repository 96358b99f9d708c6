"""The import itself: stream rows, group them into orders, check each order whole, then create
the good ones through the order intake service in chunks, most urgent first.

Rules (see the import issue and README):
- An order is identified by (client, order number). Known and identical → skipped; known but
  different → a conflict, reported and never overwritten.
- Never a partial order: one bad row rejects its whole order, with all its rows listed in the
  rejected-rows report (the original columns plus an ``error`` column, ready to fix and re-upload).
- The file is streamed (a light first pass finds orders whose rows are not together); memory
  holds one chunk of orders plus the index of checked orders.
- Two phases when importing for real. **Check**: every order is validated and compared with
  what exists; the good ones are built by the intake service (``order_build``: promise,
  priority) and written to a spool file on disk (not memory). Large files on PostgreSQL are
  checked by two processes (``_CheckHelper``). **Create**: the spooled orders are inserted
  through ``orders_insert_built`` in priority order, chunk after chunk, each chunk one
  transaction. Scarce stock thus goes to the file's most urgent orders first, as the
  allocation engine wants it, instead of to whichever came first in the file and then being
  taken back order by order (pre-emption), which cost time and filled timelines with
  "re-assigned" entries."""

from __future__ import annotations

import bisect
import contextlib
import csv
import io
import marshal
import mmap
import os
import pickle
import shutil
import signal
import struct
import tempfile
import threading
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import BinaryIO, TextIO

from django.db import DataError, IntegrityError, connections, models, router
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Max
from django.utils import timezone

from clients.models import Client
from core.bulk import JSONText, insert_rows
from core.db import atomic_with_retry
from core.gctune import fewer_gc_passes, settle
from inventory.models import Product, StockLevel
from orders.exceptions import OrderValidationError
from orders.importing.formats import (
    ORDER_FIELDS,
    SHOPIFY,
    SHOPIFY_PAYMENT,
    HeaderProblem,
    cell,
)
from orders.importing.formats import build_layout as _build_layout
from orders.importing.parsing import (
    CellError,
    parse_datetime,
    parse_money,
    parse_quantity,
    service_level_from_shipping_method,
    strip_apostrophe,
)
from orders.importing.reader import CsvSource, FileProblem
from orders.models import Customer, ImportedOrder, Order, OrderEvent, OrderLine
from orders.resources import neutralise_formula
from orders.services.customers import (
    CustomerDetails,
    customer_tiers,
    customers_match_or_create,
)
from orders.services.intake import (
    ORDER_ROW_FIELDS,
    PAYMENT_STATUSES,
    SERVICE_LEVELS,
    TIERS,
    LineInput,
    NewOrder,
    OrderInput,
    order_build,
    orders_insert_built,
)
from orders.signals import import_chunk_created

CHUNK_ORDERS = 1000  # orders checked against the database at a time
CREATE_CHUNK_ORDERS = 5000  # orders created (and allocated) per transaction
PARALLEL_MIN_ROWS = 100_000  # from this size a helper process checks the second half
MAX_SHOWN_ERRORS = 500


@dataclass
class RowError:
    line: int
    column: str
    message: str
    order: str = ""

    def as_dict(self) -> dict:
        return {
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "order": self.order,
        }


@dataclass
class ImportResult:
    format: str = ""
    total_rows: int = 0
    orders_new: int = 0
    lines_new: int = 0
    orders_skipped: int = 0
    orders_conflict: int = 0
    orders_rejected: int = 0
    rows_rejected: int = 0
    orders_created: int = 0
    lines_created: int = 0
    # A resumed job: orders of the file this job created before it was interrupted.
    orders_created_earlier: int = 0
    lines_created_earlier: int = 0
    skip_reasons: Counter = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    checked_by: int = 1  # processes that checked the file (2: a helper took the second half)
    helper_rows: int = 0  # rows the helper has checked so far (until its counts are merged)

    @property
    def rows_checked(self) -> int:
        return self.total_rows + self.helper_rows

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_SHOWN_ERRORS:
            self.errors.append(error)

    def summary(self, dry_run: bool) -> str:
        if dry_run:
            head = f"{self.orders_new} order(s) with {self.lines_new} line(s) would be created"
        else:
            orders = self.orders_created + self.orders_created_earlier
            lines = self.lines_created + self.lines_created_earlier
            head = f"{orders} order(s) with {lines} line(s) created"
            if self.orders_created_earlier:
                head += f" ({self.orders_created_earlier} of them before the interruption)"
        parts = [head]
        if self.orders_skipped:
            reasons = ", ".join(f"{n} {r}" for r, n in self.skip_reasons.most_common())
            parts.append(f"{self.orders_skipped} skipped ({reasons})")
        if self.orders_conflict:
            parts.append(f"{self.orders_conflict} conflict(s) with existing orders")
        if self.orders_rejected:
            parts.append(f"{self.orders_rejected} order(s) rejected ({self.rows_rejected} row(s))")
        return "; ".join(parts) + "."


@dataclass
class _Draft:
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


class _Spooled:
    """A checked, built order waiting on disk to be created (phase two)."""

    __slots__ = ("customer_name", "customer_ref", "email", "line_nos", "new", "tier")

    def __init__(self, line_nos, email, customer_name, customer_ref, tier, new):
        self.line_nos, self.email, self.customer_name = line_nos, email, customer_name
        self.customer_ref, self.tier, self.new = customer_ref, tier, new

    @property
    def number(self) -> str:
        return self.new.number

    # On disk as ``marshal`` data: plain tuples of str/int/float. Pickling aware datetimes and
    # decimals cost ≈ 40 µs an order; their ISO/decimal text round-trips exactly.
    def dumps(self) -> bytes:
        new = self.new
        row = list(new.row)
        for i in _ROW_DATETIMES:
            row[i] = row[i].isoformat()
        for i in _ROW_DECIMALS:
            row[i] = str(row[i])
        row[_ROW_JSON] = str(row[_ROW_JSON])
        return marshal.dumps(
            (
                self.line_nos,
                self.email,
                self.customer_name,
                self.customer_ref,
                self.tier,
                row,
                [(product_id, qty, str(price)) for product_id, qty, price in new.lines],
                new.score,
                new.note,
            )
        )

    @classmethod
    def loads(cls, blob: bytes) -> _Spooled:
        line_nos, email, name, ref, tier, row, lines, score, note = marshal.loads(blob)
        for i in _ROW_DATETIMES:
            row[i] = _fromisoformat(row[i])
        for i in _ROW_DECIMALS:
            row[i] = Decimal(row[i])
        row[_ROW_JSON] = JSONText(text=row[_ROW_JSON])
        new = NewOrder(
            row,
            [(product_id, qty, Decimal(price)) for product_id, qty, price in lines],
            score,
            row[_SHIP_BY_AT],
            row[_PLACED_AT_AT],
            row[_EXPEDITE_AT],
            row[_SOURCE_AT],
            note,
        )
        return cls(line_nos, email, name, ref, tier, new)


def _row_positions(*field_classes) -> tuple[int, ...]:
    return tuple(
        i
        for i, name in enumerate(ORDER_ROW_FIELDS)
        if isinstance(Order._meta.get_field(name), field_classes)
    )


_ROW_DATETIMES = _row_positions(models.DateTimeField)
_ROW_DECIMALS = _row_positions(models.DecimalField)
(_ROW_JSON,) = _row_positions(models.JSONField)
_SHIP_BY_AT = ORDER_ROW_FIELDS.index("ship_by")
_PLACED_AT_AT = ORDER_ROW_FIELDS.index("placed_at")
_EXPEDITE_AT = ORDER_ROW_FIELDS.index("expedite")
_SOURCE_AT = ORDER_ROW_FIELDS.index("source")
_fromisoformat = datetime.fromisoformat


# -- the limits the database will apply, read from the models: the check phase applies them
# all, so that an order the preview accepts is one the database accepts.
def _max_length(model: type[models.Model], name: str) -> int:
    return model._meta.get_field(name).max_length


def _money_limit(*fields: models.DecimalField) -> Decimal:
    """The smallest amount none of these columns can hold."""
    return min(Decimal(10) ** (f.max_digits - f.decimal_places) for f in fields)


_NUMBER_MAX = _max_length(Order, "number")
_EMAIL_MAX = _max_length(Customer, "email")
_CUSTOMER_NAME_MAX = _max_length(Customer, "name")
_CUSTOMER_REF_MAX = _max_length(Customer, "external_id")
_SHIP_TO_FIELDS = tuple(
    (key, f"ship_to_{key}", _max_length(Order, f"ship_to_{key}"))
    for key in ("name", "address1", "address2", "city", "postcode", "region", "phone")
)
_MONEY_LIMIT = _money_limit(
    *(Order._meta.get_field(n) for n in ("subtotal", "shipping_total", "tax_total", "total")),
    OrderLine._meta.get_field("unit_price"),
)
# Stock level counters an import adds to (``backordered``; ``allocated`` is bounded by
# ``on_hand``) are 32-bit integers on PostgreSQL.
_COUNTER_MAX = BaseDatabaseOperations.integer_field_ranges[
    StockLevel._meta.get_field("backordered").get_internal_type()
][1]
_SHOWN = 60


def _shown(value: str) -> str:
    """A cell's text for a message: bounded, NUL made visible."""
    value = value.replace("\x00", "\\0")
    return value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"


class _RejectsWriter:
    """The rejected-rows CSV: the original cells plus an ``error`` column, safe to open in a
    spreadsheet (formulas neutralised as the order export does; the import reads them back,
    see ``formats.cell``) and free of NUL characters (which make a file unreadable)."""

    __slots__ = ("_writer",)

    def __init__(self, fh: TextIO) -> None:
        self._writer = csv.writer(fh)

    def writerow(self, row) -> None:
        self._writer.writerow(
            [neutralise_formula(v.replace("\x00", "") if "\x00" in v else v) for v in row]
        )


def _order_values(
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


class OrderFileImport:
    """Read one order file for one client; ``dry_run`` computes the preview and writes nothing."""

    def __init__(
        self,
        *,
        client: Client,
        binary: BinaryIO,
        user=None,
        file_name: str = "upload.csv",
        requested_format: str = "auto",
        dry_run: bool = True,
        rejects: TextIO | None = None,
        progress: Callable[[ImportResult, int], None] | None = None,
        chunk_orders: int = CHUNK_ORDERS,
        create_chunk_orders: int | None = None,
        parallel_min_rows: int = PARALLEL_MIN_ROWS,
        job_id: int | None = None,
        resume: bool = False,
    ) -> None:
        """``job_id``: the import job this run belongs to (each created order is linked to it in
        its transaction); ``resume``: the job ran before and may have created some orders."""
        self.client = client
        self.binary = binary
        self.user = user
        self.file_name = file_name
        self.requested_format = requested_format
        self.dry_run = dry_run
        self._rejects_file = rejects
        self.rejects = _RejectsWriter(rejects) if rejects is not None else None
        self.progress = progress
        self.chunk_orders = chunk_orders
        self.create_chunk_orders = create_chunk_orders or CREATE_CHUNK_ORDERS
        self.job_id = job_id
        self.resume = resume and job_id is not None
        self._spool = None  # good orders between the two phases (temporary file)
        self._spools: list = []  # the spool files: this process's, then a helper's
        # (priority key…, input position, spool file, offset, size) per spooled order
        self._spooled: list[tuple] = []
        self.parallel_min_rows = parallel_min_rows
        self._helper: _CheckHelper | None = None
        self.result = ImportResult()
        self._products: dict[str, Product] = {}
        self._scattered: dict[str, list[int]] = {}
        self._late_conflicts: list[tuple[tuple[int, ...], str]] = []
        self._units: Counter = Counter()  # units of each product in the file's new orders
        self._headroom: dict[int, int] = {}
        self._headroom_share = 1

    # -- entry point ---------------------------------------------------------------------------
    def run(self) -> ImportResult:
        """Raises :class:`FileProblem` when the file as a whole cannot be used."""
        with fewer_gc_passes():
            return self._run()

    def _run(self) -> ImportResult:
        source = CsvSource(self.binary)
        try:
            self.layout = _build_layout(source.header, source.raw_header, self.requested_format)
        except HeaderProblem as exc:
            raise FileProblem(str(exc)) from exc
        self.result.format = self.layout.format
        # The order-level fields this file has columns for (the others are always blank).
        index = self.layout.index
        self._order_fields = [(name, index[name]) for name in ORDER_FIELDS if name in index]
        positions = [pos for _, pos in self._order_fields]
        self._same_order_cells = itemgetter(*positions) if len(positions) > 1 else None
        self._order_cells_width = max(positions, default=0)
        self._raw_header = source.raw_header
        self._line_at = tuple(
            index.get(name) for name in ("sku", "quantity", "unit_price", "line_fulfillment_status")
        )
        self.decimal_comma = source.delimiter == ";"
        if self.rejects is not None:
            self.rejects.writerow([*source.raw_header, "error"])
        self._products = {
            p.sku: p
            for p in Product.objects.filter(client=self.client).only(
                "id", "sku", "client_id", "active"
            )
        }
        self._scattered, starts, last_line = self._find_scattered_orders(source)
        source.detach()
        self._headroom = self._stock_headroom()
        self._now = timezone.now()  # one "now" for every order's priority, in both processes
        helper = None
        split_line = None
        if self._may_fork(last_line):
            # The second half of the file (from an order's first row) is checked by a forked
            # helper while this process checks the first: PostgreSQL is idle in this phase and
            # the machine has a second core. Both see the same products, scattered orders and
            # "now"; the helper hands back its counts, errors, rejected rows and spool.
            at = bisect.bisect_left(starts, last_line // 2)
            if 0 < at < len(starts):
                split_line = starts[at]
                # Each process counts only its own orders' units: each gets half the room.
                self._headroom_share = 2
                helper = self._helper = _CheckHelper.start(self, split_line)
        del starts
        self.binary.seek(0)
        source = CsvSource(self.binary)
        try:
            self._check(source, stop_at=split_line)
        except BaseException:
            if helper is not None:
                helper.abandon()
            raise
        source.detach()  # (the file stays open: late conflicts read it again)
        if helper is not None:
            helper.merge_into(self)
            self._helper = None
            self.result.checked_by, self.result.helper_rows = 2, 0
        if self._spooled:
            settle()  # the index of checked orders lives until the end: out of the GC's way
            try:
                self._create_spooled()
            finally:
                for spool in self._spools:
                    spool.close()
        return self.result

    def _check(self, source: CsvSource, *, start_at: int = 0, stop_at: int | None = None) -> None:
        """Phase one over the rows from line ``start_at`` up to (not including) ``stop_at``."""
        pending: list[_Draft] = []
        current: _Draft | None = None
        last_line = 0
        number_at = self.layout.index["order_number"]
        problems = source.problems  # rows that are not well-formed CSV (found while reading)
        for line_no, values in source:
            if line_no < start_at:
                continue
            if stop_at is not None and line_no >= stop_at:
                break
            last_line = line_no
            self.result.total_rows += 1
            number = cell(values, number_at)
            if current is not None and number and number == current.number:
                current.rows.append((line_no, values))
            else:
                if current is not None:
                    pending.append(self._finish(current))
                current = _Draft(number=number, rows=[(line_no, values)])
            if problems and line_no in problems:
                current.errors.append(
                    RowError(line_no, "file", problems.pop(line_no), _shown(number))
                )
            if current.rows[0][0] != line_no:
                continue
            if len(pending) >= self.chunk_orders:
                self._flush(pending, last_line)
                pending = []
        if current is not None:
            pending.append(self._finish(current))
        self._flush(pending, last_line)

    def _may_fork(self, last_line: int) -> bool:
        if last_line < self.parallel_min_rows or not hasattr(os, "fork"):
            return False
        if _private_reader(self.binary) is None:
            return False
        connection = connections[router.db_for_write(Order)]
        # (Inside a transaction, e.g. a test's, the helper could not see its data.)
        return (
            connection.vendor == "postgresql"
            and not connection.in_atomic_block
            and threading.active_count() == 1  # forking a threaded process is not safe
        )

    def _find_scattered_orders(self, source: CsvSource) -> tuple[dict[str, list[int]], array, int]:
        """First, light pass (order numbers only): orders whose rows are not together.

        Such an order is rejected whole, every part of it: importing the first part and
        rejecting the rest would be the partial order this import promises never to make.
        """
        first_seen: dict[str, int] = {}
        scattered: dict[str, list[int]] = {}
        starts = array("q")  # the line where each order's rows begin (where a split may fall)
        previous = None
        line_no = 0
        number_at = self.layout.index["order_number"]
        for line_no, values in source:
            number = cell(values, number_at)
            if not number or number == previous:
                continue
            previous = number
            starts.append(line_no)
            if number in first_seen:
                scattered.setdefault(number, [first_seen[number]]).append(line_no)
            else:
                first_seen[number] = line_no
        return scattered, starts, line_no

    # -- one order: rows -> OrderInput or errors -----------------------------------------------
    def _finish(self, draft: _Draft) -> _Draft:
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
                    f"The rows of order {number} are not together (parts start at lines "
                    f"{starts}); put them one after another and upload again.",
                    number,
                )
            )
            return draft
        if len(number) > _NUMBER_MAX:
            draft.errors.append(
                RowError(
                    first_line,
                    col["order_number"],
                    f"The order number is {len(number)} characters long; at most "
                    f"{_NUMBER_MAX} are allowed.",
                    _shown(number),
                )
            )
            return draft
        order_values, conflicts = _order_values(
            draft.rows, self._order_fields, self._same_order_cells, self._order_cells_width
        )

        def value_of(name: str, _none=(first_line, "")) -> tuple[int, str]:
            return order_values.get(name, _none)

        def error(line: int, name: str, message: str) -> None:
            draft.errors.append(RowError(line, col.get(name, name), message, number))

        for line, name, value, (first_at, first_value) in conflicts:
            error(
                line,
                name,
                f"The rows of order {number} disagree: '{_shown(value)}' here but "
                f"'{_shown(first_value)}' on line {first_at}. Give every row of an order the "
                "same order details (or leave them blank after the first row).",
            )
        for name, limit in self._length_limits:
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
        line, currency = value_of("currency")
        currency = currency.upper()
        if currency and currency != client.currency:
            error(
                line,
                "currency",
                f"The order is in {currency}, but {client.code} trades in {client.currency}.",
            )
        if shopify:
            service_level = service_level_from_shipping_method(value_of("shipping_method")[1])
            line, status_text = value_of("payment_status")
            payment = SHOPIFY_PAYMENT.get(status_text.lower()) if status_text else "pending"
            if payment is None:
                error(line, "payment_status", f"Unknown financial status '{status_text}'.")
            draft.cancelled = bool(value_of("cancelled_at")[1])
        else:
            line, level = value_of("service_level")
            service_level = level.lower() or "standard"
            if service_level not in SERVICE_LEVELS:
                error(line, "service_level", f"'{level}' is not standard, expedited or overnight.")
            line, status_text = value_of("payment_status")
            payment = status_text.lower() or "paid"
            if payment not in PAYMENT_STATUSES:
                error(line, "payment_status", f"'{status_text}' is not a payment status.")
        money = {}
        for name in ("shipping_total", "tax_total"):
            line, text = value_of(name)
            try:
                money[name] = parse_money(text, decimal_comma=self.decimal_comma)
            except CellError as exc:
                error(line, name, str(exc))
        lines: list[LineInput] = []
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
                error(line_no, "sku", f"Unknown SKU '{sku}' for {client.code}.")
            elif not product.active:
                error(line_no, "sku", f"SKU '{sku}' is inactive for {client.code}.")
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
        if shopify and not unfulfilled_seen:
            draft.fulfilled = True
        if lines and not draft.errors:
            self._check_amounts(draft, lines, money, error)
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
        for key, name, limit in _SHIP_TO_FIELDS:
            value = order_values.get(name)
            ship_to[key] = strip_apostrophe(value[1])[:limit] if value else ""
        country = value_of("ship_to_country")[1].upper()
        ship_to["country"] = country if len(country) == 2 else ""
        draft.data = OrderInput(
            number=number,
            lines=lines,
            placed_at=placed_at,
            service_level=service_level,
            ship_by=ship_by,
            payment_status=payment,
            currency=client.currency,
            shipping_total=money.get("shipping_total", Decimal("0")),
            tax_total=money.get("tax_total", Decimal("0")),
            ship_to=ship_to,
            source=Order.Source.SHOPIFY if shopify else Order.Source.CSV,
            note=f"Imported from {self.file_name}"
            + (f" by {self.user.get_username()}" if self.user else "")
            + ".",
        )
        return draft

    def _has_nul(self, draft: _Draft) -> bool:
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
                            _shown(draft.number),
                        )
                    )
        if found:
            draft.number = _shown(draft.number)
        return found

    @staticmethod
    def _check_amounts(draft: _Draft, lines: list[LineInput], money: dict, error) -> None:
        """The order's amounts must fit the money columns (totals are sums of lines)."""
        subtotal = sum((ln.unit_price * ln.quantity for ln in lines), Decimal(0))
        total = subtotal + money.get("shipping_total", 0) + money.get("tax_total", 0)
        if total >= _MONEY_LIMIT:
            error(
                draft.rows[0][0],
                "unit_price",
                f"The order's total ({total:,.2f}) is more than the system can hold "
                f"(below {_MONEY_LIMIT:,.0f}): check the prices and quantities.",
            )

    @property
    def _length_limits(self) -> list[tuple[str, int]]:
        limits = [
            ("customer_email", _EMAIL_MAX),
            ("customer_name", _CUSTOMER_NAME_MAX),
            ("customer_id", _CUSTOMER_REF_MAX),
            *((name, limit) for _, name, limit in _SHIP_TO_FIELDS),
        ]
        return [(name, limit) for name, limit in limits if name in self.layout.index]

    def _stock_headroom(self) -> dict[int, int]:
        """Per product: how many more units its stock level counters can take."""
        return {
            product_id: _COUNTER_MAX - (most or 0)
            for product_id, most in StockLevel.objects.filter(product__client=self.client)
            .values("product_id")
            .annotate(most=Max("backordered"))
            .values_list("product_id", "most")
        }

    def _exceeds_headroom(self, draft: _Draft) -> bool:
        """The units this file asks of one product must fit its stock counters (checked
        cumulatively over the file's new orders); else the order that overflows is rejected."""
        wanted: Counter = Counter()
        for ln in draft.data.lines:
            wanted[ln.product.pk] += ln.quantity
        units, headroom, share = self._units, self._headroom, self._headroom_share
        for product_id, qty in wanted.items():
            room = headroom.get(product_id, _COUNTER_MAX) // share
            if units[product_id] + qty > room:
                sku = next(ln.product.sku for ln in draft.data.lines if ln.product.pk == product_id)
                sku_at = self.layout.index["sku"]
                line = next((n for n, v in draft.rows if cell(v, sku_at) == sku), draft.rows[0][0])
                draft.errors.append(
                    RowError(
                        line,
                        self.layout.columns["sku"],
                        f"SKU '{_shown(sku)}': the orders of this file ask for more units than "
                        f"the stock records can count ({units[product_id] + qty:,} > {room:,}). "
                        "Check the quantities or split the file.",
                        draft.number,
                    )
                )
                return True
        units.update(wanted)
        return False

    # -- a chunk of orders: compare with what exists, then create --------------------------------
    def _flush(self, drafts: list[_Draft], last_line: int) -> None:
        if drafts:
            good = self._triage(drafts)
            if good and not self.dry_run:
                self._spool_drafts(good)
        if self.progress is not None:
            if self._helper is not None:
                self.result.helper_rows = self._helper.rows_checked()
            self.progress(self.result, last_line)

    # -- between the phases: good orders on disk, with the key they will be created in ------------
    def _spool_drafts(self, drafts: list[_Draft]) -> None:
        """Build checked orders (promise, totals, priority: the intake service's
        ``order_build``; a customer's tier from the database when the customer exists) and
        write them to the spool, remembering the key they will be created in."""
        if self._spool is None:
            # Closed by run() once the orders are created (or on error).
            self._spool = tempfile.TemporaryFile(prefix="bpo-import-")  # noqa: SIM115
            self._spools.append(self._spool)
        spool_no = len(self._spools) - 1
        tiers = self._known_tiers(drafts)
        client, now, spool, spooled = self.client, self._now, self._spool, self._spooled
        write = spool.write
        for draft in drafts:
            tier = tiers.get(("ref", draft.customer_ref)) or tiers.get(("email", draft.email))
            new = order_build(client, draft.data, now, tier or draft.tier)
            record = _Spooled(
                tuple(line_no for line_no, _ in draft.rows),
                draft.email,
                draft.customer_name,
                draft.customer_ref,
                draft.tier,
                new,
            )
            blob = record.dumps()
            offset = spool.tell()
            write(blob)
            # Most urgent first, as the allocation engine orders a batch; plain numbers (the
            # helper process hands its index over with marshal).
            spooled.append(
                (
                    -new.score,
                    new.ship_by.timestamp(),
                    new.placed_at.timestamp(),
                    len(spooled),
                    spool_no,
                    offset,
                    len(blob),
                )
            )

    def _known_tiers(self, drafts: list[_Draft]) -> dict[tuple[str, str], str]:
        return customer_tiers(
            client=self.client,
            details=[CustomerDetails(d.customer_ref, d.email) for d in drafts],
        )

    def _create_spooled(self) -> None:
        """Phase two: the spooled orders, most urgent first, in chunks (one transaction each)."""
        self._spooled.sort()
        spools, loads = self._spools, _Spooled.loads
        chunk = self.create_chunk_orders
        for start in range(0, len(self._spooled), chunk):
            records = []
            for *_key, spool_no, offset, size in self._spooled[start : start + chunk]:
                spool = spools[spool_no]
                spool.seek(offset)
                records.append(loads(spool.read(size)))
            self._create(records)
            import_chunk_created.send(
                sender=OrderFileImport,
                job_id=self.job_id,
                orders_created=self.result.orders_created,
            )
            if self.progress is not None:
                self.progress(self.result, self.result.total_rows)
        if self._late_conflicts:
            self._write_late_conflicts()

    def _write_late_conflicts(self) -> None:
        """Rows of orders that someone else created while this file was being imported: to
        the rejects file with the reason (the rows are read again: they are not kept)."""
        if self.rejects is None:
            return
        messages = {
            line_no: message for line_nos, message in self._late_conflicts for line_no in line_nos
        }
        self.binary.seek(0)
        source = CsvSource(self.binary)
        for line_no, values in source:
            if line_no in messages:
                self.rejects.writerow([*values, messages[line_no]])
        source.detach()

    def _reject(self, draft: _Draft, reason_for_others: str | None = None) -> None:
        result = self.result
        result.orders_rejected += 1
        result.rows_rejected += len(draft.rows)
        for err in draft.errors:
            result.add_error(err)
        own: dict[int, list[str]] = {}
        for err in draft.errors:
            own.setdefault(err.line, []).append(f"{err.column}: {err.message}")
        first = draft.errors[0] if draft.errors else None
        for line_no, values in draft.rows:
            if self.rejects is None:
                continue
            if line_no in own:
                message = "; ".join(own[line_no])
            else:
                message = reason_for_others or (
                    f"Order {draft.number} rejected because of line {first.line}: {first.message}"
                    if first
                    else "Order rejected."
                )
            self.rejects.writerow([*values, message])

    def _conflict(self, draft: _Draft, message: str) -> None:
        self.result.orders_conflict += 1
        line = draft.rows[0][0]
        self.result.add_error(
            RowError(line, self.layout.columns["order_number"], message, draft.number)
        )
        if self.rejects is not None:
            for _, values in draft.rows:
                self.rejects.writerow([*values, message])

    def _triage(self, drafts: list[_Draft]) -> list[_Draft]:
        result = self.result
        numbers = [d.number for d in drafts if d.data is not None or d.cancelled]
        existing: dict[str, tuple[str, list]] = {}
        ours: set[str] = set()  # created by this job before it was interrupted
        if numbers:
            rows = Order.objects.filter(client=self.client, number__anyof=numbers).values_list(
                "id", "number", "status"
            )
            ids = {}
            for pk, number, status in rows:
                existing[number] = (status, [])
                ids[pk] = number
            if ids:
                for order_id, sku, qty, price in OrderLine.objects.filter(
                    order_id__anyof=list(ids)
                ).values_list("order_id", "product__sku", "quantity", "unit_price"):
                    existing[ids[order_id]][1].append((sku, qty, price))
                if self.resume:
                    ours = {
                        ids[order_id]
                        for order_id in ImportedOrder.objects.filter(
                            job_id=self.job_id, order_id__anyof=list(ids)
                        ).values_list("order_id", flat=True)
                    }
        good: list[_Draft] = []
        for draft in drafts:
            if draft.errors:
                self._reject(draft)
                continue
            if ours and draft.number in ours:
                result.orders_created_earlier += 1
                result.lines_created_earlier += len(existing[draft.number][1])
                continue
            if draft.fulfilled:
                result.orders_skipped += 1
                result.skip_reasons["already fulfilled in the shop"] += 1
                continue
            known = existing.get(draft.number)
            if draft.cancelled:
                if known and known[0] not in ("cancelled",):
                    self._conflict(
                        draft,
                        f"Order {draft.number} is cancelled in the shop file but is "
                        f"{known[0]} here: cancel it in the back-office if that is right.",
                    )
                else:
                    result.orders_skipped += 1
                    result.skip_reasons["cancelled in the shop"] += 1
                continue
            if known is not None:
                if tuple(sorted(known[1])) == draft.fingerprint:
                    result.orders_skipped += 1
                    result.skip_reasons["already imported"] += 1
                else:
                    self._conflict(
                        draft,
                        f"Order {draft.number} was imported before with different lines; it "
                        "was not changed. Correct it in the back-office or use a new number.",
                    )
                continue
            if self._exceeds_headroom(draft):
                self._reject(draft)
                continue
            result.orders_new += 1
            result.lines_new += len(draft.data.lines)
            good.append(draft)
        return good

    def _create(self, records: list[_Spooled]) -> None:
        try:
            created = self._create_chunk(records)
        except (OrderValidationError, DataError, IntegrityError):
            # Someone created one of these orders meanwhile, or the database refused one that
            # passed the check: go one by one so that only that order is reported and the rest
            # still come in (each in its own transaction: never a part of an order).
            created = []
            for record in records:
                try:
                    created += self._create_chunk([record])
                except (DataError, IntegrityError) as exc:
                    self._refused(record, exc)
                except OrderValidationError as exc:
                    self.result.orders_new -= 1
                    self.result.lines_new -= len(record.new.lines)
                    self.result.orders_conflict += 1
                    line = record.line_nos[0]
                    column = self.layout.columns["order_number"]
                    self.result.add_error(RowError(line, column, str(exc), record.number))
                    self._late_conflicts.append((record.line_nos, str(exc)))
        self.result.orders_created += len(created)
        self.result.lines_created += sum(len(r.new.lines) for r in created)

    def _refused(self, record: _Spooled, exc: Exception) -> None:
        result = self.result
        result.orders_new -= 1
        result.lines_new -= len(record.new.lines)
        result.orders_rejected += 1
        result.rows_rejected += len(record.line_nos)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = f"The database refused order {record.number}: {_shown(reason)}"
        line = record.line_nos[0]
        column = self.layout.columns["order_number"]
        result.add_error(RowError(line, column, message, record.number))
        self._late_conflicts.append((record.line_nos, message))

    @atomic_with_retry
    def _create_chunk(self, records: list[_Spooled]) -> list[_Spooled]:
        self._customers(records)
        order_ids = orders_insert_built(
            client=self.client,
            news=[r.new for r in records],
            user=self.user,
            event_kind=OrderEvent.Kind.IMPORT,
        )
        if self.job_id is not None:  # in the orders' transaction: the job's count stays true
            insert_rows(
                ImportedOrder,
                ("job_id", "order_id"),
                [(self.job_id, order_id) for order_id in order_ids],
                return_ids=False,
            )
        return records

    def _customers(self, records: list[_Spooled]) -> None:
        """Match or create each order's customer (in this transaction)."""
        ids = customers_match_or_create(
            client=self.client,
            details=[
                CustomerDetails(r.customer_ref, r.email, r.customer_name, r.tier) for r in records
            ],
        )
        for record, pk in zip(records, ids, strict=True):
            record.new.customer_id = pk


# -- the helper process of a large file's check phase ------------------------------------------
class _PositionalReader(io.RawIOBase):
    """Reads a file descriptor with ``pread`` from its own position: a forked helper must not
    move the read offset it shares with its parent."""

    def __init__(self, fd: int) -> None:
        self._fd, self._pos = fd, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = os.pread(self._fd, len(buffer), self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            self._pos = offset
        elif whence == io.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = os.fstat(self._fd).st_size + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def _private_reader(binary) -> BinaryIO | None:
    """How a forked helper reads the file without disturbing its parent; ``None``: it can't."""
    if isinstance(binary, io.BytesIO):
        return binary  # the helper has its own copy of the memory
    try:
        fd = binary.fileno()
        os.fstat(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return io.BufferedReader(_PositionalReader(fd), buffer_size=1 << 20)


_COUNTER = struct.Struct("q")


_INHERITED: list = []  # the helper's inherited database wrappers: kept, never used or closed


def _fresh_connections() -> None:
    """In the helper: new database wrappers for every alias. The inherited ones may hold a
    socket the parent still uses (closing one, even by garbage collection, would end the
    parent's session), so they are kept referenced until ``os._exit``."""
    for alias in connections:
        _INHERITED.append(connections[alias])
        connections[alias] = connections.create_connection(alias)


def _end_with_parent() -> None:
    """In the helper: SIGTERM ends it (whatever handler the task worker installed), and on
    Linux it gets SIGTERM when the import process dies, so no helper outlives its import."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _CheckHelper:
    """A forked process checking a large file's second half (see ``OrderFileImport._run``).

    It writes three files the parent reads after it has checked the first half: the result
    (counts, errors, the spool index, as pickle), its rejected rows (CSV, in file order) and
    its spool. The parent closes its database connections before the fork; the helper starts with
    new ones and never touches those it inherited: each process has its own.
    """

    def __init__(self, pid: int, paths: dict[str, str], shared: mmap.mmap) -> None:
        self.pid, self.paths, self._shared = pid, paths, shared

    def rows_checked(self) -> int:
        """Rows the helper has checked so far (it counts into memory shared with us)."""
        return _COUNTER.unpack_from(self._shared)[0]

    @classmethod
    def start(cls, job: OrderFileImport, split_line: int) -> _CheckHelper:
        paths = {}
        for name in ("result", "rejects", "spool"):
            fd, paths[name] = tempfile.mkstemp(prefix=f"bpo-import-{name}-")
            os.close(fd)
        shared = mmap.mmap(-1, _COUNTER.size)  # anonymous and shared with the child
        connections.close_all()
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            code = 1
            try:
                _end_with_parent()
                _fresh_connections()
                job.progress = lambda result, _line: _COUNTER.pack_into(
                    shared, 0, result.total_rows
                )
                cls._work(job, split_line, paths)
                code = 0
            except BaseException as exc:  # reported to the parent, which raises it
                with open(paths["result"], "wb") as fh:
                    pickle.dump({"error": (isinstance(exc, FileProblem), str(exc))}, fh)
            finally:
                try:
                    connections.close_all()
                finally:
                    os._exit(code)
        return cls(pid, paths, shared)

    @staticmethod
    def _work(job: OrderFileImport, split_line: int, paths: dict[str, str]) -> None:
        with open(paths["rejects"], "w", newline="", encoding="utf-8") as rejects:
            job.rejects = _RejectsWriter(rejects) if job.rejects is not None else None
            with open(paths["spool"], "w+b") as spool:
                job._spool, job._spools = spool, [spool]
                reader = _private_reader(job.binary)
                reader.seek(0)
                job._check(CsvSource(reader), start_at=split_line)
        with open(paths["result"], "wb") as fh:
            pickle.dump({"result": job.result, "spooled": job._spooled}, fh, protocol=5)

    def abandon(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
            os.waitpid(self.pid, 0)
        finally:
            self._remove()
            self._shared.close()

    def _remove(self) -> None:
        for path in self.paths.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def merge_into(self, job: OrderFileImport) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
            with open(self.paths["result"], "rb") as fh:
                payload = pickle.load(fh) if os.path.getsize(self.paths["result"]) else {}
            if "error" in payload:
                is_file_problem, message = payload["error"]
                raise (FileProblem if is_file_problem else RuntimeError)(message)
            if "result" not in payload or status != 0:
                raise RuntimeError(f"The import's helper process failed (status {status}).")
            theirs, ours = payload["result"], job.result
            for name in (
                "total_rows",
                "orders_new",
                "lines_new",
                "orders_skipped",
                "orders_conflict",
                "orders_rejected",
                "rows_rejected",
                "error_count",
                "orders_created_earlier",
                "lines_created_earlier",
            ):
                setattr(ours, name, getattr(ours, name) + getattr(theirs, name))
            ours.skip_reasons.update(theirs.skip_reasons)
            ours.errors += theirs.errors[: max(MAX_SHOWN_ERRORS - len(ours.errors), 0)]
            if job._rejects_file is not None:
                with open(self.paths["rejects"], encoding="utf-8", newline="") as fh:
                    shutil.copyfileobj(fh, job._rejects_file)
            if payload["spooled"]:
                spool = open(self.paths["spool"], "rb")  # noqa: SIM115 (closed by run())
                job._spools.append(spool)
                spool_no, base = len(job._spools) - 1, len(job._spooled)
                job._spooled += [
                    (score, ship_by, placed_at, position + base, spool_no, offset, size)
                    for score, ship_by, placed_at, position, _, offset, size in payload["spooled"]
                ]
        finally:
            self._remove()  # (an open spool stays readable until closed)
            self._shared.close()
