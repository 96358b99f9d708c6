"""Streaming CSV reading: UTF-8 with or without BOM, comma or semicolon, quoted multi-line
fields. Never holds the whole file; reports where it stopped making sense."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import BinaryIO

SNIFF_BYTES = 64 * 1024
csv.field_size_limit(1024 * 1024)


class FileProblem(Exception):
    """The file as a whole cannot be read as an order CSV; the message says why."""


def normalise_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").strip().lower().split())


def _delimiter(first_line: str) -> str:
    # The header decides: a semicolon file (European Excel) has more ';' than ',' there.
    return ";" if first_line.count(";") > first_line.count(",") else ","


class CsvSource:
    """Iterate ``(line_no, values)`` of a CSV file object opened in binary mode."""

    def __init__(self, binary: BinaryIO) -> None:
        head = binary.read(SNIFF_BYTES)
        if not head or not head.strip():
            raise FileProblem("The file is empty.")
        if b"\x00" in head:
            raise FileProblem("This is not a CSV file (it contains binary data).")
        try:
            head.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            # A cut in the middle of a multi-byte character at the sniff boundary is fine;
            # a file shorter than the sniff was read whole, so there is no boundary.
            if len(head) < SNIFF_BYTES or exc.start < len(head) - 4:
                raise FileProblem(
                    "The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload again."
                ) from exc
        binary.seek(0)
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        first_line = head.decode("utf-8-sig", errors="replace").splitlines()[0]
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

    def detach(self) -> None:
        """Let go of the binary file without closing it (so it can be read again)."""
        self._text.detach()

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            start = self._reader.line_num + 1
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise FileProblem(
                    f"Line {start}: the file is not UTF-8 text from here on. Save it as "
                    "'CSV UTF-8' and upload again."
                ) from exc
            except csv.Error as exc:
                raise FileProblem(f"Line {start}: the CSV is malformed ({exc}).") from exc
            if not any(v.strip() for v in values):
                continue  # blank line
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
    if last and not last.endswith(b"\n"):
        lines += 1
    return max(lines - 1, 0)
