"""Order actions through the test client: the changelist's bulk actions and the order page's
single-order action URL (``/admin/orders/order/<id>/do/<action>/``).

Each action is posted the way the browser does it: the changelist's "Go" (``index``), then for
reason/agent actions the intermediate form (``apply=1``). Every result is checked in the
database and in the per-order messages the user sees; a refused or illegal move must leave the
order exactly as it was and answer with a message, never an error page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from inventory.models import Product, StockLevel, Warehouse
from orders import services
from orders.models import Order, OrderEvent
from tests.factories import Shop
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:orders_order_changelist"

# The actions of orders.admin_actions; higher apps may register more, which these tests ignore.
AGENT_ACTIONS = {
    "action_assign_to_me",
    "action_assign_to_agent",
    "action_expedite",
    "action_hold",
    "action_release",
    "action_reallocate",
    "action_move_to_picking",
    "action_move_to_packed",
}


@pytest.fixture
def shop(make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        products={
            "acme_lamp": ("acme", "A-LAMP", 1000),  # plenty of stock
            "acme_rare": ("acme", "A-RARE", 0),  # none: its orders are backordered
            "nord_lamp": ("nord", "N-LAMP", 1000),
        },
        users=("agent", "colleague", "supervisor", "nord_agent", "mixed"),
    )


@pytest.fixture
def place(make_order):
    """``place(product, number, priority=..., **order_create kwargs)``: one single-line order."""

    def place(product: Product, number: str, *, priority: int | None = None, qty=1, **kwargs):
        order = make_order(product.client, [(product, qty)], number=number, **kwargs)
        if priority is not None:  # a derived column: pinned so the message order is fixed
            Order.objects.filter(pk=order.pk).update(priority_score=priority)
            order.refresh_from_db()
        return order

    return place


def messages_of(response) -> list[tuple[str, str]]:
    """The messages shown on the page the request ended on."""
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def go(browser, name: str, orders, *, query: str = "", **extra):
    """Pick ``orders`` on the changelist, choose ``action_<name>`` and press "Go"."""
    return browser.post(
        reverse(CHANGELIST) + query,
        {
            "action": f"action_{name}",
            "_selected_action": [o.pk for o in orders],
            "index": "0",
            "select_across": "0",
            **extra,
        },
        follow=True,
    )


def confirm(browser, name: str, orders, **fields):
    """Submit the intermediate reason/agent form exactly as its template posts it."""
    return browser.post(
        reverse(CHANGELIST),
        {
            "action": f"action_{name}",
            "_selected_action": [o.pk for o in orders],
            "select_across": "0",
            "apply": "1",
            **fields,
        },
        follow=True,
    )


def state(*orders) -> list[tuple]:
    """What an action may change, re-read from the database."""
    return list(
        Order.objects.filter(pk__in=[o.pk for o in orders])
        .order_by("pk")
        .values_list("number", "status", "assigned_to", "expedite", "hold_reason", "priority_score")
    )


def assert_back_on_queue(response, query: str = "") -> None:
    assert response.status_code == 200
    assert response.redirect_chain == [(reverse(CHANGELIST) + query, 302)]


def action_names(response) -> set[str]:
    return {value for value, _label in response.context["action_form"].fields["action"].choices}


# --- Which actions are offered --------------------------------------------------------------


def test_agent_gets_every_action_but_cancel_and_nobody_gets_delete(client, shop, place):
    place(shop.acme_lamp, "A-1")
    client.force_login(shop.agent)

    names = action_names(client.get(reverse(CHANGELIST)))

    assert names >= AGENT_ACTIONS
    assert "action_cancel" not in names
    assert "delete_selected" not in names


def test_supervisor_also_gets_cancel_but_no_delete(client, shop, place, django_user_model):
    place(shop.acme_lamp, "A-1")
    client.force_login(shop.supervisor)
    names = action_names(client.get(reverse(CHANGELIST)))
    assert names >= AGENT_ACTIONS | {"action_cancel"}
    assert "delete_selected" not in names

    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    assert "delete_selected" not in action_names(client.get(reverse(CHANGELIST)))


# --- Assign ----------------------------------------------------------------------------------


def test_assign_to_me(client, shop, place):
    first = place(shop.acme_lamp, "A-1", priority=100)
    second = place(shop.acme_lamp, "A-2", priority=200)
    services.order_assign(order=second, agent=shop.colleague)
    foreign = place(shop.nord_lamp, "N-1")
    client.force_login(shop.agent)

    response = go(client, "assign_to_me", [first, second, foreign])

    assert_back_on_queue(response)
    assert messages_of(response) == [("success", "Assigned to you: 2 order(s) – A-2, A-1")]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assigned_to, second.assigned_to) == (shop.agent, shop.agent)
    assert list(
        second.events.filter(kind=OrderEvent.Kind.ASSIGN).values_list("message", "user")
    ) == [
        ("Assigned to acme-agent (was acme-colleague).", shop.agent.pk),
        ("Assigned to acme-colleague.", None),
    ]
    assert Order.objects.get(pk=foreign.pk).assigned_to is None  # smuggled id: ignored


def test_assign_to_me_across_the_whole_queue_stays_in_scope(client, shop, place):
    on_page = place(shop.acme_lamp, "A-1")
    place(shop.acme_lamp, "A-2")
    cancel = place(shop.acme_lamp, "A-GONE")
    services.order_cancel(order=cancel, reason="x")
    foreign = place(shop.nord_lamp, "N-1")
    client.force_login(shop.agent)

    # "Select all N orders": the browser sends the page's ticked boxes plus select_across=1.
    response = go(client, "assign_to_me", [on_page, foreign], select_across="1")

    assert response.status_code == 200
    assigned = dict(Order.objects.values_list("number", "assigned_to__username"))
    assert assigned == {"A-1": "acme-agent", "A-2": "acme-agent", "A-GONE": None, "N-1": None}


def test_assign_to_agent_asks_for_an_agent_of_the_orders_client(client, shop, place):
    orders = [
        place(shop.acme_lamp, "A-1", priority=100),
        place(shop.acme_lamp, "A-2", priority=200),
    ]
    client.force_login(shop.agent)

    form_page = go(client, "assign_to_agent", orders)

    assert form_page.status_code == 200
    assert form_page.redirect_chain == []
    assert form_page.templates[0].name == "admin/orders/order/action_form.html"
    form = form_page.context["form"]
    assert list(form.fields) == ["agent"]
    assert [u.username for u in form.fields["agent"].queryset] == [
        "acme-agent",
        "acme-colleague",
        "acme-supervisor",
        "mixed-user",
    ]
    html = form_page.content.decode()
    assert "nord-agent" not in html
    assert "<strong>A-2</strong>, <strong>A-1</strong>" in html
    assert not Order.objects.filter(assigned_to__isnull=False).exists()

    done = confirm(client, "assign_to_agent", orders, agent=shop.colleague.pk)

    assert_back_on_queue(done)
    assert messages_of(done) == [("success", "Assigned: 2 order(s) – A-2, A-1")]
    assert set(Order.objects.values_list("assigned_to", flat=True)) == {shop.colleague.pk}
    event = orders[0].events.get(kind=OrderEvent.Kind.ASSIGN)
    assert (event.message, event.user) == ("Assigned to acme-colleague.", shop.agent)


def test_assign_to_agent_reports_orders_of_clients_the_agent_does_not_work_for(client, shop, place):
    acme_order = place(shop.acme_lamp, "A-1", priority=200)
    nord_order = place(shop.nord_lamp, "N-1", priority=100)
    client.force_login(shop.mixed)  # works for both clients

    form_page = go(client, "assign_to_agent", [acme_order, nord_order])
    choices = [u.username for u in form_page.context["form"].fields["agent"].queryset]
    assert choices == [
        "acme-agent",
        "acme-colleague",
        "acme-supervisor",
        "mixed-user",
        "nord-agent",
    ]

    response = confirm(
        client, "assign_to_agent", [acme_order, nord_order], agent=shop.nord_agent.pk
    )

    assert_back_on_queue(response)
    assert messages_of(response) == [
        ("success", "Assigned: 1 order(s) – N-1"),
        ("error", "A-1: nord-agent does not work for ACME."),
    ]
    assert Order.objects.get(pk=acme_order.pk).assigned_to is None
    assert Order.objects.get(pk=nord_order.pk).assigned_to == shop.nord_agent


@pytest.mark.parametrize(
    ("agent", "error"),
    [
        ("nord", "Select a valid choice. That choice is not one of the available choices."),
        ("", "This field is required."),
    ],
)
def test_assign_to_agent_refuses_an_agent_of_another_client(client, shop, place, agent, error):
    order = place(shop.acme_lamp, "A-1")
    client.force_login(shop.agent)

    response = confirm(
        client, "assign_to_agent", [order], agent=shop.nord_agent.pk if agent else ""
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"agent": [error]}
    assert Order.objects.get(pk=order.pk).assigned_to is None


# --- Expedite --------------------------------------------------------------------------------


def test_expedite_reports_each_order(client, shop, place):
    plain = place(shop.acme_lamp, "A-PLAIN", priority=300)
    already = place(shop.acme_lamp, "A-ALREADY", expedite=True)
    Order.objects.filter(pk=already.pk).update(priority_score=200)
    gone = place(shop.acme_lamp, "A-GONE", priority=100)
    services.order_cancel(order=gone, reason="x")
    client.force_login(shop.agent)

    # The cancelled order is only on the "Everything" queue: act from there.
    response = go(client, "expedite", [plain, already, gone], query="?queue=all")

    assert_back_on_queue(response, "?queue=all")
    assert messages_of(response) == [
        ("success", "Expedited: 1 order(s) – A-PLAIN"),
        ("error", "A-ALREADY: Order A-ALREADY is already expedited."),
        ("error", "A-GONE: Order A-GONE is Cancelled."),
    ]
    plain.refresh_from_db()
    assert plain.expedite is True
    assert plain.segment == Order.Segment.URGENT
    assert {"factor": "expedite", "points": 300, "why": "expedited by an agent"} in (
        plain.priority_breakdown
    )
    assert plain.events.get(kind=OrderEvent.Kind.EXPEDITE).user == shop.agent
    gone.refresh_from_db()
    assert (gone.status, gone.expedite) == (Order.Status.CANCELLED, False)


# --- Hold and release ------------------------------------------------------------------------


def test_hold_shows_the_reason_form_first(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    response = go(client, "hold", [order])

    assert response.status_code == 200
    assert response.templates[0].name == "admin/orders/order/action_form.html"
    assert list(response.context["form"].fields) == ["hold_type", "reason"]
    assert response.context["form"].is_bound is False
    html = response.content.decode()
    assert '<input type="hidden" name="apply" value="1">' in html
    assert f'<input type="hidden" name="_selected_action" value="{order.pk}">' in html
    assert state(order) == before


@pytest.mark.parametrize("reason", ["", "   "])
def test_hold_without_a_reason_is_refused(client, shop, place, reason):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    response = confirm(client, "hold", [order], hold_type="other", reason=reason)

    assert response.status_code == 200
    assert response.context["form"].errors == {"reason": ["Say why the order is put on hold."]}
    assert state(order) == before
    assert not order.events.filter(kind=OrderEvent.Kind.HOLD).exists()


def test_hold_with_a_reason(client, shop, place):
    ready = place(shop.acme_lamp, "A-READY", priority=200)
    held = place(shop.acme_lamp, "A-HELD", priority=100)
    services.order_hold(order=held, reason="Fraud check")
    client.force_login(shop.agent)

    response = confirm(
        client, "hold", [ready, held], hold_type="other", reason="Customer asked to wait"
    )

    assert_back_on_queue(response)
    assert messages_of(response) == [
        ("success", "Placed on hold: 1 order(s) – A-READY"),
        ("error", "A-HELD: Order A-HELD is already On hold."),
    ]
    ready.refresh_from_db()
    assert (ready.status, ready.hold_from_status, ready.hold_reason) == (
        Order.Status.ON_HOLD,
        Order.Status.READY,
        "Customer asked to wait",
    )
    event = ready.events.get(kind=OrderEvent.Kind.HOLD)
    assert (event.from_status, event.to_status, event.message, event.user) == (
        "ready",
        "on_hold",
        "Customer asked to wait",
        shop.agent,
    )
    assert Order.objects.get(pk=held.pk).hold_reason == "Fraud check"


def test_release(client, shop, place):
    held = place(shop.acme_lamp, "A-HELD", priority=200)
    services.order_hold(order=held, reason="Address?")
    ready = place(shop.acme_lamp, "A-READY", priority=100)
    client.force_login(shop.agent)

    response = go(client, "release", [held, ready])

    assert_back_on_queue(response)
    assert messages_of(response) == [
        ("success", "Released: 1 order(s) – A-HELD"),
        ("error", "A-READY: Order A-READY is not on hold."),
    ]
    held.refresh_from_db()
    assert (held.status, held.hold_reason, held.hold_from_status) == ("ready", "", "")
    event = held.events.get(kind=OrderEvent.Kind.RELEASE)
    assert (event.message, event.user) == ("Released (was held: Address?).", shop.agent)
    assert Order.objects.get(pk=ready.pk).status == Order.Status.READY


# --- Cancel: supervisors only ------------------------------------------------------------------


def test_supervisor_cancels_with_a_reason_and_the_stock_goes_to_the_waiting_order(
    client, shop, place, make_product
):
    scarce = make_product(shop.acme, "A-SCARCE", stock={shop.east: 2})
    first = place(scarce, "A-FIRST", qty=2, priority=500)
    waiting = place(scarce, "A-WAITING", qty=2, priority=100)
    assert (first.status, waiting.status) == (Order.Status.READY, Order.Status.BACKORDERED)
    client.force_login(shop.supervisor)

    form_page = go(client, "cancel", [first])
    assert form_page.status_code == 200
    assert list(form_page.context["form"].fields) == ["reason"]
    refused = confirm(client, "cancel", [first], reason="")
    assert refused.context["form"].errors == {"reason": ["This field is required."]}
    assert Order.objects.get(pk=first.pk).status == Order.Status.READY

    done = confirm(client, "cancel", [first], reason="Customer withdrew")

    assert_back_on_queue(done)
    assert messages_of(done) == [("success", "Cancelled: 1 order(s) – A-FIRST")]
    first.refresh_from_db()
    line = first.lines.get()
    assert first.status == Order.Status.CANCELLED
    assert (line.qty_cancelled, line.qty_allocated) == (2, 0)
    event = first.events.get(kind=OrderEvent.Kind.CANCEL)
    assert (event.message, event.user) == ("Customer withdrew", shop.supervisor)
    assert Order.objects.get(pk=waiting.pk).status == Order.Status.READY
    assert StockLevel.objects.get(product=scarce).allocated == 2
    assert_stock_invariants()


def test_agent_cannot_cancel_even_by_posting_the_action(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    for response in (
        go(client, "cancel", [order]),
        confirm(client, "cancel", [order], reason="Because I can"),
    ):
        assert_back_on_queue(response)
        assert messages_of(response) == [("warning", "No action selected.")]
    assert state(order) == before
    assert not order.events.filter(kind=OrderEvent.Kind.CANCEL).exists()


def test_supervisor_of_another_client_cannot_cancel_this_clients_orders(client, shop, place):
    """The cancel permission comes with supervising NORD; for ACME the user is an agent."""
    acme_order = place(shop.acme_lamp, "A-1", priority=200)
    nord_order = place(shop.nord_lamp, "N-1", priority=100)
    acme_before = state(acme_order)
    client.force_login(shop.mixed)

    response = confirm(client, "cancel", [acme_order, nord_order], reason="Duplicate")

    assert_back_on_queue(response)
    assert messages_of(response) == [
        ("success", "Cancelled: 1 order(s) – N-1"),
        ("error", "A-1: you may not cancel this order."),
    ]
    assert state(acme_order) == acme_before
    assert Order.objects.get(pk=nord_order.pk).status == Order.Status.CANCELLED


# --- Re-run allocation ----------------------------------------------------------------------


def test_reallocate_after_a_warehouse_comes_back(client, shop, place, make_warehouse, make_product):
    north = make_warehouse("NORTH")
    part = make_product(shop.acme, "A-PART", stock={north: 5})
    Warehouse.objects.filter(pk=north.pk).update(active=False)  # closed for a stock count
    waiting = place(part, "A-WAIT", qty=2, priority=300)
    picking = place(shop.acme_lamp, "A-PICK", priority=200)
    services.order_move(order=picking, to_status="picking")
    assert waiting.status == Order.Status.BACKORDERED
    Warehouse.objects.filter(pk=north.pk).update(active=True)  # the count is done
    client.force_login(shop.agent)

    response = go(client, "reallocate", [waiting, picking])

    assert_back_on_queue(response)
    assert messages_of(response) == [
        ("success", "Allocation re-run: 1 order(s) – A-WAIT"),
        ("error", "A-PICK: Order A-PICK is Picking: nothing to allocate."),
    ]
    waiting.refresh_from_db()
    line = waiting.lines.get()
    assert waiting.status == Order.Status.READY
    assert (line.qty_allocated, line.qty_backordered) == (2, 0)
    assert waiting.events.filter(kind=OrderEvent.Kind.ALLOCATION, user=shop.agent).count() == 1
    assert Order.objects.get(pk=picking.pk).status == Order.Status.PICKING
    assert_stock_invariants()


# --- Pick and pack moves ------------------------------------------------------------------------


def test_move_to_picking_then_packed_reports_illegal_moves_as_messages(client, shop, place):
    ready = place(shop.acme_lamp, "A-READY", priority=200)
    short = place(shop.acme_rare, "A-SHORT", priority=100)
    client.force_login(shop.agent)

    picking = go(client, "move_to_picking", [ready, short])

    assert_back_on_queue(picking)
    assert messages_of(picking) == [
        ("success", "Moved to picking: 1 order(s) – A-READY"),
        (
            "error",
            "A-SHORT: Order A-SHORT cannot go from 'Backordered' to 'Picking' "
            "(allowed: Cancelled, On hold, Ready to pick).",
        ),
    ]
    assert dict(Order.objects.values_list("number", "status")) == {
        "A-READY": "picking",
        "A-SHORT": "backordered",
    }

    packed = go(client, "move_to_packed", [ready, short])

    assert_back_on_queue(packed)
    assert messages_of(packed) == [
        ("success", "Moved to packed: 1 order(s) – A-READY"),
        (
            "error",
            "A-SHORT: Order A-SHORT cannot go from 'Backordered' to 'Packed' "
            "(allowed: Cancelled, On hold, Ready to pick).",
        ),
    ]
    assert dict(Order.objects.values_list("number", "status")) == {
        "A-READY": "packed",
        "A-SHORT": "backordered",
    }
    assert list(
        Order.objects.get(pk=ready.pk)
        .events.filter(kind=OrderEvent.Kind.STATUS)
        .order_by("id")
        .values_list("from_status", "to_status", "user")
    ) == [("ready", "picking", shop.agent.pk), ("picking", "packed", shop.agent.pk)]


def test_packing_a_ready_order_is_refused_with_a_message(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    response = go(client, "move_to_packed", [order])

    assert_back_on_queue(response)
    assert messages_of(response) == [
        (
            "error",
            "A-1: Order A-1 cannot go from 'Ready to pick' to 'Packed' "
            "(allowed: Backordered, Cancelled, On hold, Picking).",
        )
    ]
    assert state(order) == before


# --- The single-order action URL ------------------------------------------------------------


def do_url(order: Order, action: str) -> str:
    return reverse("admin:orders_order_do", args=[order.pk, action])


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def test_order_page_hold_shows_form_refuses_empty_reason_then_holds(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    form_page = client.get(do_url(order, "hold"))
    assert form_page.status_code == 200
    assert form_page.context["title"] == "Place on hold: order A-1"
    assert list(form_page.context["form"].fields) == ["hold_type", "reason"]

    refused = client.post(do_url(order, "hold"), {"reason": ""})
    assert refused.status_code == 200
    assert refused.context["form"].errors == {"hold_type": ["This field is required."]}
    assert state(order) == before

    done = client.post(
        do_url(order, "hold"), {"hold_type": "other", "reason": "Address unclear"}, follow=True
    )
    assert done.redirect_chain == [(change_url(order), 302)]
    assert messages_of(done) == [("success", "Placed on hold: 1 order(s) – A-1")]
    order.refresh_from_db()
    assert (order.status, order.hold_reason) == (Order.Status.ON_HOLD, "Address unclear")

    released = client.post(do_url(order, "release"), follow=True)
    assert released.redirect_chain == [(change_url(order), 302)]
    assert Order.objects.get(pk=order.pk).status == Order.Status.READY


def test_order_page_expedite_runs_on_post_only(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    client.force_login(shop.agent)

    assert client.get(do_url(order, "expedite")).status_code == 405
    assert Order.objects.get(pk=order.pk).expedite is False

    response = client.post(do_url(order, "expedite"), follow=True)

    assert response.redirect_chain == [(change_url(order), 302)]
    assert messages_of(response) == [("success", "Expedited: 1 order(s) – A-1")]
    assert Order.objects.get(pk=order.pk).expedite is True


def test_order_page_assign_to_agent(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    client.force_login(shop.agent)

    form_page = client.get(do_url(order, "assign_to_agent"))
    assert [u.username for u in form_page.context["form"].fields["agent"].queryset] == [
        "acme-agent",
        "acme-colleague",
        "acme-supervisor",
        "mixed-user",
    ]
    refused = client.post(do_url(order, "assign_to_agent"), {"agent": shop.nord_agent.pk})
    assert refused.status_code == 200
    assert Order.objects.get(pk=order.pk).assigned_to is None

    done = client.post(do_url(order, "assign_to_agent"), {"agent": shop.colleague.pk})

    assert done.status_code == 302
    assert Order.objects.get(pk=order.pk).assigned_to == shop.colleague


def test_order_page_illegal_move_is_a_message(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)
    client.force_login(shop.agent)

    response = client.post(do_url(order, "move_to_packed"), follow=True)

    assert response.redirect_chain == [(change_url(order), 302)]
    assert messages_of(response) == [
        (
            "error",
            "A-1: Order A-1 cannot go from 'Ready to pick' to 'Packed' "
            "(allowed: Backordered, Cancelled, On hold, Picking).",
        )
    ]
    assert state(order) == before


def test_order_page_unknown_action_is_404(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    client.force_login(shop.agent)

    assert client.post(do_url(order, "delete")).status_code == 404
    assert Order.objects.filter(pk=order.pk).exists()


def test_order_page_cancel_is_for_the_clients_supervisor_only(client, shop, place):
    order = place(shop.acme_lamp, "A-1")
    before = state(order)

    for user in (shop.agent, shop.mixed):
        client.force_login(user)
        assert client.get(do_url(order, "cancel")).status_code == 403
        assert client.post(do_url(order, "cancel"), {"reason": "x"}).status_code == 403
        assert state(order) == before

    client.force_login(shop.supervisor)
    assert client.get(do_url(order, "cancel")).status_code == 200
    done = client.post(do_url(order, "cancel"), {"reason": "Duplicate order"}, follow=True)
    assert done.redirect_chain == [(change_url(order), 302)]
    assert messages_of(done) == [("success", "Cancelled: 1 order(s) – A-1")]
    assert Order.objects.get(pk=order.pk).status == Order.Status.CANCELLED


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("hold", {"hold_type": "other", "reason": "x"}),
        ("release", {}),
        ("expedite", {}),
        ("assign_to_me", {}),
        ("assign_to_agent", {"agent": "AGENT"}),
        ("reallocate", {}),
        ("move_to_picking", {}),
        ("move_to_packed", {}),
        ("cancel", {"reason": "x"}),
    ],
)
def test_order_page_actions_on_another_clients_order_are_404(client, shop, place, action, data):
    order = place(shop.nord_lamp, "N-1")
    before = state(order)
    data = {k: (shop.agent.pk if v == "AGENT" else v) for k, v in data.items()}
    client.force_login(shop.agent)

    assert client.get(do_url(order, action)).status_code == 404
    assert client.post(do_url(order, action), data).status_code == 404
    assert state(order) == before
    assert list(order.events.values_list("kind", flat=True)) == ["allocation", "created"]
