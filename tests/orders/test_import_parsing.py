"""Cell parsing of the order import: quantities and amounts, the common shapes (fast paths)
and the unusual ones give the same values, and every bad cell a clear message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.importing.parsing import CellError, parse_money, parse_quantity


@pytest.mark.parametrize(
    "text, expected",
    [("3", 3), (" 12 ", 12), ("+4", 4), ("2.0", 2), ("007", 7), ("1000000", 1_000_000)],
)
def test_quantities(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "missing"),
        ("0", "above zero"),
        ("-2", "above zero"),
        ("1.5", "whole number"),
        ("1000001", "not plausible"),
        ("two", "whole number"),
    ],
)
def test_bad_quantities(text, message):
    with pytest.raises(CellError, match=message):
        parse_quantity(text)


@pytest.mark.parametrize(
    "text, decimal_comma, expected",
    [
        ("12.34", False, "12.34"),
        ("12", False, "12.00"),
        ("12.3", False, "12.30"),
        ("0.126", False, "0.13"),
        ("1,234.50", False, "1234.50"),
        ("1 234.50", False, "1234.50"),
        ("", False, "0"),
        ("9999999999.99", False, "9999999999.99"),
        ("12,34", True, "12.34"),
        ("1.234,50", True, "1234.50"),
        ("12.34", True, "12.34"),
    ],
)
def test_amounts(text, decimal_comma, expected):
    value = parse_money(text, decimal_comma=decimal_comma)
    assert value == Decimal(expected)
    assert str(value) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("-1.00", "negative"),
        ("10000000000", "too large"),
        ("12.3.4", "not an amount"),
        ("NaN", "not an amount"),
        ("abc", "not an amount"),
    ],
)
def test_bad_amounts(text, message):
    with pytest.raises(CellError, match=message):
        parse_money(text)
