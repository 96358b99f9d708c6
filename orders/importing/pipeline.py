"""The import itself: stream rows, group them into orders, check each order whole, then create
the good ones through the order intake service in chunks, most urgent first.

Rules (see the import issue and README):
- An order is identified by (client, order number). Known and identical → skipped; known but
  different → a conflict, reported and never overwritten.
- Never a partial order: one bad row rejects its whole order, with all its rows listed in the
  rejected-rows report (the original columns plus an ``error`` column, ready to fix and re-upload).
- The file is streamed (a light first pass finds orders whose rows are not together); memory
  holds one chunk of orders plus the set of order numbers seen.
- Two phases when importing for real. **Check**: every order is validated and compared with
  what exists; the good ones are written, with their priority, to a spool file on disk (not
  memory). **Create**: the spooled orders are created through ``orders_create_batch`` in
  priority order, chunk after chunk, each chunk one transaction. Scarce stock thus goes to the
  file's most urgent orders first, as the allocation engine wants it, instead of to whichever
  came first in the file and then being taken back order by order (pre-emption), which cost
  time and filled timelines with "re-assigned" entries.
"""

from __future__ import annotations

import csv
import pickle
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO, TextIO

from django.utils import timezone

from bpo_backoffice.bulk import bulk_insert
from bpo_backoffice.db import atomic_with_retry
from clients.models import Client
from inventory.models import Product
from orders.exceptions import OrderValidationError
from orders.importing.formats import ORDER_FIELDS, SHOPIFY, SHOPIFY_PAYMENT, HeaderProblem
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
from orders.models import Customer, Order, OrderEvent, OrderLine
from orders.services.intake import (
    PAYMENT_STATUSES,
    SERVICE_LEVELS,
    TIERS,
    LineInput,
    OrderInput,
    compute_ship_by,
    orders_create_batch,
)
from orders.services.priority import PriorityInput, compute_priority

CHUNK_ORDERS = 1000  # orders checked against the database at a time
CREATE_CHUNK_ORDERS = 5000  # orders created (and allocated) per transaction
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
    skip_reasons: Counter = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def add_error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_SHOWN_ERRORS:
            self.errors.append(error)

    def summary(self, dry_run: bool) -> str:
        if dry_run:
            head = f"{self.orders_new} order(s) with {self.lines_new} line(s) would be created"
        else:
            head = f"{self.orders_created} order(s) with {self.lines_created} line(s) created"
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


_SPOOLED_FIELDS = (
    "number",
    "placed_at",
    "service_level",
    "ship_by",
    "payment_status",
    "currency",
    "shipping_total",
    "tax_total",
    "ship_to",
    "source",
    "expedite",
    "note",
)


def _packed(draft: _Draft) -> tuple:
    """A checked order as plain tuples for the spool (products by SKU, no model instances)."""
    data = draft.data
    return (
        draft.rows,
        draft.email,
        draft.customer_name,
        draft.customer_ref,
        draft.tier,
        tuple(getattr(data, name) for name in _SPOOLED_FIELDS),
        tuple((ln.product.sku, ln.quantity, ln.unit_price) for ln in data.lines),
    )


