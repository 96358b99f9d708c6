"""Turning what carriers send (webhook JSON, status files) into validated tracking events.

Both ways in share :func:`event_from_mapping`, so a status, a time or a field means the same
whether it came signed over HTTP or in a CSV file. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from fulfillment.exceptions import FulfillmentError
from fulfillment.models import TrackingStatus

MAX_TRACKING_LENGTH = 64
TRACKING_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")
# A carrier clock may run a little ahead; an event days in the future is garbage.
MAX_FUTURE = timedelta(hours=24)
LOCATION_MAX = 200
DESCRIPTION_MAX = 500

# What carriers write for our statuses (compared lower-case, spaces and dashes as "_").
STATUS_ALIASES: dict[str, str] = {
    **{s.value: s.value for s in TrackingStatus},
    "label": TrackingStatus.LABEL_CREATED,
    "created": TrackingStatus.LABEL_CREATED,
    "info_received": TrackingStatus.LABEL_CREATED,
    "pre_transit": TrackingStatus.LABEL_CREATED,
    "pickup": TrackingStatus.PICKED_UP,
    "collected": TrackingStatus.PICKED_UP,
    "accepted": TrackingStatus.PICKED_UP,
    "transit": TrackingStatus.IN_TRANSIT,
    "departed": TrackingStatus.IN_TRANSIT,
    "arrived": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "on_vehicle": TrackingStatus.OUT_FOR_DELIVERY,
    "with_courier": TrackingStatus.OUT_FOR_DELIVERY,
    "delivered": TrackingStatus.DELIVERED,
    "failed_attempt": TrackingStatus.EXCEPTION,
    "delivery_failed": TrackingStatus.EXCEPTION,
    "delayed": TrackingStatus.EXCEPTION,
    "damaged": TrackingStatus.EXCEPTION,
    "lost": TrackingStatus.EXCEPTION,
    "return_to_sender": TrackingStatus.RETURNED,
    "returned_to_sender": TrackingStatus.RETURNED,
    "rts": TrackingStatus.RETURNED,
}

TIME_KEYS = ("occurred_at", "time", "timestamp", "event_time", "datetime", "date")
REQUIRED_COLUMNS = ("tracking_number", "status")


@dataclass(frozen=True)
class EventInput:
    """One carrier event, validated; ``row`` is the file row or the webhook list index."""

    tracking_number: str
    status: str
    occurred_at: datetime
    location: str = ""
    description: str = ""
    raw: dict = field(default_factory=dict, compare=False, hash=False)
    row: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RowError:
    row: int | None
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}" if self.row is not None else self.message


def normalize_status(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return _normalize_status(value)


@functools.lru_cache(maxsize=256)
def _normalize_status(value: str) -> str | None:
    # A status file repeats a handful of spellings 100,000 times: decide each once.
    key = re.sub(r"[\s\-]+", "_", value.strip().lower())
    return STATUS_ALIASES.get(key)


def parse_event_time(value: object, *, now: datetime | None = None) -> datetime:
    """ISO 8601 (``2025-06-01T10:15:00Z``, ``2025-06-01 10:15``); no offset means UTC."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("the event time is missing")
    if not isinstance(value, str):
        raise ValueError("the event time must be an ISO 8601 string (2026-01-05T10:00:00Z)")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{value.strip()[:40]}' is not a date and time (use ISO 8601)") from None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment - (now or timezone.now()) > MAX_FUTURE:
        raise ValueError(f"the event time {value.strip()[:40]} is in the future")
    if moment.year < 2000:
        raise ValueError(f"the event time {value.strip()[:40]} is implausibly old")
    return moment


def clean_tracking_number(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("the tracking number is missing")
    number = value.strip()
    if len(number) > MAX_TRACKING_LENGTH or not TRACKING_RE.match(number):
        raise ValueError(f"'{number[:70]}' is not a valid tracking number")
    return number


def _optional_text(data: Mapping, key: str, limit: int) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"'{key}' must be text")
    if "\x00" in value:
        raise ValueError(f"'{key}' contains a NUL character")
    return value.strip()[:limit]


