"""Business-hours arithmetic for SLA clocks: the one place that knows how to count working time.

A :class:`Calendar` is a client's working week in its own time zone — one working window per
weekday (``None`` for a day off) — plus holidays (local dates). All inputs and outputs are
aware datetimes; windows are built from local wall-clock times each day, so a DST change
shortens or lengthens nothing: a 09:00–17:00 day is eight hours on the day clocks change too
(the window is converted to UTC per day, not by adding hours to the previous day).

- :func:`add_business_seconds` — the moment ``seconds`` of working time after ``start``;
- :func:`business_seconds_between` — working seconds in ``[start, end)``.

Pure functions: no database, so the SLA services and the scan can call them in bulk.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A search further than this gives up (a calendar with no working day at all).
MAX_DAYS = 3 * 366

DEFAULT_WEEK: dict[int, tuple[time, time] | None] = {
    0: (time(9), time(17)),
    1: (time(9), time(17)),
    2: (time(9), time(17)),
    3: (time(9), time(17)),
    4: (time(9), time(17)),
    5: None,
    6: None,
}


class CalendarError(ValueError):
    """A calendar that cannot be used (no working time, a window that ends before it starts)."""


@dataclass(frozen=True)
class Calendar:
    tz: ZoneInfo
    # weekday (Monday 0) → (start, end) local wall-clock times, or None for a day off
    week: Mapping[int, tuple[time, time] | None] = field(default_factory=lambda: DEFAULT_WEEK)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        if not any(self.week.get(d) for d in range(7)):
            raise CalendarError("The calendar has no working day.")
        for day, window in self.week.items():
            if window and window[0] >= window[1]:
                raise CalendarError(f"Weekday {day}: the working day ends before it starts.")

    @classmethod
    def from_settings(
        cls, *, tz: str, week: Mapping | None = None, holidays: Iterable = ()
    ) -> Calendar:
        """Build from stored values: ``week`` as ``{"0": ["09:00", "17:00"], "5": null}``,
        holidays as ISO dates."""
        parsed: dict[int, tuple[time, time] | None] = dict(DEFAULT_WEEK)
        if week:
            parsed = {d: None for d in range(7)}
            for key, window in week.items():
                if window:
                    parsed[int(key)] = (
                        time.fromisoformat(window[0]),
                        time.fromisoformat(window[1]),
                    )
        days = frozenset(d if isinstance(d, date) else date.fromisoformat(d) for d in holidays)
        return cls(tz=ZoneInfo(tz), week=parsed, holidays=days)

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's working window as UTC datetimes, or None for a day off."""
        if day in self.holidays:
            return None
        hours = self.week.get(day.weekday())
        if not hours:
            return None
        start = datetime.combine(day, hours[0], tzinfo=self.tz).astimezone(UTC)
        end = datetime.combine(day, hours[1], tzinfo=self.tz).astimezone(UTC)
        return start, end


def _local_day(moment: datetime, cal: Calendar) -> date:
    return moment.astimezone(cal.tz).date()


def add_business_seconds(start: datetime, seconds: float, cal: Calendar) -> datetime:
    """The moment when ``seconds`` of working time have passed after ``start``.

    Zero seconds from outside working hours gives the start of the next window (the clock
    only starts when someone could work on it)."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    remaining = max(0.0, float(seconds))
    moment = start.astimezone(UTC)
    day = _local_day(moment, cal) - timedelta(days=1)  # a window may start on the previous day
    for _ in range(MAX_DAYS):
        window = cal.window(day)
        day += timedelta(days=1)
        if window is None or window[1] <= moment:
            continue
        begin = max(window[0], moment)
        available = (window[1] - begin).total_seconds()
        if remaining <= available:
            return begin + timedelta(seconds=remaining)
        remaining -= available
        moment = window[1]
    raise CalendarError("No working time found within three years.")


def business_seconds_between(start: datetime, end: datetime, cal: Calendar) -> int:
    """Working seconds in ``[start, end)`` (0 when ``end`` is not after ``start``)."""
    if end <= start:
        return 0
    a, b = start.astimezone(UTC), end.astimezone(UTC)
    day = _local_day(a, cal) - timedelta(days=1)
    last = _local_day(b, cal)
    total = 0.0
    while day <= last:
        window = cal.window(day)
        day += timedelta(days=1)
        if window is None:
            continue
        lo, hi = max(window[0], a), min(window[1], b)
        if hi > lo:
            total += (hi - lo).total_seconds()
    return int(total)
