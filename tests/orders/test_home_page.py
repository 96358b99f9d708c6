"""The admin home page (issue #18): the agent lands on their work — take-next, their orders,
the work queues' counts, what is due today, notes mentioning them — and other apps can add
panels through ``core.signals.home_page_panels``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.signals import home_page_panels
from orders import admin_home, services
from orders.models import Order
from tests.factories import Shop

pytestmark = pytest.mark.django_db

INDEX = "admin:index"


@pytest.fixture
def shop(make_shop) -> Shop:
    return make_shop(
        products={
            "lamp": ("acme", "A-LAMP", 1000),
            "rare": ("acme", "A-RARE", 0),
            "nord_lamp": ("nord", "N-LAMP", 1000),
            "nord_rare": ("nord", "N-RARE", 0),
        },
        users=("agent", "colleague", "nord_agent"),
    )


def counts(html: str) -> dict[str, str]:
    return dict(
        re.findall(
            r'data-queue="(\w+)"><td><a [^>]*>[^<]*</a></td><td class="bpo-count">([^<]*)<', html
        )
    )


def test_home_page_shows_the_agents_work_and_counts(client, shop, make_order):
    now = timezone.now()
    mine = make_order(shop.acme, [(shop.lamp, 1)], number="A-MINE")
    services.order_assign(order=mine, agent=shop.agent)
    make_order(shop.acme, [(shop.rare, 1)], number="A-BACK")  # backordered, unassigned
    make_order(shop.acme, [(shop.lamp, 1)], number="A-TODAY", ship_by=now + timedelta(minutes=5))
    services.order_hold(
        order=make_order(shop.acme, [(shop.lamp, 1)], number="A-HELD"), reason="payment"
    )
    # NORD's orders match the same queues and must not be counted for the ACME agent.
    make_order(shop.nord, [(shop.nord_rare, 1)], number="N-BACK")
    make_order(shop.nord, [(shop.nord_lamp, 1)], number="N-TODAY", ship_by=now)
    client.force_login(shop.agent)
    response = client.get(reverse(INDEX))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="take-next"' in html and reverse("admin:orders_order_add") in html
    found = counts(html)
    assert found["mine"] == "1"
    assert found["backordered"] == "1"
    assert found["on_hold"] == "1"
    assert found["unassigned"] == "3"  # A-BACK, A-TODAY, A-HELD (the queue's own definition)
    assert found["exceptions"] == "0"
    # today: A-TODAY (and others only if their promise falls today)
    assert "A-TODAY" in html.split('id="due-today"')[1]
    assert "N-TODAY" not in html and "N-BACK" not in html
    assert "A-MINE" in html.split('id="my-orders"')[1].split("</table>")[0]


def test_counts_are_bounded(client, shop, make_order, monkeypatch):
    for n in range(4):
        make_order(shop.acme, [(shop.rare, 1)], number=f"A-B{n}")
    monkeypatch.setattr(admin_home, "COUNT_LIMIT", 3)
    client.force_login(shop.agent)
    found = counts(client.get(reverse(INDEX)).content.decode())
    assert found["backordered"] == "3+"


def test_notes_mentioning_the_agent(client, shop, make_order):
    order = make_order(shop.acme, [(shop.lamp, 1)], number="A-NOTE")
    services.order_add_note(order=order, text="@acme-agent please call back", user=shop.colleague)
    services.order_add_note(order=order, text="nothing for anyone", user=shop.colleague)
    nord = make_order(shop.nord, [(shop.nord_lamp, 1)], number="N-NOTE")
    services.order_add_note(order=nord, text="@acme-agent NORD secret", user=shop.nord_agent)
    client.force_login(shop.agent)
    html = client.get(reverse(INDEX)).content.decode()
    mentions = html.split('id="mentions"')[1].split("</ul>")[0]
    assert "please call back" in mentions
    assert "nothing for anyone" not in mentions
    assert "NORD secret" not in html


def test_other_apps_add_panels(client, shop):
    def receiver(sender, request, **kwargs):
        return {
            "id": "tickets",
            "title": "My tickets",
            "order": 5,
            "template": "admin/orders/home/mentions.html",
            "context": {"notes": [], "username": "x"},
        }

    home_page_panels.connect(receiver, dispatch_uid="test_tickets")
    try:
        client.force_login(shop.agent)
        html = client.get(reverse(INDEX)).content.decode()
    finally:
        home_page_panels.disconnect(dispatch_uid="test_tickets")
    assert 'id="panel-tickets"' in html
    assert html.index('id="panel-tickets"') < html.index('id="panel-my-work"')


def test_query_count_does_not_grow_with_orders(
    client, shop, make_order, django_assert_max_num_queries
):
    client.force_login(shop.agent)
    client.get(reverse(INDEX))
    for n in range(6):
        make_order(shop.acme, [(shop.rare, 1)], number=f"A-Q{n}")
    with django_assert_max_num_queries(30):
        assert client.get(reverse(INDEX)).status_code == 200


def test_user_without_order_permissions_sees_the_app_list(client, make_user):
    user = make_user("plain", is_staff=True)
    client.force_login(user)
    response = client.get(reverse(INDEX))
    assert response.status_code == 200
    assert response.context["panels"] == []
    assert Order.objects.count() == 0
