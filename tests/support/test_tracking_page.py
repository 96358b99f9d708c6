"""The public tracking page: signed links (valid, expired, tampered, revoked, another order's),
headers, rate limit, few queries, the contact form and the cancel link end to end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from orders.models import OrderEvent
from support import links, services
from support.models import Event, Notification


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def delayed(shop, make_order):
    order = make_order(
        shop.client,
        [(shop.scarce, 2), (shop.stocked, 1)],
        customer=shop.customer,
        ship_by=timezone.now() + timedelta(days=2),
        ship_to={"city": "Bremen", "address1": "Secret street 1", "postcode": "28195"},
    )
    services.delay_notices_queue(order_ids=[order.pk])
    return order


def url_for(order):
    return reverse("support:tracking", args=[services.tracking_token(order=order)])


def test_tracking_page_shows_status_revised_date_and_minimal_data(client, delayed):
    response = client.get(url_for(delayed))
    assert response.status_code == 200
    html = response.content.decode()
    notice = Notification.objects.get(order=delayed, event=Event.DELAY)
    revised = notice.announces.split(":")[1]
    assert f"Order {delayed.number}" in html
    assert "Waiting for stock" in html
    assert 'id="trk-revised-date"' in html
    from datetime import date

    assert date.fromisoformat(revised).strftime("%-d %B %Y") in html
    assert "Hello Ada, Bremen" in html
    assert "Lovelace" not in html and "Secret street" not in html and "28195" not in html
    assert "ada@example.com" not in html
    assert "2 × Red lamp" in html and "2 waiting for stock" in html
    assert response["Cache-Control"] == "no-store, private, max-age=0"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "style=" not in html and "<script" not in html and "<style" not in html


def test_link_carries_no_sequential_id(delayed):
    token = services.tracking_token(order=delayed)
    public_id = token.split(".")[0]
    assert str(delayed.pk) != public_id and len(public_id) >= 16


def test_tracking_page_query_count(client, delayed, django_assert_max_num_queries):
    url = url_for(delayed)
    with django_assert_max_num_queries(6):
        assert client.get(url).status_code == 200


def test_tampered_link(client, delayed):
    token = services.tracking_token(order=delayed)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = client.get(reverse("support:tracking", args=[tampered]))
    assert response.status_code == 404
    assert "This link does not work" in response.content.decode()
    assert delayed.number not in response.content.decode()
    for junk in ["x", "a:b:c", "....", "%00"]:
        assert client.get(f"/track/{junk}/").status_code == 404


def test_expired_link(client, delayed, settings):
    url = url_for(delayed)
    settings.TRACKING_LINK_MAX_AGE_DAYS = 0
    response = client.get(url)
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_revoked_link_and_the_new_one(client, delayed):
    old = url_for(delayed)
    services.tracking_link_revoke(order=delayed)
    response = client.get(old)
    assert response.status_code == 410
    assert "no longer valid" in response.content.decode()
    assert client.get(url_for(delayed)).status_code == 200
    assert OrderEvent.objects.filter(order=delayed, message__contains="revoked").exists()


def test_another_orders_token_never_shows_this_order(client, shop, make_order, delayed):
    other = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    mine = services.tracking_token(order=delayed)
    theirs = services.tracking_token(order=other)
    # Swapping the public id under another order's signature is a tampered link.
    forged = theirs.split(".")[0] + "." + mine.split(".", 1)[1]
    response = client.get(reverse("support:tracking", args=[forged]))
    assert response.status_code == 404
    assert other.number not in response.content.decode()
    assert other.number in client.get(reverse("support:tracking", args=[theirs])).content.decode()
    # A link signed for another purpose (another salt) is refused too.
    from django.core import signing

    foreign = signing.TimestampSigner(salt="other").sign(mine.split(":")[0])
    assert client.get(reverse("support:tracking", args=[foreign])).status_code == 404


def test_rate_limit_per_ip(client, delayed, settings):
    settings.TRACKING_RATE_LIMIT_PER_MINUTE = 3
    url = url_for(delayed)
    codes = [client.get(url).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    other_ip = client.get(url, REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 200
    assert client.get("/track/junk/").status_code == 429  # bad links count too


def test_contact_form_opens_a_ticket_and_goes_to_the_timeline(client, delayed):
    from support.models import Ticket

    url = url_for(delayed)
    response = client.post(url, {"name": "Ada", "message": "Can you ship the mug first?"})
    assert response.status_code == 302
    ticket = Ticket.objects.get(order=delayed)
    assert ticket.channel == Ticket.Channel.TRACKING and ticket.customer == delayed.customer
    assert ticket.messages.get().body == "Can you ship the mug first?"
    event = OrderEvent.objects.get(order=delayed, kind=OrderEvent.Kind.CUSTOMER)
    assert event.message == (
        f"Message from Ada (tracking page, {ticket.ref}): Can you ship the mug first?"
    )
    assert "Thank you" in client.get(response["Location"]).content.decode()
    empty = client.post(url, {"name": "", "message": "   "})
    assert empty.status_code == 400
    assert OrderEvent.objects.filter(order=delayed, kind=OrderEvent.Kind.CUSTOMER).count() == 1
    client.post(url, {"name": "Ada", "message": "And the lamp?"})
    assert Ticket.objects.get(order=delayed).messages.count() == 2  # same ticket


def test_cancel_link_end_to_end(client, delayed, run_commit, mailoutbox):
    token = services.tracking_token(order=delayed)
    cancel_url = reverse("support:cancel", args=[token])
    page = client.get(cancel_url)
    assert page.status_code == 200
    assert "Yes, cancel my order" in page.content.decode()
    delayed.refresh_from_db()
    assert delayed.status == "backordered"  # a GET changes nothing
    with run_commit():
        response = client.post(cancel_url)
    assert response.status_code == 200
    assert "is cancelled" in response.content.decode()
    delayed.refresh_from_db()
    assert delayed.status == "cancelled"
    event = OrderEvent.objects.get(order=delayed, kind=OrderEvent.Kind.CANCEL)
    assert "customer-initiated" in event.message and event.user is None
    lines = list(delayed.lines.all())
    assert all(ln.qty_allocated == 0 and ln.qty_backordered == 0 for ln in lines)
    assert Notification.objects.get(order=delayed, event=Event.CANCELLED).status == "sent"
    # Twice: a clear page, nothing else happens.
    again = client.post(cancel_url)
    assert again.status_code == 200 and "can no longer be cancelled" in again.content.decode()


def test_cancel_link_refuses_shipped_orders(client, shop, make_order, rates, to_status):
    from fulfillment import services as fulfillment

    order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    to_status(order, "packed")
    fulfillment.shipment_create(order=order, service=rates.ground, tracking_number="Z1")
    token = services.tracking_token(order=order)
    response = client.post(reverse("support:cancel", args=[token]))
    assert "can no longer be cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == "shipped"
    page = client.get(reverse("support:tracking", args=[token])).content.decode()
    assert "Z1" in page and "SwiftParcel" in page and "Label created" in page


def test_signed_token_helpers():
    token = links.make_token("abc", 3)
    assert links.read_token(token) == links.LinkClaim("abc", 3)
    with pytest.raises(links.LinkError) as info:
        links.read_token(token + "x")
    assert info.value.reason == "invalid"
