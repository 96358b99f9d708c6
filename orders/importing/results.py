"""Results and row errors: the counts of an import, the problems found (line, column, message,
order) and the rejected-rows CSV (the file's columns plus an ``error`` column, formula-safe,
ready to fix and upload again)."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, TextIO

from orders.importing.reader import CsvSource
from orders.resources import neutralise_formula

if TYPE_CHECKING:
    from orders.importing.rows import Draft

MAX_SHOWN_ERRORS = 500
_SHOWN = 60


def shown(value: str) -> str:
    """A cell's text for a message: bounded, NUL made visible."""
    value = value.replace("\x00", "\\0")
    return value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"


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


class RejectsWriter:
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


class Report:
    """Where an import's verdicts go: the counts and errors (``result``) and the rejected-rows
    CSV (``rejects``, when asked for). ``number_column`` names the order number column in
    messages."""

    def __init__(self, result: ImportResult, rejects: TextIO | None) -> None:
        self.result = result
        self.rejects = RejectsWriter(rejects) if rejects is not None else None
        self.number_column = "order_number"
        # Orders refused after the check (created elsewhere meanwhile, or by the database):
        # their rows are read again from the file at the end.
        self.late: list[tuple[tuple[int, ...], str]] = []

    def reject(self, draft: Draft, reason_for_others: str | None = None) -> None:
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

    def conflict(self, draft: Draft, message: str) -> None:
        self.result.orders_conflict += 1
        line = draft.rows[0][0]
        self.result.add_error(RowError(line, self.number_column, message, draft.number))
        if self.rejects is not None:
            for _, values in draft.rows:
                self.rejects.writerow([*values, message])

    def write_late(self, binary: BinaryIO) -> None:
        """Rows of orders that someone else created while this file was being imported: to
        the rejects file with the reason (the rows are read again: they are not kept)."""
        if self.rejects is None:
            return
        messages = {line_no: message for line_nos, message in self.late for line_no in line_nos}
        binary.seek(0)
        source = CsvSource(binary)
        for line_no, values in source:
            if line_no in messages:
                self.rejects.writerow([*values, messages[line_no]])
        source.detach()
