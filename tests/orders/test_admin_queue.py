"""The agent's queue (order changelist) and "take next order", through the test client.

Every scenario has orders of a second client (NORD) that would match the same queue, filter,
search or take-next, so each exact expected list also proves the ACME agent never sees them.
Priority scores are pinned with a direct column update where the queue order matters: the
score is a derived column the periodic task recomputes as time passes, so pinning it makes the
expected order independent of the clock.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import django.test
import pytest
from django.conf import settings
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from clients.models import Client
from inventory.models import Product
from orders import services
from orders.models import Order, OrderEvent
from orders.selectors import today_bounds
from tests.factories import Shop

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:orders_order_changelist"
TAKE_NEXT = "admin:orders_order_take_next"

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        products={
            "acme_lamp": ("acme", "A-LAMP", 1000),  # plenty of stock
            "acme_rare": ("acme", "A-RARE", 0),  # none: its orders are backordered
            "nord_lamp": ("nord", "N-LAMP", 1000),
            "nord_rare": ("nord", "N-RARE", 0),
        },
        users=("agent", "colleague", "nord_agent"),  # agent: whose queue we look at
    )


@pytest.fixture
def place(make_order):
    """``place(product, number, priority=..., **order_create kwargs)``: one single-line order."""

    def place(product: Product, number: str, *, priority: int | None = None, qty=1, **kwargs):
        order = make_order(product.client, [(product, qty)], number=number, **kwargs)
        if priority is not None:
            Order.objects.filter(pk=order.pk).update(priority_score=priority)
            order.refresh_from_db()
        return order

    return place


def numbers(browser, /, **params) -> list[str]:
    """Order numbers of the changelist page, in the order shown."""
    response = browser.get(reverse(CHANGELIST), params)
    assert response.status_code == 200
    return [order.number for order in response.context["cl"].result_list]


def messages_of(response) -> list[tuple[str, str]]:
    """The messages shown on the page a request ended on (follow=True for redirects)."""
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def cancel(order: Order) -> None:
    services.order_cancel(order=order, reason="Customer withdrew")


# --- The queue: default, columns ----------------------------------------------------------------


def test_default_queue_is_every_open_order_of_own_clients_by_priority(client, shop, place):
    place(shop.acme_lamp, "A-LOW", priority=100)
    place(shop.acme_lamp, "A-HIGH", priority=500)
    place(shop.acme_lamp, "A-TIE", priority=500)  # same score: the older row (lower id) first
    services.order_hold(order=place(shop.acme_lamp, "A-HELD", priority=300), reason="Address?")
    cancel(place(shop.acme_lamp, "A-CANCELLED", priority=900))
    place(shop.nord_lamp, "N-TOP", priority=999)
    client.force_login(shop.agent)

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    cl = response.context["cl"]
    assert [o.number for o in cl.result_list] == ["A-HIGH", "A-TIE", "A-HELD", "A-LOW"]
    queue_filter = cl.filter_specs[0]
    assert [c["display"] for c in queue_filter.choices(cl) if c["selected"]] == ["All open"]
    html = response.content.decode()
    assert "N-TOP" not in html
    assert 'id="take-next"' in html


def test_queue_columns(client, shop, place, make_customer, make_warehouse, make_product):
    now = timezone.now()
    customer = make_customer(shop.acme, name="Alice Lantern", email="alice@acme.example")
    short = make_product(shop.acme, "A-SHORT", stock={make_warehouse("WEST"): 3})
    order = place(
        short,
        "A-1001",
        qty=5,
        customer=customer,
        service_level=Order.ServiceLevel.OVERNIGHT,
        placed_at=now - timedelta(minutes=90),
        ship_by=now + timedelta(days=3, hours=1),
    )
    services.order_assign(order=order, agent=shop.agent)
    late = place(
        shop.acme_lamp, "A-LATE", placed_at=now - timedelta(days=5), ship_by=now - timedelta(days=3)
    )
    client.force_login(shop.agent)

    response = client.get(reverse(CHANGELIST))

    # What the agent reads across the top of the queue, left to right (sortable ones are links).
    html = response.content.decode()
    (head,) = re.findall(r"<thead>(.*?)</thead>", html, flags=re.S)
    headers = [h.strip() for h in re.findall(r"<(?:a|span)[^>]*>([^<]+)</(?:a|span)>", head)]
    assert [h for h in headers if h] == [
        "Order number",
        "Client",
        "Customer",
        "Status",
        "Segment",
        "Priority score",
        "Due",
        "Service level",
        "Units alloc / back",
        "Assigned to",
        "Age",
    ]
    assert 'name="_selected_action"' in html  # rows can be selected for bulk actions
    order.refresh_from_db()
    assert order.status == Order.Status.BACKORDERED
    for cell in (
        f'<a href="{reverse("admin:orders_order_change", args=[order.pk])}">A-1001</a>',
        '<td class="field-client_code">ACME</td>',
        '<td class="field-customer nowrap">Alice Lantern &lt;alice@acme.example&gt;</td>',
        '<td class="field-status">Backordered</td>',
        '<span class="bpo-badge bpo-segment-backordered">Backordered</span>',
        f'<td class="field-priority_score">{order.priority_score}</td>',
        '<td class="field-due_display">in 3d</td>',
        '<td class="field-service_level">Overnight</td>',
        "<td class=\"field-units_display\">3 / <strong class='bpo-overdue'>2</strong></td>",
        '<td class="field-assigned_to nowrap">acme-agent</td>',
        '<td class="field-age_display">2h</td>',  # 90 minutes, rounded to hours
        # The overdue order: fully allocated, overdue by three days.
        '<td class="field-due_display"><span class="bpo-overdue">overdue 3d</span></td>',
        '<td class="field-units_display">1 / 0</td>',
    ):
        assert cell in html, cell
    assert late.segment == Order.Segment.URGENT


# --- Work queues ---------------------------------------------------------------------------------


@pytest.fixture
def board(shop, place):
    """Orders in every state, for ACME and NORD; promises three days out (not time-sensitive)."""
    far = {"ship_by": timezone.now() + timedelta(days=3)}
    ready = place(shop.acme_lamp, "A-READY", priority=100, **far)
    services.order_assign(order=ready, agent=shop.agent)
    short = place(shop.acme_rare, "A-SHORT", priority=200, **far)
    services.order_assign(order=short, agent=shop.colleague)
    services.order_hold(order=place(shop.acme_lamp, "A-HELD", priority=300, **far), reason="x")
    services.order_hold(
        order=place(shop.acme_rare, "A-HELD-SHORT", priority=400, **far), reason="Fraud check"
    )
    place(shop.acme_lamp, "A-RUSH", priority=500, expedite=True, **far)
    gone = place(shop.acme_lamp, "A-CANCELLED", priority=600, **far)
    services.order_assign(order=gone, agent=shop.agent)
    cancel(gone)
    shipped = place(shop.acme_lamp, "A-SHIPPED", priority=700, **far)
    # Shipping belongs to the fulfillment app; only the status matters to the queue.
    Order.objects.filter(pk=shipped.pk).update(
        status=Order.Status.SHIPPED, segment=Order.Segment.CLOSED
    )
    cancel(place(shop.acme_lamp, "A-RUSH-CANCELLED", priority=800, expedite=True, **far))

    nord_short = place(shop.nord_rare, "N-SHORT", priority=999, **far)
    # Assigned to the ACME agent back when they still worked for NORD: "mine" must not show it.
    Order.objects.filter(pk=nord_short.pk).update(assigned_to=shop.agent)
    services.order_hold(order=place(shop.nord_lamp, "N-HELD", priority=999, **far), reason="x")
    place(shop.nord_lamp, "N-RUSH", priority=999, expedite=True, **far)
    place(shop.nord_lamp, "N-FREE", priority=999, **far)
    cancel(place(shop.nord_lamp, "N-CANCELLED", priority=999, **far))
    return shop


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("open", ["A-RUSH", "A-HELD-SHORT", "A-HELD", "A-SHORT", "A-READY"]),
        ("mine", ["A-READY"]),
        ("unassigned", ["A-RUSH", "A-HELD-SHORT", "A-HELD"]),
        ("backordered", ["A-SHORT"]),
        ("on_hold", ["A-HELD-SHORT", "A-HELD"]),
        ("expedited", ["A-RUSH"]),
        ("closed", ["A-RUSH-CANCELLED", "A-SHIPPED", "A-CANCELLED"]),
        (
            "all",
            [
                "A-RUSH-CANCELLED",
                "A-SHIPPED",
                "A-CANCELLED",
                "A-RUSH",
                "A-HELD-SHORT",
                "A-HELD",
                "A-SHORT",
                "A-READY",
            ],
        ),
    ],
)
def test_work_queue(client, board, queue, expected):
    client.force_login(board.agent)
    assert numbers(client, queue=queue) == expected


def test_work_queue_due_today(client, shop, place, monkeypatch):
    now = timezone.now()
    # One instant for setup and request alike: "today" cannot roll over at midnight mid-test.
    monkeypatch.setattr(timezone, "now", lambda: now)
    start, end = today_bounds(now)
    today = now + (end - now) / 2  # later today, whatever the time of day
    place(shop.acme_lamp, "A-TODAY", ship_by=today)
    place(
        shop.acme_lamp,
        "A-YESTERDAY",
        placed_at=start - timedelta(days=3),
        ship_by=start - timedelta(hours=1),
    )
    place(shop.acme_lamp, "A-TOMORROW", ship_by=end + timedelta(hours=1))
    cancel(place(shop.acme_lamp, "A-TODAY-CANCELLED", ship_by=today))
    place(shop.nord_lamp, "N-TODAY", ship_by=today)
    client.force_login(shop.agent)

    assert numbers(client, queue="due_today") == ["A-TODAY"]


def test_work_queue_overdue(client, shop, place):
    now = timezone.now()
    late = {"placed_at": now - timedelta(days=5), "ship_by": now - timedelta(days=3)}
    place(shop.acme_lamp, "A-LATE", priority=700, **late)
    services.order_hold(
        order=place(shop.acme_lamp, "A-LATE-HELD", priority=600, **late), reason="Address?"
    )
    place(shop.acme_lamp, "A-ON-TIME", priority=900, ship_by=now + timedelta(days=3))
    cancel(place(shop.acme_lamp, "A-LATE-CANCELLED", priority=950, **late))
    place(shop.nord_lamp, "N-LATE", priority=999, **late)
    client.force_login(shop.agent)

    assert numbers(client, queue="overdue") == ["A-LATE", "A-LATE-HELD"]


def test_work_queue_at_risk(client, shop, place):
    now = timezone.now()
    risky = place(shop.acme_lamp, "A-RISKY", ship_by=now + timedelta(hours=8))
    urgent = place(shop.acme_lamp, "A-URGENT", ship_by=now + timedelta(hours=2))
    safe = place(shop.acme_lamp, "A-SAFE", ship_by=now + timedelta(days=3))
    waiting = place(shop.acme_rare, "A-RISKY-SHORT", ship_by=now + timedelta(hours=8))
    place(shop.nord_lamp, "N-RISKY", ship_by=now + timedelta(hours=8))
    # The segments the service gave them (at-risk window 12 h, urgent within 4 h):
    assert [o.segment for o in (risky, urgent, safe, waiting)] == [
        Order.Segment.AT_RISK,
        Order.Segment.URGENT,
        Order.Segment.STANDARD,
        Order.Segment.BACKORDERED,
    ]
    client.force_login(shop.agent)

    assert numbers(client, queue="at_risk") == ["A-RISKY"]


# --- Filters and search ---------------------------------------------------------------------


def test_client_filter_offers_and_filters_only_own_clients(
    client, shop, place, make_client, make_user
):
    kiwi = make_client("KIWI")
    kiwi_lamp = Product.objects.create(client=kiwi, sku="K-LAMP", name="Lamp")
    place(shop.acme_lamp, "A-1", priority=200)
    place(shop.nord_lamp, "N-1", priority=100)
    place(kiwi_lamp, "K-1", priority=300)
    both = make_user("two-client-agent", clients=[shop.acme, shop.nord])
    client.force_login(both)

    response = client.get(reverse(CHANGELIST))
    cl = response.context["cl"]
    client_filter = next(f for f in cl.filter_specs if f.parameter_name == "client")
    assert client_filter.lookup_choices == [
        (str(shop.acme.pk), "ACME"),
        (str(shop.nord.pk), "NORD"),
    ]
    assert [o.number for o in cl.result_list] == ["A-1", "N-1"]
    assert numbers(client, client=shop.acme.pk) == ["A-1"]
    assert numbers(client, client=shop.nord.pk) == ["N-1"]
    assert numbers(client, client=kiwi.pk) == []  # a hand-made URL cannot widen the scope
    assert numbers(client, queue="all", client=kiwi.pk) == []


def test_status_service_level_and_tier_filters(client, shop, place, make_customer):
    vip = make_customer(shop.acme, tier="vip")
    gold = make_customer(shop.acme, tier="gold")
    place(shop.acme_lamp, "A-STD", priority=100)
    place(shop.acme_lamp, "A-OVN", priority=300, customer=vip, service_level="overnight")
    place(shop.acme_rare, "A-SHORT", priority=200, customer=gold, service_level="expedited")
    cancel(place(shop.acme_lamp, "A-GONE", priority=400, customer=vip))
    place(
        shop.nord_lamp,
        "N-OVN",
        priority=999,
        customer=make_customer(shop.nord, tier="vip"),
        service_level="overnight",
    )
    place(shop.nord_rare, "N-SHORT", priority=999)
    client.force_login(shop.agent)

    assert numbers(client, status__exact="backordered") == ["A-SHORT"]
    assert numbers(client, status__exact="ready") == ["A-OVN", "A-STD"]
    assert numbers(client, service_level__exact="overnight") == ["A-OVN"]
    assert numbers(client, service_level__exact="expedited") == ["A-SHORT"]
    assert numbers(client, customer__tier__exact="vip") == ["A-OVN"]
    assert numbers(client, customer__tier__exact="gold", service_level__exact="expedited") == [
        "A-SHORT"
    ]
    # Filters narrow the chosen work queue: cancelled orders live in "closed"/"all" only.
    assert numbers(client, status__exact="cancelled") == []
    assert numbers(client, queue="all", status__exact="cancelled") == ["A-GONE"]
    assert numbers(client, queue="closed", customer__tier__exact="vip") == ["A-GONE"]


@pytest.fixture
def searchable(shop, place, make_customer, make_product):
    alice = make_customer(shop.acme, name="Alice Lantern", email="alice@acme.example")
    bob = make_customer(shop.acme, name="Bob Stone", email="Bob@Acme.example")
    shared = make_customer(shop.acme, name="Carla Field", email="shared@example.com")
    bulb = make_product(
        shop.acme, "A-BULB", stock={shop.acme_lamp.stock_levels.get().warehouse: 50}
    )
    place(shop.acme_lamp, "A-1001", priority=500, customer=alice)
    place(bulb, "A-10011", priority=400, customer=bob)
    place(bulb, "A-1003", priority=300, customer=shared)
    nils = make_customer(shop.nord, name="Nils Lantern", email="nils@nord.example")
    nord_shared = make_customer(shop.nord, name="Nora Field", email="shared@example.com")
    place(shop.nord_lamp, "N-2001", priority=999, customer=nils)
    place(shop.nord_lamp, "N-2002", priority=999, customer=nord_shared)
    return shop


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("A-1001", ["A-1001"]),  # the exact number, not A-10011
        ("  A-1001  ", ["A-1001"]),
        ("A-100", []),  # numbers match whole (or after the prefix), not a part of one
        ("lantern", ["A-1001"]),  # customer name, any case, any part; not NORD's Nils Lantern
        ("Field", ["A-1003"]),
        ("bob@acme.example", ["A-10011"]),  # e-mail, whole address, any case
        ("bob@acme", ["A-10011"]),  # e-mail, any part (issue #18)
        ("shared@example.com", ["A-1003"]),  # NORD has a customer with the same address
        ("A-BULB", ["A-10011", "A-1003"]),  # exact SKU on any line
        ("A-BUL", []),
        ("N-2001", []),
        ("N-LAMP", []),
        ("nils@nord.example", []),
    ],
)
def test_search(client, searchable, term, expected):
    client.force_login(searchable.agent)
    assert numbers(client, q=term) == expected


@pytest.fixture
def typed(shop, place, make_customer, make_product):
    """Orders as issue #18 found them unsearchable: numbers with a client prefix and with
    Shopify's '#', a product found by name, customers by phone — and NORD look-alikes."""
    warehouse = shop.acme_lamp.stock_levels.get().warehouse
    kettle = make_product(shop.acme, "K-7", name="Copper Kettle", stock={warehouse: 50})
    grace = make_customer(shop.acme, name="Grace Hopper", email="grace@navy.example")
    grace.phone = "+1 (555) 010-0999"
    grace.save()
    place(shop.acme_lamp, "ACME-100104", priority=900)
    place(shop.acme_lamp, "ACME-0034", priority=800)
    place(shop.acme_lamp, "ACME-00341", priority=700)
    place(shop.acme_lamp, "#B9001", priority=600, customer=grace)
    place(kettle, "ACME-2", priority=500)
    nord_kettle = make_product(shop.nord, "NK-7", name="Copper Kettle", stock={warehouse: 5})
    place(nord_kettle, "NORD-100104", priority=999)
    place(shop.nord_lamp, "#B9002", priority=999)
    return shop


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("100104", ["ACME-100104"]),  # without the client prefix; not NORD-100104
        ("acme-100104", ["ACME-100104"]),
        ("acme-0034", ["ACME-0034"]),  # any case; not ACME-00341
        ("0034", ["ACME-0034"]),
        ("b9001", ["#B9001"]),  # without Shopify's '#'
        ("#b9001", ["#B9001"]),
        ("B9002", []),  # NORD's
        ("k-7", ["ACME-2"]),  # SKU, any case
        ("copper kettle", ["ACME-2"]),  # product name, any part, any case
        ("KETTLE", ["ACME-2"]),
        ("hopper", ["#B9001"]),  # customer name
        ("NAVY.EXAMPLE", ["#B9001"]),  # e-mail, any part
        ("555 010 0999", ["#B9001"]),  # phone, typed with other punctuation
        ("5550100999", ["#B9001"]),
        ("(555) 010-0999", ["#B9001"]),
        ("#", []),
        ("zz", []),
        ("00104", []),  # part of a number: not the number after its prefix
        ("999", []),  # digits, no phone: only numbers are searched
    ],
)
def test_search_finds_what_people_type(client, typed, term, expected):
    client.force_login(typed.agent)
    assert numbers(client, q=term, queue="all") == expected


