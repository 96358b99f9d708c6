"""seed_demo: demo data for a laptop, never for production, and safe to run again."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from billing.demo import DEMO_ORDERS
from clients import roles
from clients.models import Client, Membership
from clients.scoping import client_ids_for
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from orders.models import Customer, Order, OrderEvent, OrderLine
from tests.factories import FAST_PASSWORD_HASHERS

pytestmark = pytest.mark.django_db

User = get_user_model()
ORDERS_PER_CLIENT = 60


def _seed() -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--orders", str(ORDERS_PER_CLIENT), stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    models = [
        Client,
        Warehouse,
        Product,
        StockLevel,
        StockMovement,
        Customer,
        Order,
        OrderLine,
        OrderEvent,
        Membership,
        User,
    ]
    return {model._meta.label: model.objects.count() for model in models}


def test_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", "--orders", "1", stdout=StringIO())
    assert not Client.objects.exists()
    assert not User.objects.exists()


@pytest.fixture(scope="module")
def _seeded_once(django_db_setup, django_db_blocker):
    """Seed once for the module inside a transaction that is rolled back at its end.

    Each test still runs in its own savepoint (the ``db`` fixture), so a test that changes the
    data (a second run, a changed password) leaves the next test the pristine seed.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
            output = _seed()
        yield output
        transaction.set_rollback(True)


@pytest.fixture
def seeded(_seeded_once) -> str:
    return _seeded_once


def test_creates_clients_stock_customers_and_a_backlog(seeded):
    assert set(Client.objects.values_list("code", flat=True)) >= {"ACME", "NORD", "KIWI"}
    assert Warehouse.objects.count() >= 2
    for client in Client.objects.all():
        assert Product.objects.filter(client=client).count() > 0, client
        assert StockLevel.objects.filter(client=client, on_hand__gt=0).exists(), client
        assert StockMovement.objects.filter(client=client).exists(), client
        assert Customer.objects.filter(client=client).count() > 0, client
        # … plus the backordered demo order a replenishment PO will cover
        # + the backordered demo order, + billing's demo orders (payment and credit holds)
        billing_demo = DEMO_ORDERS.get(client.code, [])
        assert Order.objects.filter(client=client).count() == (
            ORDERS_PER_CLIENT + 1 + len(billing_demo)
        ), client
        demo = Order.objects.get(client=client, number=f"{client.code}-DEMO-BO")
        assert demo.status == Order.Status.BACKORDERED
        assert demo.lines.get().expected_source.startswith("no purchase order covers")
    assert OrderLine.objects.filter(order__client__code="ACME").exists()
    assert "Demo data ready" in seeded


def test_replenishment_demo_data(seeded):
    from inventory.models import PurchaseOrder, ReorderRule, Supplier, SupplierProduct
    from inventory.selectors import late_purchase_orders

    for client in Client.objects.all():
        assert Supplier.objects.filter(client=client).count() == 2, client
        assert SupplierProduct.objects.filter(client=client, preferred=True).count() == (
            Product.objects.filter(client=client).count()
        )
        assert ReorderRule.objects.filter(client=client).count() == (
            StockLevel.objects.filter(client=client).count()
        )
        late = late_purchase_orders(PurchaseOrder.objects.filter(client=client))
        assert late.count() == 1, client


def test_backlog_spans_the_working_statuses(seeded):
    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses >= {
        Order.Status.READY,
        Order.Status.BACKORDERED,
        Order.Status.ON_HOLD,
        Order.Status.PICKING,
        Order.Status.PACKED,
        Order.Status.CANCELLED,
    }
    # Every move is on the order's timeline.
    held = Order.objects.filter(status=Order.Status.ON_HOLD).first()
    assert held.hold_reason
    assert OrderEvent.objects.filter(order=held).count() >= 2


def test_demo_users_can_log_in_with_their_documented_roles(seeded):
    acme, nord, kiwi = (Client.objects.get(code=c) for c in ("ACME", "NORD", "KIWI"))

    admin = User.objects.get(username="admin")
    assert admin.check_password("admin")
    assert admin.is_superuser and admin.is_staff and admin.is_active
    assert client_ids_for(admin) is None  # every client

    supervisor = User.objects.get(username="supervisor")
    assert supervisor.check_password("supervisor")
    assert supervisor.is_staff and not supervisor.is_superuser
    assert set(Membership.objects.filter(user=supervisor).values_list("client__code", "role")) == {
        (c.code, Membership.Role.SUPERVISOR) for c in (acme, nord, kiwi)
    }
    assert set(supervisor.groups.values_list("name", flat=True)) == {roles.SUPERVISOR}
    assert supervisor.has_perm("orders.cancel_order")

    agent = User.objects.get(username="agent")
    assert agent.check_password("agent")
    assert agent.is_staff and not agent.is_superuser
    assert list(Membership.objects.filter(user=agent).values_list("client__code", "role")) == [
        ("ACME", Membership.Role.AGENT)
    ]
    assert set(agent.groups.values_list("name", flat=True)) == {roles.AGENT}
    assert client_ids_for(agent) == frozenset({acme.pk})
    assert agent.has_perm("orders.change_order")
    assert not agent.has_perm("orders.cancel_order")


def test_second_run_creates_nothing_and_restores_demo_passwords(seeded):
    agent = User.objects.get(username="agent")
    agent.set_password("forgotten")
    agent.save()
    before = _counts()
    statuses_before = dict(Order.objects.values_list("number", "status"))

    output = _seed()

    assert _counts() == before
    assert dict(Order.objects.values_list("number", "status")) == statuses_before
    assert "(0 new orders)" in output
    for username in ("admin", "supervisor", "agent"):
        assert User.objects.get(username=username).check_password(username), username


def test_prints_its_progress_step_by_step(seeded):
    lines = seeded.splitlines()
    steps = [line for line in lines if line.startswith("[") and "s] " in line]
    assert any("ACME: orders 1/60" in line for line in steps)
    assert any("ACME: allocating" in line for line in steps)
    assert any("KIWI: orders 60/60" in line for line in steps)
    assert lines.index(steps[0]) < lines.index(steps[-1]) < len(lines) - 1
