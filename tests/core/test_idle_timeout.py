"""Idle session timeout for shared workstations (issue #11 finding 10), through the test client.

Time is moved by back-dating the last-activity stamp the middleware keeps in the session, never
by sleeping. The browser test (tests/e2e/test_csp.py) covers the same redirect in Chromium.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client as HttpClient

from core.middleware import LAST_ACTIVITY_KEY

pytestmark = pytest.mark.django_db

QUEUE = "/admin/orders/order/"


@pytest.fixture
def agent_client(make_client, make_user):
    client = HttpClient()
    client.force_login(make_user("alice", clients=[make_client("ACME")]))
    assert client.get("/admin/").status_code == 200  # the first request stamps the session
    return client


def idle_for(client: HttpClient, minutes: float) -> int:
    """Pretend the user's last request was ``minutes`` ago; returns the stamp written."""
    session = client.session
    stamp = int(time.time() - minutes * 60)
    session[LAST_ACTIVITY_KEY] = stamp
    session.save()
    return stamp


def test_the_default_timeout_is_thirty_minutes(settings):
    assert timedelta(minutes=30) == settings.SESSION_IDLE_TIMEOUT
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True


def test_a_request_stamps_the_session(agent_client):
    stamp = agent_client.session[LAST_ACTIVITY_KEY]
    assert abs(stamp - time.time()) < 5


def test_after_thirty_idle_minutes_the_next_request_goes_to_the_login_page(agent_client):
    idle_for(agent_client, 31)
    response = agent_client.get(QUEUE)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={QUEUE}"
    assert SESSION_KEY not in agent_client.session

    login_page = agent_client.get(response["Location"])
    assert "You were logged out after 30 minutes without activity. Please log in again." in [
        str(m) for m in login_page.context["messages"]
    ]
    # Logged out for good: the stale session is gone, not just this one request refused.
    assert agent_client.get("/admin/").status_code == 302


def test_activity_within_the_timeout_keeps_the_session_and_moves_the_stamp(agent_client):
    old = idle_for(agent_client, 29)
    assert agent_client.get(QUEUE).status_code == 200
    assert SESSION_KEY in agent_client.session
    assert agent_client.session[LAST_ACTIVITY_KEY] > old + 28 * 60


def test_background_polling_does_not_count_as_activity(agent_client):
    old = idle_for(agent_client, 29)
    response = agent_client.get("/admin/", headers={"X-Background-Request": "1"})
    assert response.status_code == 200
    assert agent_client.session[LAST_ACTIVITY_KEY] == old

    idle_for(agent_client, 31)
    response = agent_client.get("/admin/", headers={"X-Background-Request": "1"})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_stamp_is_written_at_most_once_a_minute(agent_client):
    # Not a session write on every request (what SESSION_SAVE_EVERY_REQUEST would do).
    old = idle_for(agent_client, 0.5)
    agent_client.get("/admin/")
    assert agent_client.session[LAST_ACTIVITY_KEY] == old


def test_the_timeout_is_configurable(agent_client, settings):
    settings.SESSION_IDLE_TIMEOUT = timedelta(minutes=5)
    idle_for(agent_client, 6)
    response = agent_client.get(QUEUE)
    assert response.status_code == 302
    login_page = agent_client.get(response["Location"])
    assert "You were logged out after 5 minutes without activity. Please log in again." in [
        str(m) for m in login_page.context["messages"]
    ]


def test_anonymous_requests_are_left_alone(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert LAST_ACTIVITY_KEY not in client.session
