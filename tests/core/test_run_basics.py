"""The small things of running the product: one log line per message, a 403 page in the
admin's look, a favicon."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from clients.models import Membership


def test_a_django_log_line_is_printed_once():
    """In a fresh process with the real settings (pytest replaces the handlers)."""
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.security.x').warning('one-line-please'); "
        "logging.getLogger('orders').warning('one-line-please')"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bpo_backoffice.settings", "DEBUG": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).count("one-line-please") == 2


@pytest.mark.django_db
def test_403_page_is_in_the_admins_look(client, make_client, make_user):
    acme = make_client("ACME")
    client.force_login(make_user(clients=[acme], role=Membership.Role.AGENT))
    response = client.get(reverse("admin:orders_importjob_upload"))
    assert response.status_code == 403
    html = response.content.decode()
    assert '<div id="site-name">' in html
    assert "You may not do this" in html
    assert "bpo/admin.css" in html


@pytest.mark.django_db
def test_favicon_is_linked_and_favicon_ico_is_not_a_404(client):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    assert 'rel="icon" href="/static/bpo/favicon.svg"' in client.get("/admin/").content.decode()
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (302, "/static/bpo/favicon.svg")
