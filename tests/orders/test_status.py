"""The order status machine: the table, the one function that enforces it, hold and release."""

from __future__ import annotations

import pytest

from orders.exceptions import InvalidOrderStatus, OrderValidationError
from orders.models import Order, OrderEvent
from orders.services import (
    TRANSITIONS,
    order_cancel,
    order_hold,
    order_move,
    order_release,
)
from orders.services.status import set_status
from tests.invariants import assert_stock_invariants

S = Order.Status

ALLOWED = sorted((src, dst) for src, targets in TRANSITIONS.items() for dst in targets)
FORBIDDEN = sorted(
    (src, dst)
    for src in TRANSITIONS
    if src != S.ON_HOLD
    for dst in S.values
    if dst not in TRANSITIONS[src]
)
# An order on hold may only go back where it came from (here: ready) or be cancelled.
FORBIDDEN_FROM_HOLD = [s for s in S.values if s not in (S.READY, S.CANCELLED)]


@pytest.fixture
def agent(make_user, retailer):
    return make_user(clients=[retailer])


@pytest.fixture
def product(retailer, make_product, make_warehouse):
    return make_product(retailer, stock={make_warehouse(): 10})


@pytest.fixture
def order_in(retailer, product, make_order):
    """An order put straight into ``status`` (bypassing the machine, to test the machine)."""

    def make(status: str, hold_from: str = "") -> Order:
        order = make_order(retailer, [(product, 1)], allocate=False)
        Order.objects.filter(pk=order.pk).update(status=status, hold_from_status=hold_from)
        order.refresh_from_db()
        return order

    return make


def _snapshot(order: Order) -> tuple:
    fresh = Order.objects.get(pk=order.pk)
    return (
        fresh.status,
        fresh.segment,
        fresh.hold_from_status,
        fresh.hold_reason,
        fresh.updated_at,
        OrderEvent.objects.filter(order=order).count(),
    )


def test_table_covers_every_status():
    assert set(TRANSITIONS) == set(S.values)
    for targets in TRANSITIONS.values():
        assert targets <= set(S.values)
    assert TRANSITIONS[S.SHIPPED] == {S.DELIVERED}
    assert TRANSITIONS[S.DELIVERED] == frozenset()
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    for status in (S.NEW, S.BACKORDERED, S.READY, S.PICKING, S.PACKED, S.ON_HOLD):
        assert S.CANCELLED in TRANSITIONS[status], f"{status} cannot be cancelled"


