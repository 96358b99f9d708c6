"""Browser tests: pytest-playwright driving Debian's Chromium against pytest-django's live_server.

- Playwright's own browser download is not used: ``browser_type_launch_args`` points it at the
  system Chromium. Without Chromium the browser tests are skipped with a message, unless
  ``REQUIRE_BROWSER=1`` (CI), where a missing browser fails every browser test.
- Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a
  thread with a running loop unless told otherwise (tests only, never in settings).
- ``live_server`` flushes every table after each test: the ``page`` fixture waits for the
  browser to finish loading before the test's teardown starts flushing.
"""

from __future__ import annotations

import os
import shutil
from io import StringIO

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM = (
    SYSTEM_CHROMIUM
    if os.access(SYSTEM_CHROMIUM, os.X_OK)
    else shutil.which("chromium") or shutil.which("chromium-browser")
)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Playwright's default is 30 s per action; a page of this admin renders in well under one.
TIMEOUT_MS = 15_000


@pytest.fixture(scope="session", autouse=True)
def _chromium_available() -> str:
    """Skip (or, with REQUIRE_BROWSER=1, fail) the browser tests when Chromium is missing.

    Session-scoped and autouse, so it runs before pytest-playwright tries to launch anything.
    """
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"REQUIRE_BROWSER=1 but Chromium is not installed (looked for {SYSTEM_CHROMIUM} "
            "and `chromium` on PATH). Install it: apt-get install -y chromium",
            pytrace=False,
        )
    pytest.skip(
        f"browser tests need Chromium ({SYSTEM_CHROMIUM} or `chromium` on PATH); "
        "install it with `apt-get install -y chromium` (set REQUIRE_BROWSER=1 to fail instead)"
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, _chromium_available) -> dict:
    """pytest-playwright's launch options, pointed at the system Chromium."""
    return {
        **browser_type_launch_args,
        "executable_path": _chromium_available,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def page(page):
    """pytest-playwright's page, with a shorter timeout and a settled end.

    Waiting for the last navigation before teardown matters: the live server must not be
    answering a request while pytest-django flushes the tables behind it.
    """
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    yield page
    page.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")


@pytest.fixture
def seed_demo(transactional_db):
    """Run the real ``seed_demo`` command: ``seed_demo(orders=30)`` orders per client.

    The command refuses to run without DEBUG (it creates well-known passwords), so it runs
    under ``override_settings(DEBUG=True)``; the demo users get the fast test hasher.
    """
    from django.core.management import call_command
    from django.test import override_settings

    def seed(orders: int = 30) -> str:
        out = StringIO()
        with override_settings(DEBUG=True):
            call_command("seed_demo", "--orders", str(orders), stdout=out)
        return out.getvalue()

    return seed


@pytest.fixture
def admin_login(page, live_server):
    """Log in at /admin/login/ through the form, like a person, and wait for the index."""
    from playwright.sync_api import expect

    def login(username: str, password: str):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.locator("#login-form [type=submit]").click()
        page.wait_for_url(f"{live_server.url}/admin/")
        page.wait_for_load_state("load")
        expect(page.locator("#site-name")).to_contain_text("BPO Back-Office")
        return page

    return login
