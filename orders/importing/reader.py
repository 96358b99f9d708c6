"""Streaming CSV reading: UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text"),
comma, semicolon or tab separated, quoted multi-line fields. Never holds the whole file; reports
where it stopped making sense: a byte that is not text at its true line, a row whose quotes do
not close (``CsvSource.problems``), so that nothing is swallowed silently."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

SNIFF_BYTES = 64 * 1024
csv.field_size_limit(1024 * 1024)

_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class FileProblem(Exception):
    """The file as a whole cannot be read as an order CSV; the message says why."""


def normalise_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def _delimiter(first_line: str) -> str:
    # The header decides: a semicolon file (European Excel) has more ';' than ',' there, and
    # Excel's "Unicode text" separates by tabs.
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _encoding(head: bytes) -> str:
    """The file's encoding from its first bytes; raises :class:`FileProblem` when it is none
    we read."""
    if head.startswith(_UTF16_BOMS):
        try:
            # (A cut through a character at the sniff boundary is fine: decode a whole number
            # of code units and let a trailing half surrogate pass.)
            head[: len(head) // 2 * 2].decode("utf-16", errors="strict")
        except UnicodeDecodeError as exc:
            if len(head) < SNIFF_BYTES or exc.start < len(head) - 4:
                raise FileProblem(
                    "The file starts like UTF-16 text but is not valid UTF-16. Save it as "
                    "'CSV UTF-8' and upload again."
                ) from exc
        return "utf-16"
    if b"\x00" in head:
        if head[1:200:2].count(0) > 50 or head[0:200:2].count(0) > 50:
            raise FileProblem(
                "The file looks like UTF-16 text without a byte order mark. Save it as "
                "'CSV UTF-8' (or 'Unicode text') and upload again."
            )
        # A stray NUL in a cell of a text file is that row's problem (the import rejects its
        # order); NULs in the header, many of them, or bytes that are no text: not a CSV.
        first_line = head.split(b"\n", 1)[0]
        if b"\x00" in first_line or head.count(b"\x00") > 16 + len(head) // 1000:
            raise FileProblem("This is not a CSV file (it contains binary data).")
        try:
            head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if len(head) < SNIFF_BYTES or exc.start < len(head) - 4:
                raise FileProblem("This is not a CSV file (it contains binary data).") from exc
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the sniff boundary is fine;
        # a file shorter than the sniff was read whole, so there is no boundary.
        if len(head) < SNIFF_BYTES or exc.start < len(head) - 4:
            raise FileProblem(
                "The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload again."
            ) from exc
    return "utf-8-sig"


def _first_undecodable_line(binary: BinaryIO, encoding: str) -> int | None:
    """The physical line (1-based) holding the first byte that is not ``encoding`` text: the
    text layer decodes ahead of the CSV reader, so its position is not the line's."""
    binary.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    line_no = 1
    try:
        for raw in iter(lambda: binary.readline(1 << 20), b""):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError:
                return line_no
            if raw.endswith(b"\n"):
                line_no += 1
    except (OSError, ValueError):
        return None
    return None


class CsvSource:
    """Iterate ``(line_no, values)`` of a CSV file object opened in binary mode.

    ``problems`` maps the first line of a row that is not well-formed CSV (a quote that does
    not close and so swallowed the next rows, more cells than the header) to the reason; the
    import rejects that row's order with it.
    """

    def __init__(self, binary: BinaryIO) -> None:
        self._binary = binary
        head = binary.read(SNIFF_BYTES)
        if not head or not head.strip():
            raise FileProblem("The file is empty.")
        self.encoding = _encoding(head)
        binary.seek(0)
        self._text = io.TextIOWrapper(binary, encoding=self.encoding, newline="")
        sniff = head[: len(head) // 2 * 2] if self.encoding == "utf-16" else head
        text = sniff.decode(self.encoding, errors="replace")
        first_line = (text.splitlines() or [""])[0]
        if "\x00" in first_line:
            raise FileProblem("This is not a CSV file (it contains binary data).")
        self.delimiter = _delimiter(first_line)
        self._reader = csv.reader(self._text, delimiter=self.delimiter)
        try:
            raw_header = next(self._reader)
        except (StopIteration, csv.Error, UnicodeDecodeError) as exc:
            raise FileProblem("The file has no readable header row.") from exc
        self.raw_header = raw_header
        self.header = [normalise_header(h) for h in raw_header]
        if len([h for h in self.header if h]) < 2:
            raise FileProblem(
                "This does not look like a CSV order file: the first row should hold column "
                "names separated by commas or semicolons."
            )
        self.line_no = self._reader.line_num
        self.problems: dict[int, str] = {}
        # A continuation line inside a quoted cell with this many delimiters is a swallowed row.
        self._row_like = max(3, (len(raw_header) - 1) // 2)

    def detach(self) -> None:
        """Let go of the binary file without closing it (so it can be read again)."""
        self._text.detach()

    def _not_text(self, start: int) -> FileProblem:
        line = _first_undecodable_line(self._binary, self.encoding) or start
        name = "UTF-16" if self.encoding == "utf-16" else "UTF-8"
        return FileProblem(
            f"Line {line}: the file is not {name} text from here on. Save it as "
            "'CSV UTF-8' and upload again."
        )

    def _check_shape(self, start: int, values: list[str]) -> None:
        """Only for rows that span lines or do not have the header's width (rare)."""
        width, end = len(self.raw_header), self._reader.line_num
        where = f"Line {start}" if end == start else f"Lines {start}–{end}"
        for value in values:
            if "\n" not in value and "\r" not in value:
                continue
            continued = value.splitlines()[1:]
            if (
                len(values) < width
                or (value.endswith(("\n", "\r")) and end == start)
                or any(part.count(self.delimiter) >= self._row_like for part in continued)
            ):
                joined = (
                    ", so the lines after it were read as part of this row" if end > start else ""
                )
                self.problems[start] = (
                    f'{where}: a quoted cell is not closed (a " without its partner){joined}. '
                    "Fix the quotes and upload again."
                )
                return
        if len(values) > width and any(v.strip() for v in values[width:]):
            self.problems[start] = (
                f"{where}: the row has {len(values)} cells but the header has {width}. Check "
                "the quotes and separators of this row."
            )

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        reader, width = self._reader, len(self.raw_header)
        while True:
            start = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise self._not_text(start) from exc
            except csv.Error as exc:
                raise FileProblem(f"Line {start}: the CSV is malformed ({exc}).") from exc
            if not any(v.strip() for v in values):
                continue  # blank line
            if len(values) != width or reader.line_num != start:
                self._check_shape(start, values)
            yield start, values


def count_records(binary: BinaryIO) -> int:
    """Cheap estimate of data rows for progress and the background threshold (newlines)."""
    binary.seek(0)
    lines = 0
    last = b""
    while chunk := binary.read(1024 * 1024):
        lines += chunk.count(b"\n")
        last = chunk
    binary.seek(0)
    if last and not last.endswith((b"\n", b"\n\x00")):
        lines += 1
    return max(lines - 1, 0)