def test_search_for_the_supervisor_of_all_clients(client, typed, make_user):
    root = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(root)
    assert numbers(client, q="100104", queue="all") == ["NORD-100104", "ACME-100104"]
    assert numbers(client, q="kettle", queue="all") == ["NORD-100104", "ACME-2"]


# --- Take next ---------------------------------------------------------------------------------


def test_take_next_assigns_most_urgent_unassigned_order_of_own_clients(client, shop, place):
    place(shop.acme_lamp, "A-LOW", priority=100)
    place(shop.acme_lamp, "A-HIGH", priority=500)
    taken = place(shop.acme_lamp, "A-TAKEN", priority=800)
    services.order_assign(order=taken, agent=shop.colleague)
    services.order_hold(order=place(shop.acme_lamp, "A-HELD", priority=900), reason="x")
    cancel(place(shop.acme_lamp, "A-GONE", priority=950))
    place(shop.nord_lamp, "N-TOP", priority=999)
    client.force_login(shop.agent)
    url = reverse(TAKE_NEXT)

    first = client.post(url, follow=True)
    high = Order.objects.get(number="A-HIGH")
    assert first.redirect_chain == [(change_url(high), 302)]
    assert messages_of(first) == [("success", "Order A-HIGH is yours (priority 500).")]
    assert high.assigned_to == shop.agent
    event = high.events.get(kind=OrderEvent.Kind.ASSIGN)
    assert (event.user, event.message) == (
        shop.agent,
        "Taken by acme-agent (next in queue, priority 500).",
    )

    second = client.post(url, follow=True)
    low = Order.objects.get(number="A-LOW")
    assert second.redirect_chain == [(change_url(low), 302)]
    assert messages_of(second) == [("success", "Order A-LOW is yours (priority 100).")]
    assert low.assigned_to == shop.agent

    third = client.post(url, follow=True)
    assert third.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert messages_of(third) == [("info", "Nothing to take: every open order is assigned.")]

    assigned = dict(Order.objects.values_list("number", "assigned_to__username"))
    assert assigned == {
        "A-LOW": "acme-agent",
        "A-HIGH": "acme-agent",
        "A-TAKEN": "acme-colleague",
        "A-HELD": None,
        "A-GONE": None,
        "N-TOP": None,
    }


