"""PDF rendering with WeasyPrint: print CSS templates, no network, A4 or Letter.

A pick list of a big wave takes seconds to lay out (WeasyPrint's slow case: long multi-page
tables), so ``pick_list_pdf`` keeps every rendered file in the default storage under a hash of
its HTML: the same content is laid out once, whichever web server or worker asks, and a
change to the wave or the template simply makes a new file. ``wave_create`` has a worker
render both paper sizes right after the wave is committed (``tasks.render_pick_lists``).
"""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.template.loader import render_to_string

log = logging.getLogger(__name__)
# WeasyPrint logs every layout step at INFO ("Step 5 - Creating layout - Page 7"): noise in
# server logs and benchmark output. Its warnings (bad CSS, refused URLs) still get through.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

PAPER_SIZES = {"a4": "A4", "letter": "Letter"}
DEFAULT_PAPER = "a4"
CACHE_FOLDER = "fulfillment/pdf"


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


def _html(template: str, context: dict, paper: str) -> str:
    return render_to_string(template, {**context, "page_size": PAPER_SIZES[paper_from(paper)]})


def _layout(html: str):
    from weasyprint import HTML

    return HTML(string=html, base_url=None, url_fetcher=_url_fetcher()).render()


def render_document(template: str, context: dict, *, paper: str = DEFAULT_PAPER):
    """Lay out ``template`` (HTML + print CSS) on ``paper`` (``a4``/``letter``): a WeasyPrint
    ``Document`` whose ``pages`` can be inspected before writing."""
    return _layout(_html(template, context, paper))


def render_pdf(template: str, context: dict, *, paper: str = DEFAULT_PAPER) -> bytes:
    """Render ``template`` to PDF bytes on ``paper`` (``a4``/``letter``)."""
    return render_document(template, context, paper=paper).write_pdf()


def render_pdf_cached(template: str, context: dict, *, paper: str = DEFAULT_PAPER) -> bytes:
    """``render_pdf``, kept in the default storage under the SHA-256 of the HTML."""
    html = _html(template, context, paper)
    key = hashlib.sha256(html.encode()).hexdigest()
    path = f"{CACHE_FOLDER}/{key[:2]}/{key}.pdf"
    try:
        if default_storage.exists(path):
            with default_storage.open(path, "rb") as handle:
                return handle.read()
    except OSError:
        log.warning("cannot read cached PDF %s", path, exc_info=True)
    pdf = _layout(html).write_pdf()
    try:
        default_storage.save(path, ContentFile(pdf))
    except OSError:
        log.warning("cannot store PDF %s", path, exc_info=True)
    return pdf


def pick_list_pdf(*, wave, paper: str = DEFAULT_PAPER) -> bytes:
    """The wave's pick list as PDF (from the storage when this content was rendered before)."""
    from fulfillment.selectors import pick_list

    return render_pdf_cached(
        "fulfillment/pdf/pick_list.html", {"wave": wave, "picks": pick_list(wave)}, paper=paper
    )
