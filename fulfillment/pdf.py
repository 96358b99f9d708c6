"""PDF rendering with WeasyPrint: print CSS templates, no network, A4 or Letter."""

from __future__ import annotations

from django.template.loader import render_to_string

PAPER_SIZES = {"a4": "A4", "letter": "Letter"}
DEFAULT_PAPER = "a4"


def paper_from(value: str | None) -> str:
    """``a4`` or ``letter`` from a query parameter; anything else means the default (A4)."""
    value = (value or "").strip().lower()
    return value if value in PAPER_SIZES else DEFAULT_PAPER


def _url_fetcher():
    # Templates are ours, but they contain user data (names, addresses, SKUs): never let a
    # crafted value make the renderer fetch a URL or read a local file. Only inline data:
    # URIs are allowed, with no redirects and a short timeout.
    from weasyprint import URLFetcher

    return URLFetcher(allowed_protocols=("data",), allow_redirects=False, timeout=2)


def render_document(template: str, context: dict, *, paper: str = DEFAULT_PAPER):
    """Lay out ``template`` (HTML + print CSS) on ``paper`` (``a4``/``letter``): a WeasyPrint
    ``Document`` whose ``pages`` can be inspected before writing."""
    from weasyprint import HTML

    html = render_to_string(template, {**context, "page_size": PAPER_SIZES[paper_from(paper)]})
    return HTML(string=html, base_url=None, url_fetcher=_url_fetcher()).render()


def render_pdf(template: str, context: dict, *, paper: str = DEFAULT_PAPER) -> bytes:
    """Render ``template`` to PDF bytes on ``paper`` (``a4``/``letter``)."""
    return render_document(template, context, paper=paper).write_pdf()
