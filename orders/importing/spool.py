"""The spool: checked orders, already built by the intake service (promise, totals, priority),
kept on disk between the check and the create phase (not in memory), each with the key it
will be created in — most urgent first, as the allocation engine orders a batch."""

from __future__ import annotations

import marshal
import tempfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from django.db import models

from clients.models import Client
from core.bulk import JSONText
from orders.importing.rows import Draft
from orders.models import Order
from orders.services.intake import ORDER_ROW_FIELDS, NewOrder, order_build


class Spooled:
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
    def loads(cls, blob: bytes) -> Spooled:
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


class Spool:
    """Spooled orders in one or more files (this process's, then a helper process's) and the
    index ``(priority key…, input position, file number, offset, size)`` of each."""

    def __init__(self, file: BinaryIO | None = None) -> None:
        self._file = file
        self.files: list[BinaryIO] = [file] if file is not None else []
        self.index: list[tuple] = []

    def __len__(self) -> int:
        return len(self.index)

    def add(self, drafts: list[Draft], *, client: Client, now: datetime, tiers: dict) -> None:
        """Build checked orders (``order_build``; a customer's tier from ``tiers`` when the
        customer exists) and write them, remembering the key they will be created in."""
        if self._file is None:
            # Closed by close() once the orders are created (or on error).
            self._file = tempfile.TemporaryFile(prefix="bpo-import-")  # noqa: SIM115
            self.files.append(self._file)
        spool_no = len(self.files) - 1
        spool, spooled = self._file, self.index
        write = spool.write
        for draft in drafts:
            tier = tiers.get(("ref", draft.customer_ref)) or tiers.get(("email", draft.email))
            new = order_build(client, draft.data, now, tier or draft.tier)
            record = Spooled(
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
            # Plain numbers: the helper process hands its index over with pickle.
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

    def adopt(self, file: BinaryIO, index: list[tuple]) -> None:
        """Take over another process's spool file and index (after this one's orders)."""
        self.files.append(file)
        spool_no, base = len(self.files) - 1, len(self.index)
        self.index += [
            (score, ship_by, placed_at, position + base, spool_no, offset, size)
            for score, ship_by, placed_at, position, _, offset, size in index
        ]

    def batches(self, size: int) -> Iterator[list[Spooled]]:
        """The spooled orders, most urgent first, ``size`` at a time."""
        self.index.sort()
        files, loads = self.files, Spooled.loads
        for start in range(0, len(self.index), size):
            records = []
            for *_key, spool_no, offset, length in self.index[start : start + size]:
                spool = files[spool_no]
                spool.seek(offset)
                records.append(loads(spool.read(length)))
            yield records

    def close(self) -> None:
        for file in self.files:
            file.close()
