"""Content-Security-Policy, Permissions-Policy and framing headers (issue #11 finding 10).

With the test client: the headers on every kind of response, a nonce that reaches the page,
and — for every admin page each demo role can open (tests/admin_pages.py walks the admin
registry) — HTML with no inline script, style attribute, <style> block or event handler that
the policy would block. The browser test (tests/e2e/test_csp.py) checks the same pages in
Chromium's own CSP engine. A source scan keeps new templates clean as well.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path

import pytest
from csp.middleware import CSPMiddleware
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.http import HttpResponse
from django.template import engines
from django.test import RequestFactory, override_settings

from tests.admin_pages import admin_pages

REPO = Path(__file__).resolve().parents[2]


def directives(header: str) -> dict[str, list[str]]:
    parsed = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


class InlineFinder(HTMLParser):
    """Collects what a CSP without 'unsafe-inline' blocks: inline scripts/styles, handlers."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs)}>"[:160]
        data_block = values.get("type") in ("application/json", "text/template")
        if tag == "script" and "src" not in values and "nonce" not in values and not data_block:
            self.found.append(f"inline script {where}")
        if tag == "style" and "nonce" not in values:
            self.found.append(f"<style> block {where}")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style attribute {where}")
            elif name.startswith("on"):
                self.found.append(f"event handler {name} {where}")
            elif name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"javascript: URL {where}")


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


# -- the headers ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_page_sends_the_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no nonce used on this page, none offered
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["base-uri"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_permissions_policy_switches_off_unused_features(client):
    response = client.get("/admin/login/")
    features = dict(
        item.strip().split("=", 1) for item in response["Permissions-Policy"].split(",")
    )
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "display-capture"):
        assert features[feature] == "()", feature


@pytest.mark.django_db
def test_every_kind_of_response_carries_the_headers(client, admin_user):
    client.force_login(admin_user)
    for path, status in (
        ("/admin/", 200),
        ("/admin/orders/order/", 200),
        ("/admin/orders/order/999999/change/", 404),  # another client's or a missing order
        ("/admin/no-such-page/", 404),
        ("/", 302),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"], path
        assert "camera=()" in response["Permissions-Policy"], path


def test_a_nonced_inline_script_is_allowed_by_the_header_of_its_own_response():
    """The one sanctioned way to inline: ``nonce="{{ request.csp_nonce }}"``."""
    template = engines["django"].from_string(
        '<script nonce="{{ request.csp_nonce }}">window.ok = 1;</script>'
    )
    request = RequestFactory().get("/")
    middleware = CSPMiddleware(lambda r: HttpResponse(template.render({}, r)))
    response = middleware(request)
    nonce = re.search(r'nonce="([^"]+)"', response.content.decode()).group(1)
    assert len(nonce) >= 16
    policy = directives(response["Content-Security-Policy"])
    assert f"'nonce-{nonce}'" in policy["script-src"]
    # A second request gets a different nonce: it cannot be replayed.
    again = middleware(RequestFactory().get("/"))
    assert f"'nonce-{nonce}'" not in again["Content-Security-Policy"]


# -- the pages ------------------------------------------------------------------------------------


@pytest.fixture
def demo_data(db, settings):
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--orders", "25", stdout=StringIO())


@pytest.mark.parametrize("username", ["admin", "supervisor", "agent"])
def test_every_admin_page_has_no_inline_code(demo_data, client, username):
    user = get_user_model().objects.get(username=username)
    client.force_login(user)
    pages = admin_pages(user)
    assert {"index", "orders_order list", "orders_order change"} <= pages.keys()
    checked, problems = [], {}
    for label, path in pages.items():
        response = client.get(path)
        # 403: a custom page whose view refuses this role (e.g. stock receipt for an agent).
        assert response.status_code in (200, 302, 403), f"{label} {path}: {response.status_code}"
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"], path
        if response["Content-Type"].startswith("text/html"):
            checked.append(label)
            found = inline_code(response.content.decode())
            if found:
                problems[f"{label} {path}"] = found
    assert problems == {}
    if username == "supervisor":
        assert {
            "orders_importjob_upload",
            "inventory_stocklevel list",
            "inventory_stocklevel_receive",
            "fulfillment_pickwave list",
            "fulfillment_shipment list",
            "fulfillment_trackingevent_upload",
            "orders_order_export",
        } <= set(checked)


def test_the_inline_finder_finds_what_the_policy_blocks():
    html = (
        '<script>alert(1)</script><script src="/static/a.js"></script>'
        '<script type="application/json">{}</script><style>p{}</style>'
        '<p style="color:red" onclick="x()"></p><a href="javascript:x()">x</a>'
        '<script nonce="abc">ok()</script>'
    )
    found = inline_code(html)
    assert [f.split(" <")[0] for f in found] == [
        "inline script",
        "<style> block",
        "style attribute",
        "event handler onclick",
        "javascript: URL",
    ]


# -- the sources ----------------------------------------------------------------------------------

# Rendered by WeasyPrint into PDFs or sent as e-mail: never served to a browser as a page.
NOT_BROWSER_PAGES = ("/pdf/", "/email/", "/emails/", "/mail/")


def page_templates() -> list[Path]:
    roots = [REPO / "templates", *REPO.glob("*/templates")]
    return sorted(
        path
        for root in roots
        for path in root.rglob("*.html")
        if not any(part in f"/{path.relative_to(REPO).as_posix()}" for part in NOT_BROWSER_PAGES)
    )


def test_no_page_template_has_inline_code():
    templates = page_templates()
    assert len(templates) > 15
    problems = {}
    for path in templates:
        # Template tags are not HTML: blank them (keeps {% ... %} out of attribute parsing).
        source = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", "", path.read_text("utf-8"), flags=re.S)
        found = inline_code(source)
        if found:
            problems[str(path.relative_to(REPO))] = found
    assert problems == {}
