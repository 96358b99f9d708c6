"""One test world, built by :func:`build_shop` (the ``make_shop`` fixture of tests/conftest.py).

Two retailers, ACME and NORD (a tenant and "someone else's data"), warehouses, products with
stock, and the people who work them: each test module asks for the products and people it
needs, under the attribute names it uses, instead of declaring a world of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from clients.models import Client, Membership
from clients.services import membership_set
from inventory.models import Product, Warehouse

AGENT, SUPERVISOR = Membership.Role.AGENT, Membership.Role.SUPERVISOR
# What tests hash passwords with (tests/conftest.py sets it for every test).
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# role → (default username, {client: role}): who a ``users=`` entry makes.
PEOPLE: dict[str, tuple[str, dict[str, str]]] = {
    "agent": ("acme-agent", {"acme": AGENT}),
    "colleague": ("acme-colleague", {"acme": AGENT}),
    "supervisor": ("acme-supervisor", {"acme": SUPERVISOR}),
    "nord_agent": ("nord-agent", {"nord": AGENT}),
    "nord_supervisor": ("nord-supervisor", {"nord": SUPERVISOR}),
    # supervises NORD but is only an agent of ACME: roles are checked per client
    "mixed": ("mixed-user", {"nord": SUPERVISOR, "acme": AGENT}),
    # supervises ACME but is only an agent of NORD
    "acme_supervisor_nord_agent": ("sup", {"acme": SUPERVISOR, "nord": AGENT}),
}


@dataclass
class Shop:
    """The world: ``shop.acme``, ``shop.east``, ``shop.agent``, and each product under the
    attribute name the module gave it (``shop.acme_lamp``, ``shop.lamp``…)."""

    acme: Client
    nord: Client
    warehouses: dict[str, Warehouse]
    products: dict[str, Product] = field(default_factory=dict)
    people: dict[str, object] = field(default_factory=dict)

    def __getattr__(self, name: str):
        for group in ("products", "people", "warehouses"):
            found = self.__dict__.get(group, {})
            if name in found:
                return found[name]
            if group == "warehouses" and name.upper() in found:
                return found[name.upper()]
        raise AttributeError(name)


def build_shop(
    *,
    make_client: Callable,
    make_warehouse: Callable,
    make_product: Callable,
    make_user: Callable,
    products: Mapping[str, tuple[str, str, int | Mapping[str, int]]] = (),
    users: Mapping[str, str | tuple[str, str]] | tuple[str, ...] = (),
    warehouses: tuple[str, ...] = ("EAST",),
    acme: Mapping | None = None,
    nord: Mapping | None = None,
) -> Shop:
    """Clients ACME and NORD (``acme``/``nord``: extra ``make_client`` arguments; by default
    their trading names), ``warehouses`` by code, then ``products`` as ``{attribute: (client,
    sku, stock)}`` (stock: units at the first warehouse, or ``{code: units}``), then
    ``users``: role names of :data:`PEOPLE` (a mapping gives another username, or a
    ``(people role, username)`` pair)."""
    shop = Shop(
        acme=make_client("ACME", **({"name": "Acme Outdoor"} if acme is None else acme)),
        nord=make_client("NORD", **({"name": "Nordlicht Home"} if nord is None else nord)),
        warehouses={code: make_warehouse(code) for code in warehouses},
    )
    first = shop.warehouses[warehouses[0]] if warehouses else None
    for attr, (client, sku, stock) in dict(products).items():
        if isinstance(stock, Mapping):
            stock = {shop.warehouses[code]: qty for code, qty in stock.items()}
        else:
            stock = {first: stock} if stock else {}
        shop.products[attr] = make_product(getattr(shop, client), sku, stock=stock)
    wanted = users.items() if isinstance(users, Mapping) else ((u, None) for u in users)
    for attr, spec in wanted:
        if isinstance(spec, tuple):
            role, username = spec
        else:
            role, username = attr, spec
        default_name, memberships = PEOPLE[role]
        (first_client, first_role), *others = memberships.items()
        user = make_user(
            username or default_name, clients=[getattr(shop, first_client)], role=first_role
        )
        for client, client_role in others:
            membership_set(user=user, client=getattr(shop, client), role=client_role)
        shop.people[attr] = user
    return shop
