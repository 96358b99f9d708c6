"""Shared fixtures: small factories for the domain, used by every test folder."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from clients.models import Client, Membership
from clients.services import membership_set
from inventory import services as inventory
from inventory.models import Product, Warehouse
from orders import services as order_services
from orders.models import Customer, Order
from orders.services import LineInput
from tests.factories import FAST_PASSWORD_HASHERS, Shop, build_shop

_seq = itertools.count(1)


@pytest.fixture
def make_client(db):
    def make(code: str | None = None, **kwargs) -> Client:
        code = code or f"C{next(_seq)}"
        kwargs.setdefault("name", f"Client {code}")
        kwargs.setdefault("currency", "USD")
        return Client.objects.create(code=code, **kwargs)

    return make


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, *, clients=(), role=Membership.Role.AGENT, **kwargs):
        user = get_user_model().objects.create_user(
            username=username or f"user{next(_seq)}", password="pw", **kwargs
        )
        for client in clients:
            membership_set(user=user, client=client, role=role)
        user.refresh_from_db()
        return user

    return make


@pytest.fixture
def make_warehouse(db):
    def make(code: str | None = None, **kwargs) -> Warehouse:
        code = code or f"W{next(_seq)}"
        return Warehouse.objects.create(code=code, name=kwargs.pop("name", code), **kwargs)

    return make


@pytest.fixture
def make_product(db):
    def make(client: Client, sku: str | None = None, *, stock: dict | None = None, **kwargs):
        product = Product.objects.create(
            client=client,
            sku=sku or f"SKU-{next(_seq)}",
            name=kwargs.pop("name", "Thing"),
            **kwargs,
        )
        for warehouse, qty in (stock or {}).items():
            inventory.stock_receive(product=product, warehouse=warehouse, quantity=qty)
        return product

    return make


@pytest.fixture
def make_customer(db):
    def make(client: Client, tier: str = Customer.Tier.STANDARD, **kwargs) -> Customer:
        n = next(_seq)
        return Customer.objects.create(
            client=client,
            name=kwargs.pop("name", f"Customer {n}"),
            email=kwargs.pop("email", f"customer{n}@example.com"),
            tier=tier,
            **kwargs,
        )

    return make


@pytest.fixture
def make_order(db):
    """``make_order(client, [(product, qty), ...], **order_create kwargs)`` via the service."""

    def make(client: Client, lines, **kwargs) -> Order:
        kwargs.setdefault("number", f"ORD-{next(_seq)}")
        kwargs.setdefault("placed_at", timezone.now() - timedelta(hours=1))
        return order_services.order_create(
            client=client,
            lines=[LineInput(product=p, quantity=q, unit_price=Decimal("10.00")) for p, q in lines],
            **kwargs,
        )

    return make


@pytest.fixture
def retailer(make_client):
    """One client with default settings (default priority weights, USD)."""
    return make_client()


@pytest.fixture
def make_shop(make_client, make_warehouse, make_product, make_user):
    """``make_shop(products=…, users=…)``: the shared test world (see tests/factories.py)."""

    def make(**kwargs) -> Shop:
        return build_shop(
            make_client=make_client,
            make_warehouse=make_warehouse,
            make_product=make_product,
            make_user=make_user,
            **kwargs,
        )

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """For every test (and a live server's thread: ``settings`` is process-wide). The real
    hasher costs ~0.5 s per user on this hardware; tests check behaviour, not it. Do not
    redefine it in a module."""
    settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS
