"""What a report *is*, independent of how it is shown (#17).

Every backlog report is a function registered here that takes the validated filters and the
requesting user and returns a :class:`Report`: a title, the definitions of its figures, and
sections made of headline figures, an SVG chart and/or a table. The same value is rendered
three ways, so the page, the PDF and the CSV never disagree:

- the admin page (``reports/templates/reports/report.html``),
- the PDF (WeasyPrint, ``reports/rendering`` — branded header, filters, page numbers),
- the CSV (every table of the report, formula-safe like the order export).

Scheduled reports (subscriptions) and background runs (``ReportRun``) look reports up by
their registered ``name``, so a report becomes schedulable by being registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Figure:
    """One headline figure ("Open backlog: 12,345"), with where to see its orders."""

    label: str
    value: str
    hint: str = ""
    url: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    """Rows of plain values; ``links`` (optional) holds one URL per row, or ""."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    links: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Section:
    """A heading with any of: figures, an SVG chart (markup, no script), a table, a note."""

    heading: str
    figures: Sequence[Figure] = ()
    chart_svg: str = ""
    table: Table | None = None
    note: str = ""
    slug: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    sections: Sequence[Section]
    # "Term: how it is computed" lines, printed on the page and in the PDF.
    definitions: Sequence[tuple[str, str]] = ()
    # The filters as the reader should see them ("Client: ACME", "Period: last 28 days").
    filters_text: Sequence[str] = ()
    generated_at: Any = None


ReportBuilder = Callable[..., Report]


@dataclass(frozen=True, slots=True)
class ReportDefinition:
    name: str
    title: str
    build: ReportBuilder
    description: str = ""
    schedulable: bool = True
    order: int = 100
    extra: dict = field(default_factory=dict)


REPORTS: dict[str, ReportDefinition] = {}


def register(name: str, *, title: str, description: str = "", order: int = 100, **extra):
    """Decorator: ``@register("backlog", title="Backlog")`` on ``build(*, filters, user)``."""

    def wrap(build: ReportBuilder) -> ReportBuilder:
        if name in REPORTS and REPORTS[name].build is not build:
            raise ValueError(f"report {name!r} is registered twice")
        REPORTS[name] = ReportDefinition(
            name=name, title=title, build=build, description=description, order=order, extra=extra
        )
        return build

    return wrap


def report_definitions() -> list[ReportDefinition]:
    return sorted(REPORTS.values(), key=lambda d: (d.order, d.title))


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """The filters every report accepts, already validated and scoped.

    ``client_ids`` is never empty: it is the user's visible clients, narrowed by the client
    filter (``clients.scoping``). The period is ``[date_from, date_to]`` in the clients' local
    dates; ``None`` fields mean "any". Built by the django-filter form of the report pages
    (``reports/filters.py``) and stored as ``as_dict()`` on scheduled reports and report runs.
    """

    client_ids: tuple[int, ...]
    date_from: Any = None  # datetime.date
    date_to: Any = None  # datetime.date
    warehouse_id: int | None = None
    carrier_id: int | None = None
    service_level: str = ""

    def as_dict(self) -> dict:
        return {
            "client_ids": list(self.client_ids),
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "warehouse_id": self.warehouse_id,
            "carrier_id": self.carrier_id,
            "service_level": self.service_level,
        }