def test_take_next_breaks_ties_by_earliest_promise(client, shop, place):
    now = timezone.now()
    place(shop.acme_lamp, "A-LATER", priority=300, ship_by=now + timedelta(days=2))
    place(shop.acme_lamp, "A-SOONER", priority=300, ship_by=now + timedelta(days=1))
    client.force_login(shop.agent)

    response = client.post(reverse(TAKE_NEXT), follow=True)

    assert messages_of(response) == [("success", "Order A-SOONER is yours (priority 300).")]
    assert Order.objects.get(number="A-SOONER").assigned_to == shop.agent
    assert Order.objects.get(number="A-LATER").assigned_to is None


def test_take_next_never_takes_another_clients_order(client, shop, place):
    place(shop.nord_lamp, "N-ONLY", priority=999)
    client.force_login(shop.agent)

    response = client.post(reverse(TAKE_NEXT), follow=True)

    assert response.redirect_chain == [(reverse(CHANGELIST), 302)]
    assert messages_of(response) == [("info", "Nothing to take: every open order is assigned.")]
    assert Order.objects.get(number="N-ONLY").assigned_to is None


def test_take_next_ignores_orders_of_a_deactivated_client(client, shop, place):
    place(shop.acme_lamp, "A-PAUSED", priority=500)
    Client.objects.filter(pk=shop.acme.pk).update(active=False)
    client.force_login(shop.agent)

    response = client.post(reverse(TAKE_NEXT), follow=True)

    assert messages_of(response) == [("info", "Nothing to take: every open order is assigned.")]
    assert Order.objects.get(number="A-PAUSED").assigned_to is None


