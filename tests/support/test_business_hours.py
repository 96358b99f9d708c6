"""Business-hours arithmetic: weekends, holidays, time zones, DST changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from support.business_hours import (
    Calendar,
    CalendarError,
    add_business_seconds,
    business_seconds_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600


def cal(tz=BERLIN, **kw):
    return Calendar(tz=tz, **kw)


def local(y, m, d, hh, mm=0, tz=BERLIN):
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def test_within_one_day():
    start = local(2026, 12, 1, 10)  # a Tuesday
    assert add_business_seconds(start, 2 * H, cal()) == local(2026, 12, 1, 12)


def test_rolls_over_the_night_into_the_next_morning():
    start = local(2026, 12, 1, 16)
    assert add_business_seconds(start, 2 * H, cal()) == local(2026, 12, 2, 10)


def test_skips_the_weekend():
    friday_4pm = local(2026, 12, 4, 16)
    assert add_business_seconds(friday_4pm, 2 * H, cal()) == local(2026, 12, 7, 10)


def test_started_outside_hours_counts_from_the_next_opening():
    saturday = local(2026, 12, 5, 11)
    assert add_business_seconds(saturday, 0, cal()) == local(2026, 12, 7, 9)
    assert add_business_seconds(local(2026, 12, 1, 6), H, cal()) == local(2026, 12, 1, 10)


def test_skips_holidays():
    c = cal(holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}))
    wednesday_eve = local(2026, 12, 23, 16)
    assert add_business_seconds(wednesday_eve, 2 * H, c) == local(2026, 12, 28, 10)


def test_client_time_zone_decides_the_window():
    tokyo = ZoneInfo("Asia/Tokyo")
    # 00:30 UTC on a Tuesday is 09:30 in Tokyo: working time there.
    start = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    due = add_business_seconds(start, H, cal(tz=tokyo))
    assert due == datetime(2026, 12, 1, 10, 30, tzinfo=tokyo)
    # the same moment in Berlin is 01:30 at night: the clock starts at 09:00 Berlin
    assert add_business_seconds(start, H, cal()) == local(2026, 12, 1, 10)


def test_dst_spring_forward_keeps_a_full_working_day():
    # 2026-03-29 is a Sunday (clocks go forward); Friday 27 → Monday 30 crosses it.
    friday = local(2026, 3, 27, 16)
    due = add_business_seconds(friday, 2 * H, cal())
    assert due == local(2026, 3, 30, 10)
    assert due.astimezone(UTC).hour == 8  # CEST now: UTC+2
    assert business_seconds_between(friday, due, cal()) == 2 * H


def test_dst_on_a_working_day_counts_wall_clock_hours():
    # New York changes on Sunday 2026-03-08; a 7-day calendar puts the change in a work day.
    ny = ZoneInfo("America/New_York")
    week = {d: (time(0), time(23, 59)) for d in range(7)}
    c = Calendar(tz=ny, week=week)
    start = datetime(2026, 3, 8, 0, 0, tzinfo=ny)
    end = datetime(2026, 3, 8, 5, 0, tzinfo=ny)
    # 00:00 → 05:00 local on the change day is only four real hours
    assert business_seconds_between(start, end, c) == 4 * H
    assert add_business_seconds(start, 4 * H, c) == end


def test_between_counts_only_working_time():
    c = cal()
    assert business_seconds_between(local(2026, 12, 4, 16), local(2026, 12, 7, 10), c) == 2 * H
    assert business_seconds_between(local(2026, 12, 7, 10), local(2026, 12, 4, 16), c) == 0
    full_week = business_seconds_between(local(2026, 11, 30, 0), local(2026, 12, 7, 0), c)
    assert full_week == 5 * 8 * H


def test_add_and_between_are_inverse():
    c = cal(holidays=frozenset({date(2026, 12, 8)}))
    start = local(2026, 12, 3, 13, 17)
    for hours in (0.5, 3, 8, 17, 40, 100):
        due = add_business_seconds(start, hours * H, c)
        assert business_seconds_between(start, due, c) == int(hours * H)


def test_from_settings_and_refusals():
    c = Calendar.from_settings(
        tz="Europe/Berlin", week={"0": ["08:00", "12:00"]}, holidays=["2026-12-07"]
    )
    # only Monday mornings, and Monday 7th is a holiday: Monday 14th
    assert add_business_seconds(local(2026, 12, 1, 9), H, c) == local(2026, 12, 14, 9)
    with pytest.raises(CalendarError):
        Calendar.from_settings(tz="UTC", week={"0": None})
    with pytest.raises(CalendarError):
        Calendar.from_settings(tz="UTC", week={"0": ["17:00", "09:00"]})
    with pytest.raises(ValueError):
        add_business_seconds(datetime(2026, 12, 1, 9), H, c)


def test_pause_and_resume_arithmetic():
    """Paused Friday 15:00 → Monday 11:00 is 2 h + 2 h = 4 business hours on hold."""
    c = cal()
    assert business_seconds_between(local(2026, 12, 4, 15), local(2026, 12, 7, 11), c) == 4 * H
    assert timedelta(seconds=4 * H) == timedelta(hours=4)
