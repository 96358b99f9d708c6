"""The three demo users log in through the real login form and land on the branded admin.

Most tests build the demo users from seed_demo's own table (``DEMO_USERS``: same usernames,
passwords, roles and clients) with the services seed_demo uses, which takes a fraction of a
second; one test runs the real ``seed_demo`` command end to end.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from clients.models import Client
from clients.services import membership_set
from orders.management.commands.seed_demo import CLIENTS, DEMO_USERS
from orders.models import Order

pytestmark = pytest.mark.e2e

PASSWORDS = {username: password for username, password, _role, _codes in DEMO_USERS}


@pytest.fixture
def demo(make_warehouse, make_product, make_customer, make_order):
    """seed_demo's clients and users, and two open orders per client."""
    warehouse = make_warehouse("EAST")
    clients = {}
    for code, name, tz, currency in CLIENTS:
        client = Client.objects.create(code=code, name=name, timezone=tz, currency=currency)
        clients[code] = client
        product = make_product(client, f"{code}-0001", stock={warehouse: 50})
        customer = make_customer(client)
        for n in (1, 2):
            make_order(client, [(product, 1)], customer=customer, number=f"{code}-10000{n}")
    User = get_user_model()
    for username, password, role, codes in DEMO_USERS:
        if role == "superuser":
            User.objects.create_superuser(username, f"{username}@example.com", password)
            continue
        user = User.objects.create_user(username, f"{username}@example.com", password)
        for code in codes:
            membership_set(user=user, client=clients[code], role=role)
    return clients


def _model_links(page) -> set[str]:
    """The admin URLs of the models listed on the index page."""
    hrefs = page.locator("#content-main table th[scope=row] a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    return set(hrefs)


def test_superuser_logs_in_and_sees_every_model(demo, admin_login):
    page = admin_login("admin", PASSWORDS["admin"])
    expect(page).to_have_title(re.compile(r"\| BPO Back-Office$"))
    links = _model_links(page)
    assert {
        "/admin/orders/order/",
        "/admin/clients/client/",
        "/admin/clients/membership/",
        "/admin/auth/user/",
    } <= links


def test_supervisor_logs_in_and_works_but_does_not_administer(demo, admin_login):
    page = admin_login("supervisor", PASSWORDS["supervisor"])
    links = _model_links(page)
    assert {"/admin/orders/order/", "/admin/inventory/stocklevel/"} <= links
    assert "/admin/clients/membership/" not in links
    assert "/admin/auth/user/" not in links


def test_agent_logs_in_and_sees_only_acme_orders(demo, admin_login, live_server):
    page = admin_login("agent", PASSWORDS["agent"])
    links = _model_links(page)
    assert "/admin/orders/order/" in links
    assert "/admin/clients/membership/" not in links

    page.locator('#content-main th[scope=row] a[href="/admin/orders/order/"]').click()
    page.wait_for_url(f"{live_server.url}/admin/orders/order/**")
    numbers = page.locator("#result_list tbody .field-number").all_inner_texts()
    assert sorted(numbers) == ["ACME-100001", "ACME-100002"]
    content = page.content()
    assert "NORD-" not in content
    assert "KIWI-" not in content


def test_wrong_password_stays_on_the_login_page(demo, page, live_server):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", "not-the-password")
    page.locator("#login-form [type=submit]").click()
    page.wait_for_load_state("load")
    expect(page.locator(".errornote")).to_be_visible()
    assert page.url.startswith(f"{live_server.url}/admin/login/")


def test_demo_users_created_by_seed_demo_log_in(seed_demo, admin_login, page, live_server):
    """End to end with the data `make run` creates (fewer orders, same users)."""
    seed_demo(orders=20)
    acme_numbers = set(Order.objects.filter(client__code="ACME").values_list("number", flat=True))

    for username in ("admin", "supervisor", "agent"):
        page.context.clear_cookies()
        admin_login(username, PASSWORDS[username])
        expect(page.locator("#user-tools")).to_contain_text(username)

    # Still logged in as the agent: the order queue holds ACME orders and nothing else.
    page.goto(f"{live_server.url}/admin/orders/order/?queue=all")
    numbers = page.locator("#result_list tbody .field-number").all_inner_texts()
    assert numbers
    assert set(numbers) <= acme_numbers
    content = page.content()
    assert "NORD-" not in content
    assert "KIWI-" not in content
