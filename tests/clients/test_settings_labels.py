"""The client settings page speaks a supervisor's language: labels with units, help texts."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_client_settings_page_has_labels_and_help_a_supervisor_understands(client, make_client):
    acme = make_client("ACME")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    html = client.get(reverse("admin:clients_client_change", args=[acme.pk])).content.decode()
    for text in (
        "Ship within (hours), standard service",
        "Ship within (hours), expedited service",
        "Ship within (hours), overnight service",
        "At risk when due within (hours)",
        "Weight: time to promise (points)",
        "Weight: customer tier (points)",
        "VIP customers get weight × 10 points",
        "Set a weight to 0 to ignore that factor",
        "Promise to ship",
        "Time zone",
    ):
        assert text in html, text
    assert "Sla standard hours" not in html
