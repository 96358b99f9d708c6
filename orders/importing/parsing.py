"""Turning cell text into values, with messages a supervisor can act on."""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone

_SHOPIFY_DT = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?\s*([+-]\d{2}:?\d{2}|Z|UTC)?$"
)


class CellError(ValueError):
    pass


def parse_datetime(value: str, tz_name: str) -> datetime:
    """``2024-03-05 14:12:44 -0500`` (Shopify), ISO 8601, or a naive time in the client's zone."""
    text = value.strip()
    match = _SHOPIFY_DT.match(text)
    if not match:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise CellError(
                f"'{value}' is not a date and time (use 2024-03-05 14:12:44 -0500 or ISO 8601)."
            ) from None
    else:
        date_part, time_part, offset = match.groups()
        if len(time_part) == 5:
            time_part += ":00"
        if offset in (None, ""):
            iso = f"{date_part}T{time_part}"
        elif offset in ("Z", "UTC"):
            iso = f"{date_part}T{time_part}+00:00"
        else:
            offset = offset.replace(":", "")
            iso = f"{date_part}T{time_part}{offset[:3]}:{offset[3:]}"
        try:
            parsed = datetime.fromisoformat(iso)
        except ValueError:
            raise CellError(f"'{value}' is not a valid date and time.") from None
    if not 1990 <= parsed.year <= 2100:
        raise CellError(f"'{value}' is not a plausible order date.")
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=zoneinfo.ZoneInfo(tz_name))
    return parsed


_QUANTITY = re.compile(r"[+-]?\d+(\.0+)?")


def parse_quantity(value: str) -> int:
    text = value.strip()
    if not text:
        raise CellError("The quantity is missing.")
    if text.isascii() and text.isdigit() and len(text) <= 20:  # the usual case
        qty = int(text)
        if 0 < qty <= 1_000_000:
            return qty
    if len(text) <= 20 and _QUANTITY.fullmatch(text):
        qty = int(Decimal(text))
        if qty <= 0:
            raise CellError(f"The quantity must be above zero (got {text}).")
        if qty > 1_000_000:
            raise CellError(f"The quantity {text} is not plausible.")
        return qty
    raise CellError(f"The quantity must be a whole number (got '{text}').")


_CENT = Decimal("0.01")
_MONEY_MAX = Decimal("10000000000")


def parse_money(value: str, *, decimal_comma: bool = False, default: str = "0") -> Decimal:
    text = value.strip().replace(" ", "")
    if not text:
        return Decimal(default)
    whole, dot, cents = text.partition(".")
    if (
        whole.isascii()
        and whole.isdigit()
        and len(whole) <= 10
        and (not dot or (len(cents) == 2 and cents.isascii() and cents.isdigit()))
        and not decimal_comma
    ):  # the usual case, "12.34" or "12": plain digits, in range, cents as given
        return Decimal(text) if dot else Decimal(text).quantize(_CENT)
    if decimal_comma and "," in text:
        text = text.replace(".", "").replace(",", ".")  # 1.234,50 → 1234.50
    elif "," in text and "." in text:
        text = text.replace(",", "")  # thousands separators: 1,234.50
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise CellError(f"'{value}' is not an amount of money.") from None
    if not amount.is_finite():
        raise CellError(f"'{value}' is not an amount of money.")
    if amount < 0:
        raise CellError(f"The amount cannot be negative (got {value}).")
    if amount >= _MONEY_MAX or (amount := amount.quantize(_CENT)) >= _MONEY_MAX:
        raise CellError(f"The amount {value} is too large.")
    return amount


def strip_apostrophe(value: str) -> str:
    """Shopify writes all-digit postcodes and some phones as '02134 so Excel keeps zeros."""
    return value[1:] if value.startswith("'") else value


def service_level_from_shipping_method(method: str) -> str:
    text = method.lower()
    if any(w in text for w in ("overnight", "next day", "next-day", "1 day", "1-day", "same day")):
        return "overnight"
    if any(w in text for w in ("express", "expedited", "priority", "2 day", "2-day", "rush")):
        return "expedited"
    return "standard"