def test_take_next_only_answers_post(client, shop, place):
    place(shop.acme_lamp, "A-1", priority=500)
    client.force_login(shop.agent)

    response = client.get(reverse(TAKE_NEXT))

    assert response.status_code == 405
    assert Order.objects.get(number="A-1").assigned_to is None


# --- Take next under concurrency (PostgreSQL) ------------------------------------------------

AGENTS = 6


@pytest.fixture
def crowd(make_client, make_warehouse, make_product, make_user, make_order):
    """Six ACME agents, ten unassigned ACME orders with distinct priorities, one NORD order."""
    acme, nord = make_client("ACME"), make_client("NORD")
    warehouse = make_warehouse("EAST")
    lamp = make_product(acme, "A-LAMP", stock={warehouse: 100})
    for i in range(10):
        order = make_order(acme, [(lamp, 1)], number=f"A-{i:02d}")
        Order.objects.filter(pk=order.pk).update(priority_score=100 + 10 * i)
    nord_order = make_order(nord, [(make_product(nord, "N-LAMP", stock={warehouse: 5}), 1)])
    Order.objects.filter(pk=nord_order.pk).update(priority_score=9999)
    agents = [make_user(f"agent{i}", clients=[acme]) for i in range(AGENTS)]
    # The six most urgent ACME orders: exactly those must be taken, once each.
    top = {f"A-{i:02d}" for i in range(10 - AGENTS, 10)}
    return acme, agents, top


