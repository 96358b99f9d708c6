"""The one sandboxed renderer for templates that users edit (customer notifications now,
ticket replies later).

- A dedicated :class:`django.template.Engine`: no loaders, no libraries, no context
  processors, and as builtins only Django's default filters and harmless default tags
  (``support/sandbox_library.py``) — not the project's TEMPLATES setting.
- The context holds plain values only, frozen: dicts become read-only mappings and lists
  tuples, so a template can neither reach a model (``{{ order.customer.delete }}``), a
  setting (``{{ settings.SECRET_KEY }}``), nor call a mutating method (``{{ lines.clear }}``).
  Unknown names render as nothing.
- A template that does not compile raises :class:`TemplateRefused` with the line and the
  error, so the admin can refuse it before it is saved.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

from django.template import Context, Engine, TemplateSyntaxError

MAX_TEMPLATE_CHARS = 50_000

_PLAIN = (float, datetime.date, datetime.datetime, datetime.time)


def _engine(*, autoescape: bool) -> Engine:
    engine = Engine(
        dirs=[],
        app_dirs=False,
        loaders=[("django.template.loaders.locmem.Loader", {})],
        libraries={},
        debug=True,  # compile errors carry their line (template_debug)
        autoescape=autoescape,
        string_if_invalid="",
    )
    # Replace the default builtins (defaulttags, defaultfilters, loader_tags) by the vetted set.
    engine.builtins = ["support.sandbox_library"]
    engine.template_builtins = engine.get_template_builtins(engine.builtins)
    return engine


HTML_ENGINE = _engine(autoescape=True)
TEXT_ENGINE = _engine(autoescape=False)


class TemplateRefused(ValueError):
    """A template that does not compile (or is too long): ``line`` and ``error`` say why."""

    def __init__(self, error: str, line: int | None = None, part: str = "") -> None:
        self.error, self.line, self.part = error, line, part
        where = f" line {line}" if line else ""
        prefix = f"{part}:" if part else ""
        super().__init__(f"{prefix}{where} {error}".strip())


def freeze(value):
    """A read-only copy made of plain values; anything else becomes its string form.

    Numbers become text too (their template output is the same, without the per-value
    localisation lookup, which costs more than the rest of a small template)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(freeze(v) for v in value)
    return str(value)


def compile_template(source: str, *, html: bool, part: str = ""):
    """Compile ``source`` in the sandbox, or raise :class:`TemplateRefused`."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateRefused(f"longer than {MAX_TEMPLATE_CHARS:,} characters.", part=part)
    engine = HTML_ENGINE if html else TEXT_ENGINE
    try:
        return engine.from_string(source)
    except TemplateSyntaxError as exc:
        debug = getattr(exc, "template_debug", None) or {}
        raise TemplateRefused(str(exc), debug.get("line"), part) from None


def render(template, context: Mapping) -> str:
    """Render a compiled sandbox template with a frozen context (see :func:`freeze`)."""
    frozen = context if isinstance(context, MappingProxyType) else freeze(context)
    return template.render(Context(dict(frozen), autoescape=template.engine.autoescape))


def render_string(source: str, context: Mapping, *, html: bool) -> str:
    return render(compile_template(source, html=html), context)