def event_from_mapping(
    data: Mapping, *, row: int | None = None, raw: dict | None = None, now: datetime | None = None
) -> EventInput:
    """Validate one event; raises ``ValueError`` with a message naming the bad field."""
    if not isinstance(data, Mapping):
        raise ValueError("an event must be an object")
    number = clean_tracking_number(data.get("tracking_number"))
    status = normalize_status(data.get("status"))
    if status is None:
        shown = str(data.get("status"))[:40] if data.get("status") is not None else "(missing)"
        raise ValueError(
            f"unknown status '{shown}' (use one of {', '.join(TrackingStatus.values)})"
        )
    time_value = next((data[k] for k in TIME_KEYS if data.get(k) not in (None, "")), None)
    occurred_at = parse_event_time(time_value, now=now)
    return EventInput(
        tracking_number=number,
        status=status,
        occurred_at=occurred_at,
        location=_optional_text(data, "location", LOCATION_MAX),
        description=_optional_text(data, "description", DESCRIPTION_MAX),
        raw=dict(raw if raw is not None else data),
        row=row,
    )


def _header_key(name: str) -> str:
    key = re.sub(r"[\s\-]+", "_", (name or "").strip().lower().lstrip("\ufeff"))
    return {"tracking": "tracking_number", "tracking_no": "tracking_number"}.get(key, key)


@dataclass
class ParsedFile:
    events: list[EventInput] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)  # the first ``max_errors``
    error_count: int = 0
    rows: int = 0

    def add_error(self, error: RowError, max_errors: int) -> None:
        self.error_count += 1
        if len(self.errors) < max_errors:
            self.errors.append(error)


def read_tracking_csv(file_obj, *, max_errors: int = 1000) -> ParsedFile:
    """Parse a carrier status file: ``tracking_number, status, time, location, description``.

    Column names are matched loosely (``Tracking Number``, ``event_time`` …); comma, semicolon
    or tab separated. Raises :class:`FulfillmentError` when the file cannot be read at all
    (not UTF-8 text, no header, a required column missing); bad rows are reported in
    ``errors`` with their row number (the header is row 1) and skipped.
    """
    try:
        if isinstance(file_obj, str | bytes):
            text = file_obj.decode("utf-8-sig") if isinstance(file_obj, bytes) else file_obj
            stream: io.TextIOBase = io.StringIO(text)
        else:
            # One read and one decode: much faster than a line-by-line codec reader, and the
            # upload form caps files at 50 MB.
            stream = io.StringIO(file_obj.read().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FulfillmentError(
            f"The file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8."
        ) from None
    sample = stream.read(4096)
    stream.seek(0)
    if not sample.strip():
        raise FulfillmentError("The file is empty.")
    first_line = sample.splitlines()[0] if sample.splitlines() else sample
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise FulfillmentError(f"The file has no readable header line ({exc}).") from None
    columns = [_header_key(h) for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not any(k in columns for k in TIME_KEYS):
        missing.append("time")
    if missing:
        raise FulfillmentError(
            f"Missing column(s): {', '.join(missing)}. Expected: tracking_number, status, "
            f"time, location, description (found: {', '.join(header)[:200]})."
        )
    parsed = ParsedFile()
    now = timezone.now()
    row_no = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_no += 1
            parsed.rows += 1
            parsed.add_error(RowError(row_no, f"unreadable CSV ({exc})"), max_errors)
            continue
        row_no += 1
        if not any(v.strip() for v in values):
            continue
        parsed.rows += 1
        if any("\x00" in v for v in values):
            # The database refuses NUL in text: say so for the row instead of failing the file.
            parsed.add_error(RowError(row_no, "contains a NUL character"), max_errors)
            continue
        record = dict(zip(columns, values, strict=False))
        try:
            parsed.events.append(
                event_from_mapping(
                    record,
                    row=row_no,
                    raw={h: v for h, v in zip(header, values, strict=False)},
                    now=now,
                )
            )
        except ValueError as exc:
            parsed.add_error(RowError(row_no, str(exc)), max_errors)
    return parsed