def _unpacked(packed: tuple, products: dict[str, Product]) -> _Draft:
    rows, email, name, ref, tier, fields, lines = packed
    data = OrderInput(
        lines=[LineInput(product=products[sku], quantity=q, unit_price=p) for sku, q, p in lines],
        **dict(zip(_SPOOLED_FIELDS, fields, strict=True)),
    )
    return _Draft(
        number=data.number,
        rows=rows,
        data=data,
        email=email,
        customer_name=name,
        customer_ref=ref,
        tier=tier,
    )


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
        create_chunk_orders: int = CREATE_CHUNK_ORDERS,
    ) -> None:
        self.client = client
        self.binary = binary
        self.user = user
        self.file_name = file_name
        self.requested_format = requested_format
        self.dry_run = dry_run
        self.rejects = csv.writer(rejects) if rejects is not None else None
        self.progress = progress
        self.chunk_orders = chunk_orders
        self.create_chunk_orders = create_chunk_orders
        self._spool = None  # good orders between the two phases (temporary file)
        self._spooled: list[tuple] = []  # (priority key…, offset, size) per spooled order
        self.result = ImportResult()
        self._products: dict[str, Product] = {}
        self._scattered: dict[str, list[int]] = {}

    # -- entry point ---------------------------------------------------------------------------
    def run(self) -> ImportResult:
        """Raises :class:`FileProblem` when the file as a whole cannot be used."""
        source = CsvSource(self.binary)
        try:
            self.layout = _build_layout(source.header, source.raw_header, self.requested_format)
        except HeaderProblem as exc:
            raise FileProblem(str(exc)) from exc
        self.result.format = self.layout.format
        # The order-level fields this file has columns for (the others are always blank).
        self._order_fields = [name for name in ORDER_FIELDS if name in self.layout.index]
        self.decimal_comma = source.delimiter == ";"
        if self.rejects is not None:
            self.rejects.writerow([*source.raw_header, "error"])
        self._products = {
            p.sku: p
            for p in Product.objects.filter(client=self.client).only(
                "id", "sku", "client_id", "active"
            )
        }
        self._scattered = self._find_scattered_orders(source)
        source.detach()
        self.binary.seek(0)
        source = CsvSource(self.binary)
        pending: list[_Draft] = []
        current: _Draft | None = None
        last_line = 0
        for line_no, values in source:
            last_line = line_no
            self.result.total_rows += 1
            number = self.layout.get(values, "order_number")
            if current is not None and number and number == current.number:
                current.rows.append((line_no, values))
                continue
            if current is not None:
                pending.append(self._finish(current))
            current = _Draft(number=number, rows=[(line_no, values)])
            if len(pending) >= self.chunk_orders:
                self._flush(pending, last_line)
                pending = []
        if current is not None:
            pending.append(self._finish(current))
        self._flush(pending, last_line)
        if self._spool is not None:
            try:
                self._create_spooled()
            finally:
                self._spool.close()
                self._spool = None
        return self.result

    def _find_scattered_orders(self, source: CsvSource) -> dict[str, list[int]]:
        """First, light pass (order numbers only): orders whose rows are not together.

        Such an order is rejected whole, every part of it: importing the first part and
        rejecting the rest would be the partial order this import promises never to make.
        """
        first_seen: dict[str, int] = {}
        scattered: dict[str, list[int]] = {}
        previous = None
        get = self.layout.get
        for line_no, values in source:
            number = get(values, "order_number")
            if not number or number == previous:
                continue
            previous = number
            if number in first_seen:
                scattered.setdefault(number, [first_seen[number]]).append(line_no)
            else:
                first_seen[number] = line_no
        return scattered

    # -- one order: rows -> OrderInput or errors -----------------------------------------------
    def _finish(self, draft: _Draft) -> _Draft:
        number = draft.number
        first_line = draft.rows[0][0]
        col = self.layout.columns
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
        get = self.layout.get
        order_values: dict[str, tuple[int, str]] = {}
        for line_no, values in draft.rows:
            for name in self._order_fields:
                if name not in order_values:
                    value = get(values, name)
                    if value:
                        order_values[name] = (line_no, value)

        def value_of(name: str) -> tuple[int, str]:
            return order_values.get(name, (first_line, ""))

        def error(line: int, name: str, message: str) -> None:
            draft.errors.append(RowError(line, col.get(name, name), message, number))

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
        for line_no, values in draft.rows:
            if order_fulfilled or (
                shopify and get(values, "line_fulfillment_status").lower() == "fulfilled"
            ):
                continue  # shipped by the shop already: nothing for us to do for this line
            unfulfilled_seen = True
            sku = get(values, "sku")
            product = self._products.get(sku) if sku else None
            if not sku:
                error(line_no, "sku", "The SKU is missing.")
            elif product is None:
                error(line_no, "sku", f"Unknown SKU '{sku}' for {client.code}.")
            elif not product.active:
                error(line_no, "sku", f"SKU '{sku}' is inactive for {client.code}.")
            try:
                quantity = parse_quantity(get(values, "quantity"))
            except CellError as exc:
                error(line_no, "quantity", str(exc))
                quantity = None
            try:
                price = parse_money(get(values, "unit_price"), decimal_comma=self.decimal_comma)
            except CellError as exc:
                error(line_no, "unit_price", str(exc))
                price = None
            if product is not None and quantity is not None and price is not None:
                lines.append(LineInput(product=product, quantity=quantity, unit_price=price))
        if shopify and not unfulfilled_seen:
            draft.fulfilled = True
        if draft.errors or draft.fulfilled:
            return draft
        email = value_of("customer_email")[1].lower()
        draft.email = email
        draft.customer_name = (
            value_of("customer_name")[1] or value_of("ship_to_name")[1] or email or "Guest customer"
        )[:200]
        draft.customer_ref = value_of("customer_id")[1][:100]
        tier = value_of("customer_tier")[1].lower()
        if tier and tier not in TIERS:
            error(
                value_of("customer_tier")[0], "customer_tier", f"'{tier}' is not a customer tier."
            )
            return draft
        draft.tier = tier or Customer.Tier.STANDARD
        ship_to = {
            key: strip_apostrophe(value_of(f"ship_to_{key}")[1])
            for key in ("name", "address1", "address2", "city", "postcode", "region", "phone")
        }
        country = value_of("ship_to_country")[1].upper()
        ship_to["country"] = country if len(country) == 2 else ""
        for key, limit in (
            ("name", 200),
            ("address1", 255),
            ("address2", 255),
            ("city", 100),
            ("postcode", 20),
            ("region", 100),
            ("phone", 50),
        ):
            ship_to[key] = ship_to[key][:limit]
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

    # -- a chunk of orders: compare with what exists, then create --------------------------------
    def _flush(self, drafts: list[_Draft], last_line: int) -> None:
        if drafts:
            good = self._triage(drafts)
            if good and not self.dry_run:
                self._spool_drafts(good)
        if self.progress is not None:
            self.progress(self.result, last_line)

    # -- between the phases: good orders on disk, with the key they will be created in ------------
    def _spool_drafts(self, drafts: list[_Draft]) -> None:
        """Write checked orders to the spool with their priority (as the intake service will
        compute it; a customer's tier from the database when the customer exists)."""
        if self._spool is None:
            # Closed by run() once the orders are created (or on error).
            self._spool = tempfile.TemporaryFile(prefix="bpo-import-")  # noqa: SIM115
            self._now = timezone.now()
        tiers = self._known_tiers(drafts)
        client, now, spool = self.client, self._now, self._spool
        for draft in drafts:
            data = draft.data
            placed_at = data.placed_at or now
            ship_by = data.ship_by or compute_ship_by(
                client=client, placed_at=placed_at, service_level=data.service_level
            )
            total = (
                sum((ln.unit_price * ln.quantity for ln in data.lines), Decimal("0"))
                + data.shipping_total
                + data.tax_total
            )
            tier = tiers.get(("ref", draft.customer_ref)) or tiers.get(("email", draft.email))
            score, _ = compute_priority(
                PriorityInput(
                    ship_by=ship_by,
                    placed_at=placed_at,
                    service_level=data.service_level,
                    tier=tier or draft.tier,
                    total=total,
                    expedite=data.expedite,
                ),
                client,
                now,
            )
            blob = pickle.dumps(_packed(draft), protocol=pickle.HIGHEST_PROTOCOL)
            offset = spool.tell()
            spool.write(blob)
            self._spooled.append(
                (-score, ship_by, placed_at, len(self._spooled), offset, len(blob))
            )

    def _known_tiers(self, drafts: list[_Draft]) -> dict[tuple[str, str], str]:
        refs = [d.customer_ref for d in drafts if d.customer_ref]
        emails = [d.email for d in drafts if d.email]
        tiers: dict[tuple[str, str], str] = {}
        customers = Customer.objects.filter(client=self.client)
        if refs:
            for ref, tier in customers.filter(external_id__anyof=refs).values_list(
                "external_id", "tier"
            ):
                tiers[("ref", ref)] = tier
        if emails:
            for email, tier in (
                customers.filter(email__anyof=emails).order_by("-id").values_list("email", "tier")
            ):
                tiers[("email", email)] = tier  # the oldest match wins, as in _customers
        return tiers

    def _create_spooled(self) -> None:
        """Phase two: the spooled orders, most urgent first, in chunks (one transaction each)."""
        self._spooled.sort()
        spool, products = self._spool, self._products
        chunk = self.create_chunk_orders
        for start in range(0, len(self._spooled), chunk):
            drafts = []
            for *_key, offset, size in self._spooled[start : start + chunk]:
                spool.seek(offset)
                drafts.append(_unpacked(pickle.loads(spool.read(size)), products))
            self._create(drafts)
            if self.progress is not None:
                self.progress(self.result, self.result.total_rows)

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
        good: list[_Draft] = []
        for draft in drafts:
            if draft.errors:
                self._reject(draft)
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
            result.orders_new += 1
            result.lines_new += len(draft.data.lines)
            good.append(draft)
        return good

    def _create(self, drafts: list[_Draft]) -> None:
        try:
            created = self._create_chunk(drafts)
        except OrderValidationError:
            # Someone created one of these orders meanwhile: go one by one so that only the
            # clashing order is reported and the rest still come in.
            created = []
            for draft in drafts:
                try:
                    created += self._create_chunk([draft])
                except OrderValidationError as exc:
                    self.result.orders_new -= 1
                    self.result.lines_new -= len(draft.data.lines)
                    self._conflict(draft, str(exc))
        self.result.orders_created += len(created)
        self.result.lines_created += sum(len(d.data.lines) for d in created)

    @atomic_with_retry
    def _create_chunk(self, drafts: list[_Draft]) -> list[_Draft]:
        customers = self._customers(drafts)
        for draft in drafts:
            draft.data.customer = customers[id(draft)]
        orders_create_batch(
            client=self.client,
            inputs=[d.data for d in drafts],
            user=self.user,
            event_kind=OrderEvent.Kind.IMPORT,
            fetch=False,
        )
        return drafts

    def _customers(self, drafts: list[_Draft]) -> dict[int, Customer]:
        """Match customers by the shop's id, then e-mail; create the rest (in this transaction)."""
        client = self.client
        refs = {d.customer_ref for d in drafts if d.customer_ref}
        emails = {d.email for d in drafts if d.email}
        by_ref = (
            {
                c.external_id: c
                for c in Customer.objects.filter(client=client, external_id__anyof=list(refs))
            }
            if refs
            else {}
        )
        by_email: dict[str, Customer] = {}
        if emails:
            for c in Customer.objects.filter(client=client, email__anyof=list(emails)).order_by(
                "id"
            ):
                by_email.setdefault(c.email, c)
        new: list[Customer] = []
        chosen: dict[int, Customer] = {}
        for draft in drafts:
            customer = by_ref.get(draft.customer_ref) if draft.customer_ref else None
            customer = customer or (by_email.get(draft.email) if draft.email else None)
            if customer is None:
                customer = Customer(
                    client=client,
                    external_id=draft.customer_ref,
                    email=draft.email,
                    name=draft.customer_name,
                    tier=draft.tier,
                )
                new.append(customer)
                if draft.email:
                    by_email[draft.email] = customer
                if draft.customer_ref:
                    by_ref[draft.customer_ref] = customer
            chosen[id(draft)] = customer
        if new:
            bulk_insert(Customer, new)
        return chosen
