"""Cells safe to open in a spreadsheet: the one formula neutraliser of every export."""

from __future__ import annotations

# A cell starting with one of these is run as a formula by Excel/LibreOffice/Sheets
# (CSV/formula injection). django-import-export does not neutralise them by default.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value):
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
