"""Login throttling (issue #11 finding 9): django-axes locks a user name *from one address*.

Reproduces the finding (70 wrong passwords all answered, the right one accepted straight
after) and checks the promises in docs/security.md: the lock is per user name + IP, so a
colleague at the same office IP still logs in; the right password is refused while locked;
the lock lifts after the cool-off (time moved by back-dating the attempt record, no sleeping)
or when an admin unlocks it (admin action or management command).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import SESSION_KEY
from django.core.management import call_command
from django.test import Client as HttpClient
from django.test import RequestFactory

from core.security import client_ip

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
OFFICE_IP = "203.0.113.10"
HOME_IP = "198.51.100.7"
LIMIT = 5


@pytest.fixture(autouse=True)
def _lockout_settings(settings):
    # The documented defaults, pinned so that a changed default shows up here.
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def agents(make_client, make_user):
    shop = make_client("ACME")
    return make_user("alice", clients=[shop]), make_user("bob", clients=[shop])


def attempt(username: str, password: str, ip: str = OFFICE_IP, client: HttpClient | None = None):
    client = client or HttpClient()
    response = client.post(
        f"{LOGIN}?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
    )
    return client, response


def logged_in(client: HttpClient) -> bool:
    return SESSION_KEY in client.session


def lock(username: str, ip: str = OFFICE_IP):
    for _ in range(LIMIT):
        _, response = attempt(username, "wrong", ip)
    return response


def test_wrong_passwords_lock_the_user_name_and_the_right_one_is_refused_meanwhile(agents):
    responses = [attempt("alice", "wrong")[1] for _ in range(70)]

    # Below the limit: the ordinary login form with its error, still answering.
    assert [r.status_code for r in responses[: LIMIT - 1]] == [200] * (LIMIT - 1)
    assert "Please enter the correct username and password" in responses[0].text
    # From the limit on: the lockout page, for every one of the remaining attempts.
    assert {r.status_code for r in responses[LIMIT - 1 :]} == {429}
    assert "Too many failed logins" in responses[-1].text

    client, response = attempt("alice", "pw")
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert not logged_in(client)
    assert AccessFailureLog.objects.filter(username="alice", locked_out=True).exists()


def test_lockout_page_is_in_the_admins_look_and_names_the_lock(agents):
    response = lock("alice")
    assert response.status_code == 429
    templates = [t.name for t in response.templates]
    assert "admin/locked_out.html" in templates
    assert "admin/base_site.html" in templates
    html = response.text
    assert '<div id="site-name"><a href="/admin/">BPO Back-Office</a></div>' in html
    assert "After 5 wrong passwords, logins as\n    <strong>alice</strong>" in html
    assert "for 15 minutes" in html
    assert "Other users can still log in here." in html
    assert '<a href="/admin/login/" id="back-to-login">' in html


def test_a_colleague_at_the_same_office_ip_is_not_locked_out(agents):
    lock("alice")
    client, response = attempt("bob", "pw")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert logged_in(client)


def test_the_same_user_name_from_another_address_is_not_locked(agents):
    # Locking by user name alone would let anyone lock an agent out from anywhere.
    lock("alice", ip=OFFICE_IP)
    client, response = attempt("alice", "pw", ip=HOME_IP)
    assert response.status_code == 302
    assert logged_in(client)
    _, response = attempt("alice", "pw", ip=OFFICE_IP)
    assert response.status_code == 429


def test_the_lock_lifts_after_the_cool_off(agents):
    lock("alice")
    assert attempt("alice", "pw")[1].status_code == 429

    # 14 minutes later (the failed attempt during the lock restarted the wait): still locked.
    AccessAttempt.objects.filter(username="alice").update(
        attempt_time=AccessAttempt.objects.get(username="alice").attempt_time
        - timedelta(minutes=14)
    )
    assert attempt("alice", "pw")[1].status_code == 429

    # More than the cool-off since the last failure: the right password works again.
    past = AccessAttempt.objects.get(username="alice").attempt_time - timedelta(minutes=16)
    AccessAttempt.objects.filter(username="alice").update(attempt_time=past)
    client, response = attempt("alice", "pw")
    assert response.status_code == 302
    assert logged_in(client)
    # A successful login clears the counter (AXES_RESET_ON_SUCCESS).
    assert not AccessAttempt.objects.filter(username="alice").exists()


def test_an_admin_unlocks_a_login_from_the_admin(agents, make_user, admin_user):
    lock("alice")
    lock("bob", ip=HOME_IP)
    alice_lock = AccessAttempt.objects.get(username="alice")

    admin = HttpClient()
    admin.force_login(admin_user)
    changelist = "/admin/axes/accessattempt/"
    page = admin.get(changelist)
    assert page.status_code == 200
    assert "Unlock the selected logins now" in page.text

    response = admin.post(
        changelist,
        {"action": "unlock", "_selected_action": [alice_lock.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Unlocked: alice from {OFFICE_IP}." in [str(m) for m in response.context["messages"]]
    # Only the selected lock went: bob is still locked from his address.
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["bob"]

    client, response = attempt("alice", "pw")
    assert response.status_code == 302
    assert logged_in(client)
    assert attempt("bob", "pw", ip=HOME_IP)[1].status_code == 429


def test_supervisors_cannot_see_or_lift_locks(agents, make_client, make_user):
    from clients.models import Membership

    supervisor = make_user("sue", clients=[make_client("NORD")], role=Membership.Role.SUPERVISOR)
    lock("alice")
    client = HttpClient()
    client.force_login(supervisor)
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    response = client.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock", "_selected_action": [AccessAttempt.objects.get().pk]},
    )
    assert response.status_code == 403
    assert AccessAttempt.objects.count() == 1


def test_the_documented_reset_command_unlocks_a_user(agents):
    lock("alice")
    call_command("axes_reset_username", "alice")
    client, response = attempt("alice", "pw")
    assert response.status_code == 302
    assert logged_in(client)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.1", "6.6.6.6", "10.0.0.1"),  # no proxy: the header is the client's lie
        (1, "10.0.0.1", "6.6.6.6, 203.0.113.10", "203.0.113.10"),  # the proxy's entry
        (2, "10.0.0.1", "6.6.6.6, 203.0.113.10, 10.0.0.2", "203.0.113.10"),
        (1, "10.0.0.1", "", "10.0.0.1"),  # header missing: fall back to the peer
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(
    settings, proxies, remote, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
