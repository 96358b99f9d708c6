"""One label per status (the timeline says "On hold → Ready to pick", not codes) and one date
format, in the client's time zone, on the order page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.urls import reverse

from core.dates import local_date, local_datetime
from orders import services
from orders.models import Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(make_shop):
    return make_shop(products={"acme_lamp": ("acme", "A-LAMP", 100)}, users=("agent",))


def test_timeline_shows_status_labels_not_codes(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    services.order_hold(order=order, hold_type="payment")
    services.order_release(order=order)
    client.force_login(shop.agent)
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    timeline = html[html.index('id="order-timeline"') :]
    assert "Ready to pick → On hold" in timeline
    assert "On hold → Ready to pick" in timeline
    assert "on_hold →" not in timeline and "→ ready" not in timeline


def test_order_page_times_are_in_the_clients_zone_in_one_format(client, shop, make_order):
    shop.acme.timezone = "Asia/Tokyo"
    shop.acme.save(update_fields=["timezone"])
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    Order.objects.filter(pk=order.pk).update(
        placed_at=datetime(2026, 3, 14, 23, 30, tzinfo=UTC),
        ship_by=datetime(2026, 3, 16, 1, 0, tzinfo=UTC),
    )
    client.force_login(shop.agent)
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "2026-03-15 08:30" in html  # placed_at, the admin's read-only field, Tokyo time
    assert "2026-03-16 10:00" in html  # ship_by in the header
    assert "Asia/Tokyo time" in html
    assert "March" not in html and "a.m." not in html and "p.m." not in html


def test_the_one_format_helpers_and_filters():
    moment = datetime(2026, 1, 15, 14, 30, tzinfo=UTC)
    assert local_datetime(moment, "America/New_York") == "2026-01-15 09:30"
    assert local_datetime(moment, "Not/AZone") == "2026-01-15 14:30"  # the site's zone
    assert local_date(moment, "Pacific/Kiritimati") == "2026-01-16"
    assert local_datetime(None) == ""
    rendered = Template(
        "{% load bpo_dates %}{{ m|client_time:'Europe/Berlin' }} {{ m|date }}"
    ).render(Context({"m": moment}))
    assert rendered == "2026-01-15 15:30 2026-01-15"


def test_order_page_shows_the_delivery_instructions(client, shop, make_order):
    order = make_order(shop.acme, [(shop.acme_lamp, 1)], number="A-1")
    Order.objects.filter(pk=order.pk).update(delivery_notes="Leave at the door.\nRing twice.")
    client.force_login(shop.agent)
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert (
        '<p id="order-delivery-notes"><strong>Delivery instructions:</strong> '
        "Leave at the door.<br>Ring twice.</p>"
    ) in html