def _press_together(work, agents) -> list:
    """Run ``work(agent)`` in one thread per agent, all released at the same instant."""
    barrier = threading.Barrier(len(agents))
    results: list = [None] * len(agents)
    errors: list[BaseException] = []

    def run(i, agent):
        try:
            barrier.wait(timeout=30)
            results[i] = work(agent)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(agents)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a take-next thread hung"
    assert errors == []
    return results


def _assert_each_took_a_different_top_order(agents, top) -> None:
    taken = dict(
        Order.objects.filter(assigned_to__isnull=False).values_list("number", "assigned_to_id")
    )
    assert set(taken) == top
    assert sorted(taken.values()) == sorted(a.pk for a in agents)
    for number in top:
        assert OrderEvent.objects.filter(order__number=number, kind="assign").count() == 1


@pytest.mark.postgres
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL: concurrent take-next relies on SELECT … FOR UPDATE SKIP LOCKED "
    "(SQLite serialises the writers, so there is no race to test)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_take_next_service_never_hands_out_an_order_twice(crowd):
    acme, agents, top = crowd

    orders = _press_together(
        lambda agent: services.order_take_next(user=agent, client_ids=frozenset({acme.pk})),
        agents,
    )

    assert len({o.pk for o in orders}) == AGENTS
    assert {o.number for o in orders} == top
    for agent, order in zip(agents, orders, strict=True):
        assert order.assigned_to == agent
    _assert_each_took_a_different_top_order(agents, top)


@pytest.mark.postgres
@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="needs PostgreSQL: concurrent take-next relies on SELECT … FOR UPDATE SKIP LOCKED "
    "(SQLite serialises the writers, so there is no race to test)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_take_next_button_never_hands_out_an_order_twice(crowd):
    _acme, agents, top = crowd
    browsers = {}
    for agent in agents:
        browsers[agent.pk] = django.test.Client()
        browsers[agent.pk].force_login(agent)

    responses = _press_together(lambda agent: browsers[agent.pk].post(reverse(TAKE_NEXT)), agents)

    assert [r.status_code for r in responses] == [302] * AGENTS
    locations = [r["Location"] for r in responses]
    assert len(set(locations)) == AGENTS
    _assert_each_took_a_different_top_order(agents, top)
    for agent, location in zip(agents, locations, strict=True):
        order = Order.objects.get(assigned_to=agent)
        assert location == change_url(order)