@pytest.mark.parametrize(("src", "dst"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_allowed_transition_moves_and_writes_event(order_in, agent, src, dst):
    # Leaving hold is only allowed back to where the order came from (or to cancelled).
    hold_from = (dst if dst != S.CANCELLED else S.READY) if src == S.ON_HOLD else ""
    order = order_in(src, hold_from=hold_from)
    if dst == S.ON_HOLD:
        order.hold_from_status = src  # what order_hold does before moving
    events_before = OrderEvent.objects.filter(order=order).count()

    event = set_status(order, dst, user=agent, message="by test")

    fresh = Order.objects.get(pk=order.pk)
    assert fresh.status == dst
    assert OrderEvent.objects.filter(order=order).count() == events_before + 1
    saved = OrderEvent.objects.filter(order=order).latest("id")
    assert saved.pk == event.pk
    assert (saved.kind, saved.from_status, saved.to_status, saved.user_id, saved.message) == (
        OrderEvent.Kind.STATUS,
        src,
        dst,
        agent.pk,
        "by test",
    )
    if dst in (S.SHIPPED, S.DELIVERED, S.CANCELLED):
        assert fresh.segment == Order.Segment.CLOSED
    elif dst == S.ON_HOLD:
        assert fresh.segment == Order.Segment.ON_HOLD
    elif dst == S.BACKORDERED:
        assert fresh.segment == Order.Segment.BACKORDERED
    else:
        assert fresh.segment == Order.Segment.STANDARD  # due in ~71 h, not expedited


@pytest.mark.parametrize(("src", "dst"), FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_forbidden_transition_raises_and_changes_nothing(order_in, agent, src, dst):
    order = order_in(src)
    before = _snapshot(order)

    with pytest.raises(InvalidOrderStatus):
        set_status(order, dst, user=agent)

    assert order.status == src  # not even the instance moved
    assert _snapshot(order) == before


@pytest.mark.parametrize("dst", FORBIDDEN_FROM_HOLD)
def test_on_hold_only_goes_back_where_it_came_from(order_in, agent, dst):
    order = order_in(S.ON_HOLD, hold_from=S.READY)
    before = _snapshot(order)

    with pytest.raises(InvalidOrderStatus):
        set_status(order, dst, user=agent)

    assert _snapshot(order) == before


def test_unknown_status_is_refused(order_in, agent):
    order = order_in(S.READY)
    before = _snapshot(order)
    with pytest.raises(InvalidOrderStatus, match="not an order status"):
        set_status(order, "lost", user=agent)
    assert _snapshot(order) == before


def test_same_status_is_refused_with_clear_message(order_in):
    order = order_in(S.PICKING)
    with pytest.raises(InvalidOrderStatus, match="already Picking"):
        set_status(order, S.PICKING)


def test_error_message_lists_allowed_moves(order_in):
    order = order_in(S.SHIPPED)
    with pytest.raises(InvalidOrderStatus) as info:
        set_status(order, S.PICKING)
    assert str(info.value) == (
        f"Order {order.number} cannot go from 'Shipped' to 'Picking' (allowed: Delivered)."
    )


def _move_to(order: Order, status: str, agent) -> Order:
    """Bring an allocated (ready) order to ``status`` through the services."""
    if status in (S.PICKING, S.PACKED):
        order = order_move(order=order, to_status=S.PICKING, user=agent)
    if status == S.PACKED:
        order = order_move(order=order, to_status=S.PACKED, user=agent)
    return order


@pytest.mark.parametrize("status", [S.READY, S.PICKING, S.PACKED])
def test_hold_remembers_status_and_release_returns_to_it(
    retailer, product, make_order, agent, status
):
    order = _move_to(make_order(retailer, [(product, 2)]), status, agent)
    assert order.status == status

    held = order_hold(order=order, reason="  customer called  ", user=agent)

    held.refresh_from_db()
    assert (held.status, held.hold_from_status, held.hold_reason, held.segment) == (
        S.ON_HOLD,
        status,
        "customer called",
        Order.Segment.ON_HOLD,
    )
    event = held.events.latest("id")
    assert (event.kind, event.from_status, event.to_status, event.user_id, event.message) == (
        OrderEvent.Kind.HOLD,
        status,
        S.ON_HOLD,
        agent.pk,
        "customer called",
    )
    # Holding does not give the reserved stock away.
    assert held.lines.get().qty_allocated == 2

    released = order_release(order=held, user=agent)

    released.refresh_from_db()
    assert (released.status, released.hold_from_status, released.hold_reason) == (status, "", "")
    assert released.segment == Order.Segment.STANDARD
    event = released.events.latest("id")
    assert (event.kind, event.from_status, event.to_status, event.user_id) == (
        OrderEvent.Kind.RELEASE,
        S.ON_HOLD,
        status,
        agent.pk,
    )
    assert event.message == "Released (was held: customer called)."
    assert released.lines.get().qty_allocated == 2
    assert_stock_invariants()


def test_release_of_backordered_order_returns_to_backordered(
    retailer, make_product, make_warehouse, make_order, agent
):
    make_warehouse()
    product = make_product(retailer)  # no stock anywhere
    order = make_order(retailer, [(product, 3)])
    assert order.status == S.BACKORDERED

    order_hold(order=order, reason="address check", user=agent)
    released = order_release(order=order, user=agent, note="address fine")

    assert released.status == S.BACKORDERED
    assert released.segment == Order.Segment.BACKORDERED
    assert released.lines.get().qty_backordered == 3
    release = released.events.get(kind=OrderEvent.Kind.RELEASE)
    assert (release.from_status, release.to_status, release.message) == (
        S.ON_HOLD,
        S.BACKORDERED,
        "address fine",
    )
    assert_stock_invariants()


def test_release_of_new_order_returns_to_new_then_allocates(retailer, product, make_order, agent):
    order = make_order(retailer, [(product, 4)], allocate=False)
    order_hold(order=order, reason="fraud check", user=agent)

    released = order_release(order=order, user=agent)

    assert released.status == S.READY
    assert released.lines.get().qty_allocated == 4
    events = list(
        released.events.order_by("id").values_list("kind", "from_status", "to_status", "user")
    )
    assert events == [
        (OrderEvent.Kind.CREATED, "", S.NEW, None),
        (OrderEvent.Kind.HOLD, S.NEW, S.ON_HOLD, agent.pk),
        (OrderEvent.Kind.RELEASE, S.ON_HOLD, S.NEW, agent.pk),
        (OrderEvent.Kind.ALLOCATION, S.NEW, S.READY, agent.pk),
    ]
    assert_stock_invariants()


@pytest.mark.parametrize("status", [S.NEW, S.READY, S.BACKORDERED, S.PICKING, S.SHIPPED])
def test_release_of_order_not_on_hold_errors(order_in, agent, status):
    order = order_in(status)
    before = _snapshot(order)
    with pytest.raises(InvalidOrderStatus, match="is not on hold"):
        order_release(order=order, user=agent)
    assert _snapshot(order) == before


@pytest.mark.parametrize("status", [S.SHIPPED, S.DELIVERED, S.CANCELLED, S.ON_HOLD])
def test_hold_of_closed_or_held_order_is_refused(order_in, agent, status):
    order = order_in(status, hold_from=S.READY if status == S.ON_HOLD else "")
    before = _snapshot(order)
    with pytest.raises(InvalidOrderStatus):
        order_hold(order=order, reason="why not", user=agent)
    assert _snapshot(order) == before


def test_hold_needs_a_reason(order_in, agent):
    order = order_in(S.READY)
    before = _snapshot(order)
    with pytest.raises(OrderValidationError):
        order_hold(order=order, reason="   ", user=agent)
    assert _snapshot(order) == before


def test_cancel_from_hold_clears_hold_fields(retailer, product, make_order, agent):
    order = make_order(retailer, [(product, 1)])
    order_hold(order=order, reason="waiting for payment", user=agent)

    cancelled = order_cancel(order=order, reason="never paid", user=agent)

    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.hold_from_status, cancelled.hold_reason) == (
        S.CANCELLED,
        "",
        "",
    )
    assert cancelled.segment == Order.Segment.CLOSED
    event = cancelled.events.latest("id")
    assert (event.kind, event.from_status, event.to_status, event.user_id, event.message) == (
        OrderEvent.Kind.CANCEL,
        S.ON_HOLD,
        S.CANCELLED,
        agent.pk,
        "never paid",
    )
    assert_stock_invariants()


def test_every_move_writes_an_event_with_from_to_and_user(
    retailer, product, make_order, make_user, agent
):
    supervisor = make_user(clients=[retailer])
    order = make_order(retailer, [(product, 1)], user=supervisor)
    order_move(order=order, to_status=S.PICKING, user=agent)
    order_move(order=order, to_status=S.READY, user=agent, note="wrong bin")
    order_move(order=order, to_status=S.PICKING, user=agent)
    order_move(order=order, to_status=S.PACKED, user=supervisor)
    order_hold(order=order, reason="label printer down", user=agent)
    order_release(order=order, user=supervisor)
    set_status(Order.objects.get(pk=order.pk), S.SHIPPED, user=agent)
    set_status(Order.objects.get(pk=order.pk), S.DELIVERED, user=None)

    assert list(
        order.events.order_by("id").values_list("kind", "from_status", "to_status", "user")
    ) == [
        (OrderEvent.Kind.CREATED, "", S.NEW, supervisor.pk),
        (OrderEvent.Kind.ALLOCATION, S.NEW, S.READY, supervisor.pk),
        (OrderEvent.Kind.STATUS, S.READY, S.PICKING, agent.pk),
        (OrderEvent.Kind.STATUS, S.PICKING, S.READY, agent.pk),
        (OrderEvent.Kind.STATUS, S.READY, S.PICKING, agent.pk),
        (OrderEvent.Kind.STATUS, S.PICKING, S.PACKED, supervisor.pk),
        (OrderEvent.Kind.HOLD, S.PACKED, S.ON_HOLD, agent.pk),
        (OrderEvent.Kind.RELEASE, S.ON_HOLD, S.PACKED, supervisor.pk),
        (OrderEvent.Kind.STATUS, S.PACKED, S.SHIPPED, agent.pk),
        (OrderEvent.Kind.STATUS, S.SHIPPED, S.DELIVERED, None),
    ]
    assert order.events.get(to_status=S.READY, from_status=S.PICKING).message == "wrong bin"
    assert Order.objects.get(pk=order.pk).status == S.DELIVERED


@pytest.mark.parametrize("to_status", [S.SHIPPED, S.DELIVERED, S.CANCELLED, S.ON_HOLD, S.NEW])
def test_order_move_only_makes_pick_pack_moves(order_in, agent, to_status):
    order = order_in(S.PACKED)
    before = _snapshot(order)
    with pytest.raises(InvalidOrderStatus, match="not a move made by hand"):
        order_move(order=order, to_status=to_status, user=agent)
    assert _snapshot(order) == before


def test_order_move_back_to_ready_only_from_picking(order_in, agent):
    order = order_in(S.PACKED)
    before = _snapshot(order)
    with pytest.raises(InvalidOrderStatus, match="Only an order being picked"):
        order_move(order=order, to_status=S.READY, user=agent)
    assert _snapshot(order) == before
