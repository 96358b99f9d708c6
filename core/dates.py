"""The one date format of the product and the conversion to a client's time zone.

Every page, export and message shows a moment as ``2026-03-14 09:30`` (or a day as
``2026-03-14``) in the time zone of the client the data belongs to; the template filters in
``core/templatetags/bpo_dates.py`` and the exports call these two functions.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime
from functools import lru_cache

from django.utils import timezone

DATETIME_FORMAT = "%Y-%m-%d %H:%M"
DATE_FORMAT = "%Y-%m-%d"


@lru_cache(maxsize=256)
def zone(name: str | None) -> zoneinfo.ZoneInfo | None:
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def local_datetime(value: datetime | None, tz_name: str | None = None) -> str:
    """``value`` in ``tz_name`` (the client's zone; the site's when none), ``YYYY-MM-DD HH:MM``."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value, zone(tz_name) or timezone.get_current_timezone())
    return value.strftime(DATETIME_FORMAT)


def local_date(value: date | datetime | None, tz_name: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value, zone(tz_name) or timezone.get_current_timezone())
        value = value.date()
    return value.strftime(DATE_FORMAT)
