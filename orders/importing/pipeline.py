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
  checked by two processes (``helper.CheckHelper``). **Create**: the spooled orders are inserted
  through ``orders_insert_built`` in priority order, chunk after chunk, each chunk one
  transaction. Scarce stock thus goes to the file's most urgent orders first, as the
  allocation engine wants it, instead of to whichever came first in the file and then being
  taken back order by order (pre-emption), which cost time and filled timelines with
  "re-assigned" entries.

This module runs the phases; each job has its module: ``reader`` (CSV text), ``formats``
(columns), ``rows`` (rows → order input), ``triage`` (against what exists), ``spool`` (between
the phases), ``helper`` (the parallel check), ``results`` (counts, row errors, rejected rows);
``jobs`` runs this for the import page and the task cluster."""

from __future__ import annotations

import bisect
import os
import threading
from array import array
from collections.abc import Callable
from typing import BinaryIO, TextIO

from django.db import DataError, IntegrityError, connections, router
from django.utils import timezone

from clients.models import Client
from core.bulk import insert_rows
from core.db import atomic_with_retry
from core.gctune import fewer_gc_passes, settle
from inventory.models import Product
from orders.exceptions import OrderValidationError
from orders.importing.formats import HeaderProblem, cell
from orders.importing.formats import build_layout as _build_layout
from orders.importing.helper import CheckHelper, private_reader
from orders.importing.reader import CsvSource, FileProblem
from orders.importing.results import ImportResult, Report, RowError, shown
from orders.importing.rows import Draft, OrderRows
from orders.importing.spool import Spool, Spooled
from orders.importing.triage import Triage
from orders.models import ImportedOrder, Order, OrderEvent
from orders.services.customers import (
    CustomerDetails,
    customer_tiers,
    customers_match_or_create,
)
from orders.services.intake import orders_insert_built
from orders.signals import import_chunk_created

__all__ = ["ImportResult", "OrderFileImport", "RowError"]

CHUNK_ORDERS = 1000  # orders checked against the database at a time
CREATE_CHUNK_ORDERS = 5000  # orders created (and allocated) per transaction
PARALLEL_MIN_ROWS = 100_000  # from this size a helper process checks the second half


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
        self.progress = progress
        self.chunk_orders = chunk_orders
        self.create_chunk_orders = create_chunk_orders or CREATE_CHUNK_ORDERS
        self.job_id = job_id
        self.resume = resume and job_id is not None
        self.spool = Spool()  # good orders between the two phases (on disk)
        self.parallel_min_rows = parallel_min_rows
        self._helper: CheckHelper | None = None
        self.result = ImportResult()
        self.report = Report(self.result, rejects)

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
        self.report.number_column = self.layout.columns["order_number"]
        if self.report.rejects is not None:
            self.report.rejects.writerow([*source.raw_header, "error"])
        products = {
            p.sku: p
            for p in Product.objects.filter(client=self.client).only(
                "id", "sku", "client_id", "active"
            )
        }
        scattered, starts, last_line = self._find_scattered_orders(source)
        source.detach()
        self.rows = OrderRows(
            client=self.client,
            layout=self.layout,
            raw_header=source.raw_header,
            products=products,
            scattered=scattered,
            decimal_comma=source.delimiter == ";",
            note=f"Imported from {self.file_name}"
            + (f" by {self.user.get_username()}" if self.user else "")
            + ".",
        )
        self.triage = Triage(
            client=self.client,
            layout=self.layout,
            report=self.report,
            job_id=self.job_id,
            resume=self.resume,
        )
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
                self.triage.headroom_share = 2
                helper = self._helper = CheckHelper.start(self, split_line)
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
        if len(self.spool):
            settle()  # the index of checked orders lives until the end: out of the GC's way
            try:
                self._create_spooled()
            finally:
                self.spool.close()
        return self.result

    def _check(self, source: CsvSource, *, start_at: int = 0, stop_at: int | None = None) -> None:
        """Phase one over the rows from line ``start_at`` up to (not including) ``stop_at``."""
        pending: list[Draft] = []
        current: Draft | None = None
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
                    pending.append(self.rows.finish(current))
                current = Draft(number=number, rows=[(line_no, values)])
            if problems and line_no in problems:
                current.errors.append(
                    RowError(line_no, "file", problems.pop(line_no), shown(number))
                )
            if current.rows[0][0] != line_no:
                continue
            if len(pending) >= self.chunk_orders:
                self._flush(pending, last_line)
                pending = []
        if current is not None:
            pending.append(self.rows.finish(current))
        self._flush(pending, last_line)

    def _may_fork(self, last_line: int) -> bool:
        if last_line < self.parallel_min_rows or not hasattr(os, "fork"):
            return False
        if private_reader(self.binary) is None:
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

    # -- a chunk of orders: compare with what exists, then keep the good ones on disk ----------
    def _flush(self, drafts: list[Draft], last_line: int) -> None:
        if drafts:
            good = self.triage.sort(drafts)
            if good and not self.dry_run:
                tiers = customer_tiers(
                    client=self.client,
                    details=[CustomerDetails(d.customer_ref, d.email) for d in good],
                )
                self.spool.add(good, client=self.client, now=self._now, tiers=tiers)
        if self.progress is not None:
            if self._helper is not None:
                self.result.helper_rows = self._helper.rows_checked()
            self.progress(self.result, last_line)

    # -- phase two: create ----------------------------------------------------------------------
    def _create_spooled(self) -> None:
        """The spooled orders, most urgent first, in chunks (one transaction each)."""
        for records in self.spool.batches(self.create_chunk_orders):
            self._create(records)
            import_chunk_created.send(
                sender=OrderFileImport,
                job_id=self.job_id,
                orders_created=self.result.orders_created,
            )
            if self.progress is not None:
                self.progress(self.result, self.result.total_rows)
        if self.report.late:
            self.report.write_late(self.binary)

    def _create(self, records: list[Spooled]) -> None:
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
                    column = self.report.number_column
                    self.result.add_error(RowError(line, column, str(exc), record.number))
                    self.report.late.append((record.line_nos, str(exc)))
        self.result.orders_created += len(created)
        self.result.lines_created += sum(len(r.new.lines) for r in created)

    def _refused(self, record: Spooled, exc: Exception) -> None:
        result = self.result
        result.orders_new -= 1
        result.lines_new -= len(record.new.lines)
        result.orders_rejected += 1
        result.rows_rejected += len(record.line_nos)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        message = f"The database refused order {record.number}: {shown(reason)}"
        line = record.line_nos[0]
        column = self.report.number_column
        result.add_error(RowError(line, column, message, record.number))
        self.report.late.append((record.line_nos, message))

    @atomic_with_retry
    def _create_chunk(self, records: list[Spooled]) -> list[Spooled]:
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

    def _customers(self, records: list[Spooled]) -> None:
        """Match or create each order's customer (in this transaction)."""
        ids = customers_match_or_create(
            client=self.client,
            details=[
                CustomerDetails(r.customer_ref, r.email, r.customer_name, r.tier) for r in records
            ],
        )
        for record, pk in zip(records, ids, strict=True):
            record.new.customer_id = pk
