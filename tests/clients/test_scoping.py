"""Tenancy in the admin: a user sees and reaches only the rows of the clients they belong to.

The issue's acceptance, for every client-owned admin (Client, Product, StockLevel,
StockMovement, Customer, Order): the ACME agent sees none of another client's rows in a
changelist, a search, the autocomplete endpoint or a foreign-key choice, and gets 404 on
another client's change, history and delete pages. A supervisor of two clients sees exactly
those two; a superuser sees every client.

Every tenant's identifiers carry its client code (``NORD-LAMP``, ``NORD-1001``) or a unique
name, so "absent from the page" is a plain substring check on the rendered HTML.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from clients import roles
from clients.models import Client, Membership
from clients.services import membership_remove, membership_set
from inventory import services as inventory
from inventory.models import Product, StockLevel, StockMovement
from orders.models import Customer, Order, OrderEvent

pytestmark = pytest.mark.django_db


@dataclass
class Tenant:
    """One retailer with one row in every client-owned table."""

    client: Client
    product: Product
    stock_level: StockLevel
    movement: StockMovement
    customer: Customer
    order: Order

    @property
    def forbidden(self) -> list[str]:
        """Strings that must never reach a user who does not work for this client."""
        return [
            self.client.code,
            self.client.name,
            self.product.sku,
            self.customer.name,
            self.order.number,
        ]


@dataclass
class World:
    acme: Tenant
    nord: Tenant
    kiwi: Tenant


TENANTS = [
    # code, client name, customer name: every client name ends in "Retail", every product,
    # customer and stock reference contains "lantern", so one search term matches all tenants.
    ("ACME", "Acme Outdoor Retail", "Alice Lantern"),
    ("NORD", "Nordlicht Home Retail", "Nils Lantern"),
    ("KIWI", "Kiwi Kids Retail", "Kiri Lantern"),
]


@pytest.fixture
def world(make_client, make_warehouse, make_product, make_customer, make_order) -> World:
    warehouse = make_warehouse("EAST")
    tenants = []
    for code, name, customer_name in TENANTS:
        client = make_client(code, name=name)
        product = make_product(client, f"{code}-LAMP", name=f"{code.title()} lantern")
        stock_level = inventory.stock_receive(
            product=product, warehouse=warehouse, quantity=10, reference="Lantern delivery"
        )
        customer = make_customer(
            client, name=customer_name, email=f"{code.lower()}-buyer@example.com"
        )
        order = make_order(client, [(product, 1)], customer=customer, number=f"{code}-1001")
        tenants.append(
            Tenant(
                client=client,
                product=product,
                stock_level=stock_level,
                movement=StockMovement.objects.get(product=product),
                customer=customer,
                order=order,
            )
        )
    return World(*tenants)


@pytest.fixture
def agent(world, make_user):
    """The ACME agent of the acceptance criterion."""
    return make_user("acme-agent", clients=[world.acme.client], role=Membership.Role.AGENT)


@pytest.fixture
def supervisor(world, make_user):
    return make_user(
        "two-client-supervisor",
        clients=[world.acme.client, world.nord.client],
        role=Membership.Role.SUPERVISOR,
    )


@pytest.fixture
def superuser(world, django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


@dataclass(frozen=True)
class AdminSpec:
    app_label: str
    model_name: str
    attr: str  # the Tenant attribute holding this admin's row
    search_term: str  # matches the row of every tenant

    def row(self, tenant: Tenant):
        return getattr(tenant, self.attr)

    def url(self, view: str, *args) -> str:
        return reverse(f"admin:{self.app_label}_{self.model_name}_{view}", args=args)


SCOPED_ADMINS = [
    AdminSpec("clients", "client", "client", "Retail"),
    AdminSpec("inventory", "product", "product", "lantern"),
    AdminSpec("inventory", "stocklevel", "stock_level", "lantern"),
    AdminSpec("inventory", "stockmovement", "movement", "lantern"),
    AdminSpec("orders", "customer", "customer", "Lantern"),
    AdminSpec("orders", "order", "order", "Lantern"),
]
ADMIN_IDS = [spec.model_name for spec in SCOPED_ADMINS]


def _pks(response) -> set[int]:
    return {obj.pk for obj in response.context["cl"].result_list}


def _assert_hidden(html: str, *tenants: Tenant) -> None:
    for tenant in tenants:
        for text in tenant.forbidden:
            assert text not in html, f"{text!r} of {tenant.client.code} leaked into the page"


def test_every_client_owned_model_has_a_scoped_admin():
    """A new client-owned admin that forgets the mixin would silently show every client."""
    from clients.scoping import ClientScopedAdminMixin, client_field_of

    superuser_only = {Membership}  # MembershipAdmin answers every permission with is_superuser
    client_owned = [
        model
        for model in admin.site._registry
        if client_field_of(model) is not None and model not in superuser_only
    ]
    assert {m._meta.model_name for m in client_owned} >= set(ADMIN_IDS)
    for model in client_owned:
        assert isinstance(admin.site._registry[model], ClientScopedAdminMixin), model


# --- Changelists and search ------------------------------------------------------------------


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_agent_changelist_shows_only_own_client(client, agent, world, spec):
    client.force_login(agent)
    response = client.get(spec.url("changelist"))
    assert response.status_code == 200
    assert _pks(response) == {spec.row(world.acme).pk}
    html = response.content.decode()
    assert world.acme.client.code in html
    _assert_hidden(html, world.nord, world.kiwi)


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_agent_search_finds_only_own_client(client, agent, world, spec):
    client.force_login(agent)
    response = client.get(spec.url("changelist"), {"q": spec.search_term})
    assert response.status_code == 200
    assert _pks(response) == {spec.row(world.acme).pk}
    _assert_hidden(response.content.decode(), world.nord, world.kiwi)


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_agent_filtering_by_another_client_finds_nothing(client, agent, world, spec):
    """Hand-made filter URLs (``?client__id__exact=`` / ``?pk=``) cannot widen the scope."""
    client.force_login(agent)
    field = "id" if spec.model_name == "client" else "client__id__exact"
    response = client.get(spec.url("changelist"), {field: world.nord.client.pk})
    # The admin either ignores an unknown lookup (redirect with ?e=1) or applies it: never
    # does it show the other client's row.
    if response.status_code == 200:
        assert _pks(response) == set()
        _assert_hidden(response.content.decode(), world.nord, world.kiwi)
    else:
        assert response.status_code == 302


def test_agent_search_for_another_clients_identifiers_finds_nothing(client, agent, world):
    client.force_login(agent)
    searches = [
        ("inventory", "product", world.nord.product.sku),
        ("inventory", "stocklevel", world.nord.product.sku),
        ("inventory", "stockmovement", world.nord.product.sku),
        ("orders", "customer", world.nord.customer.email),
        ("orders", "order", world.nord.order.number),
        ("clients", "client", world.nord.client.code),
    ]
    for app_label, model_name, term in searches:
        response = client.get(reverse(f"admin:{app_label}_{model_name}_changelist"), {"q": term})
        assert response.status_code == 200
        assert _pks(response) == set(), (model_name, term)


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_supervisor_of_two_clients_sees_both_but_not_a_third(client, supervisor, world, spec):
    client.force_login(supervisor)
    response = client.get(spec.url("changelist"), {"q": spec.search_term})
    assert response.status_code == 200
    assert _pks(response) == {spec.row(world.acme).pk, spec.row(world.nord).pk}
    _assert_hidden(response.content.decode(), world.kiwi)


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_superuser_sees_every_client(client, superuser, world, spec):
    client.force_login(superuser)
    response = client.get(spec.url("changelist"))
    assert response.status_code == 200
    assert _pks(response) == {spec.row(t).pk for t in (world.acme, world.nord, world.kiwi)}


def test_user_without_membership_sees_nothing(client, world, make_user):
    user = make_user("nobody")
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    client.force_login(user)
    for spec in SCOPED_ADMINS:
        response = client.get(spec.url("changelist"))
        assert response.status_code == 200
        assert _pks(response) == set(), spec.model_name


def test_deactivated_client_disappears_from_its_agents_view(client, supervisor, world):
    Client.objects.filter(pk=world.nord.client.pk).update(active=False)
    client.force_login(supervisor)
    response = client.get(reverse("admin:orders_order_changelist"))
    assert _pks(response) == {world.acme.order.pk}
    response = client.get(reverse("admin:orders_order_change", args=[world.nord.order.pk]))
    assert response.status_code == 404


def test_admin_index_names_no_other_client(client, agent, world):
    client.force_login(agent)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    _assert_hidden(response.content.decode(), world.nord, world.kiwi)


# --- Autocomplete ------------------------------------------------------------------------------

# For each scoped admin, a foreign key that points at its model: the autocomplete endpoint is
# reachable through any such field (autocomplete_fields or not), so it must be scoped itself.
# StockMovement is left out: no foreign key points at the ledger, so the endpoint cannot list it.
AUTOCOMPLETE_SOURCES = {
    "client": ("inventory", "product", "client"),
    "product": ("inventory", "stocklevel", "product"),
    "stocklevel": ("orders", "orderline", "backorder_level"),
    "customer": ("orders", "order", "customer"),
    "order": ("orders", "orderevent", "order"),
}
AUTOCOMPLETE_SPECS = [s for s in SCOPED_ADMINS if s.model_name in AUTOCOMPLETE_SOURCES]


def _autocomplete(client, spec: AdminSpec, term: str):
    app_label, model_name, field_name = AUTOCOMPLETE_SOURCES[spec.model_name]
    return client.get(
        reverse("admin:autocomplete"),
        {"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term},
    )


def _result_ids(response) -> set[int]:
    assert response.status_code == 200, response.content[:500]
    return {int(item["id"]) for item in response.json()["results"]}


@pytest.mark.parametrize("spec", AUTOCOMPLETE_SPECS, ids=lambda s: s.model_name)
def test_agent_autocomplete_offers_only_own_client(client, agent, world, spec):
    client.force_login(agent)
    response = _autocomplete(client, spec, spec.search_term)
    assert _result_ids(response) == {spec.row(world.acme).pk}
    _assert_hidden(response.content.decode(), world.nord, world.kiwi)


@pytest.mark.parametrize("spec", AUTOCOMPLETE_SPECS, ids=lambda s: s.model_name)
def test_agent_autocomplete_with_empty_term_lists_only_own_client(client, agent, world, spec):
    client.force_login(agent)
    assert _result_ids(_autocomplete(client, spec, "")) == {spec.row(world.acme).pk}


@pytest.mark.parametrize("spec", AUTOCOMPLETE_SPECS, ids=lambda s: s.model_name)
def test_supervisor_autocomplete_offers_both_clients_not_a_third(client, supervisor, world, spec):
    client.force_login(supervisor)
    assert _result_ids(_autocomplete(client, spec, spec.search_term)) == {
        spec.row(world.acme).pk,
        spec.row(world.nord).pk,
    }


@pytest.mark.parametrize("spec", AUTOCOMPLETE_SPECS, ids=lambda s: s.model_name)
def test_superuser_autocomplete_offers_every_client(client, superuser, world, spec):
    client.force_login(superuser)
    assert _result_ids(_autocomplete(client, spec, spec.search_term)) == {
        spec.row(t).pk for t in (world.acme, world.nord, world.kiwi)
    }


def test_agent_cannot_autocomplete_users(client, agent, world):
    """Order.assigned_to points at users: agents have no view permission on them."""
    client.force_login(agent)
    response = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "orders", "model_name": "order", "field_name": "assigned_to", "term": ""},
    )
    assert response.status_code == 403


# --- Foreign-key choices -------------------------------------------------------------------------

# Every foreign key of a scoped admin's model that points at a client-owned model.
SCOPED_FOREIGN_KEYS = [
    (Product, "client"),
    (StockLevel, "client"),
    (StockLevel, "product"),
    (StockMovement, "client"),
    (StockMovement, "product"),
    (StockMovement, "stock_level"),
    (Customer, "client"),
    (Order, "client"),
    (Order, "customer"),
]


def _owner(obj) -> int:
    return obj.pk if isinstance(obj, Client) else obj.client_id


@pytest.mark.parametrize(
    ("model", "field_name"),
    SCOPED_FOREIGN_KEYS,
    ids=[f"{m._meta.model_name}.{f}" for m, f in SCOPED_FOREIGN_KEYS],
)
def test_foreign_key_choices_are_scoped(world, agent, supervisor, superuser, model, field_name):
    """The shared helper behind every admin form, raw-id and autocomplete widget included."""
    model_admin = admin.site._registry[model]
    db_field = model._meta.get_field(field_name)
    expected = {
        agent: {world.acme.client.pk},
        supervisor: {world.acme.client.pk, world.nord.client.pk},
        superuser: {world.acme.client.pk, world.nord.client.pk, world.kiwi.client.pk},
    }
    if (model, field_name) == (Product, "client"):
        expected[agent] = set()  # a product's client: only the clients one supervises
    for user, client_ids in expected.items():
        request = RequestFactory().get("/")
        request.user = user
        formfield = model_admin.formfield_for_foreignkey(db_field, request)
        assert {_owner(obj) for obj in formfield.queryset} == client_ids, user.username


def test_customer_add_form_offers_only_the_agents_client(client, agent, world):
    client.force_login(agent)
    response = client.get(reverse("admin:orders_customer_add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["client"].queryset) == [world.acme.client]
    _assert_hidden(response.content.decode(), world.nord, world.kiwi)


def test_customer_add_rejects_another_clients_id(client, agent, world):
    client.force_login(agent)
    before = Customer.objects.count()
    response = client.post(
        reverse("admin:orders_customer_add"),
        {"client": world.nord.client.pk, "name": "Smuggled In", "tier": "standard"},
    )
    assert response.status_code == 200  # the form again, with an error
    assert "client" in response.context["adminform"].form.errors
    assert Customer.objects.count() == before


def test_customer_add_for_own_client_works(client, agent, world):
    client.force_login(agent)
    response = client.post(
        reverse("admin:orders_customer_add"),
        {"client": world.acme.client.pk, "name": "Walk-in Buyer", "tier": "standard"},
    )
    assert response.status_code == 302
    assert Customer.objects.get(name="Walk-in Buyer").client == world.acme.client


def test_product_add_form_offers_the_supervisors_two_clients(client, supervisor, world):
    client.force_login(supervisor)
    response = client.get(reverse("admin:inventory_product_add"))
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["client"].queryset
    assert set(choices) == {world.acme.client, world.nord.client}
    _assert_hidden(response.content.decode(), world.kiwi)


def test_product_add_rejects_a_third_client(client, supervisor, world):
    client.force_login(supervisor)
    response = client.post(
        reverse("admin:inventory_product_add"),
        {"client": world.kiwi.client.pk, "sku": "KIWI-SMUGGLED", "name": "x", "unit_cost": "1"},
    )
    assert response.status_code == 200
    assert "client" in response.context["adminform"].form.errors
    assert not Product.objects.filter(sku="KIWI-SMUGGLED").exists()


def test_agent_may_not_add_products(client, agent, world):
    client.force_login(agent)
    assert client.get(reverse("admin:inventory_product_add")).status_code == 403


def test_superuser_product_add_form_offers_every_client(client, superuser, world):
    client.force_login(superuser)
    response = client.get(reverse("admin:inventory_product_add"))
    choices = response.context["adminform"].form.fields["client"].queryset
    assert set(choices) == {world.acme.client, world.nord.client, world.kiwi.client}


# --- Object pages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["change", "history", "delete"])
@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_agent_gets_404_on_another_clients_object_pages(client, agent, world, spec, view):
    client.force_login(agent)
    for other in (world.nord, world.kiwi):
        response = client.get(spec.url(view, spec.row(other).pk))
        assert response.status_code == 404, (spec.model_name, view, other.client.code)
        _assert_hidden(response.content.decode(), world.nord, world.kiwi)


@pytest.mark.parametrize("view", ["change", "history"])
@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_agent_opens_own_clients_object_pages(client, agent, world, spec, view):
    client.force_login(agent)
    response = client.get(spec.url(view, spec.row(world.acme).pk))
    assert response.status_code == 200
    _assert_hidden(response.content.decode(), world.nord, world.kiwi)


def test_missing_object_is_the_same_404_as_another_clients(client, agent, world):
    """No hint whether an id exists: another client's order looks exactly like no order."""
    client.force_login(agent)
    missing = client.get(reverse("admin:orders_order_change", args=[999_999]))
    foreign = client.get(reverse("admin:orders_order_change", args=[world.nord.order.pk]))
    assert missing.status_code == foreign.status_code == 404


@pytest.mark.parametrize("spec", SCOPED_ADMINS, ids=ADMIN_IDS)
def test_supervisor_gets_404_on_a_third_clients_change_page(client, supervisor, world, spec):
    client.force_login(supervisor)
    assert client.get(spec.url("change", spec.row(world.nord).pk)).status_code == 200
    assert client.get(spec.url("change", spec.row(world.kiwi).pk)).status_code == 404


def test_agent_cannot_change_another_clients_order_by_post(client, agent, world):
    client.force_login(agent)
    order = world.nord.order
    response = client.post(
        reverse("admin:orders_order_change", args=[order.pk]), {"ship_to_name": "Hijacked"}
    )
    assert response.status_code == 404
    order.refresh_from_db()
    assert order.ship_to_name != "Hijacked"


def _expedite_action_name(user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    names = [n for n in admin.site._registry[Order].get_actions(request) if "expedite" in n]
    assert len(names) == 1, names
    return names[0]


def test_agent_bulk_action_skips_another_clients_order(client, agent, world):
    """Actions run on the scoped queryset: a foreign pk slipped into the POST is dropped."""
    client.force_login(agent)
    events_before = OrderEvent.objects.filter(order=world.nord.order).count()
    response = client.post(
        reverse("admin:orders_order_changelist"),
        {
            "action": _expedite_action_name(agent),
            "_selected_action": [world.acme.order.pk, world.nord.order.pk],
        },
    )
    assert response.status_code == 302
    world.acme.order.refresh_from_db()
    world.nord.order.refresh_from_db()
    assert world.acme.order.expedite is True  # the action did run...
    assert world.nord.order.expedite is False  # ...but never on the other client's order
    assert OrderEvent.objects.filter(order=world.nord.order).count() == events_before


def test_agent_single_order_action_on_another_clients_order_is_404(client, agent, world):
    client.force_login(agent)
    response = client.post(reverse("admin:orders_order_do", args=[world.nord.order.pk, "expedite"]))
    assert response.status_code == 404
    world.nord.order.refresh_from_db()
    assert world.nord.order.expedite is False


def test_take_next_never_hands_out_another_clients_order(client, agent, world, make_user):
    colleague = make_user("colleague", clients=[world.acme.client])
    Order.objects.filter(pk=world.acme.order.pk).update(assigned_to=colleague)
    client.force_login(agent)
    response = client.post(reverse("admin:orders_order_take_next"))
    assert response.status_code == 302
    assert not Order.objects.filter(assigned_to=agent).exists()
    assert Order.objects.get(pk=world.nord.order.pk).assigned_to is None


def test_stock_receipt_form_rejects_a_third_clients_product(client, supervisor, world):
    client.force_login(supervisor)
    movements_before = StockMovement.objects.count()
    response = client.post(
        reverse("admin:inventory_stocklevel_receive"),
        {
            "product": world.kiwi.product.pk,
            "warehouse": world.kiwi.stock_level.warehouse_id,
            "quantity": 5,
            "reference": "smuggled",
        },
    )
    assert response.status_code == 200
    assert "product" in response.context["form"].errors
    assert StockMovement.objects.count() == movements_before


@pytest.fixture
def mixed_role_user(world, make_user):
    """Agent of ACME, supervisor of KIWI: the Supervisor group's permissions are global."""
    user = make_user("mixed", clients=[world.acme.client], role=Membership.Role.AGENT)
    membership_set(user=user, client=world.kiwi.client, role=Membership.Role.SUPERVISOR)
    return user


def test_supervising_one_client_grants_no_catalogue_changes_on_another(
    client, mixed_role_user, world
):
    """Adding and editing products is supervisor work *for that client* (roles.py)."""
    client.force_login(mixed_role_user)
    acme_product = world.acme.product
    change_url = reverse("admin:inventory_product_change", args=[acme_product.pk])
    assert client.get(change_url).status_code == 200  # still visible to the ACME agent...
    response = client.post(
        change_url, {"sku": acme_product.sku, "name": "Renamed by an agent", "unit_cost": "1"}
    )
    assert response.status_code == 403  # ...but not editable
    acme_product.refresh_from_db()
    assert acme_product.name != "Renamed by an agent"

    response = client.get(reverse("admin:inventory_product_add"))
    assert list(response.context["adminform"].form.fields["client"].queryset) == [world.kiwi.client]
    response = client.post(
        reverse("admin:inventory_product_add"),
        {"client": world.acme.client.pk, "sku": "ACME-NEW", "name": "x", "unit_cost": "1"},
    )
    assert response.status_code == 200
    assert "client" in response.context["adminform"].form.errors
    assert not Product.objects.filter(sku="ACME-NEW").exists()

    # On KIWI, where the user is supervisor, the catalogue is theirs to edit.
    kiwi_product = world.kiwi.product
    response = client.post(
        reverse("admin:inventory_product_change", args=[kiwi_product.pk]),
        {"sku": kiwi_product.sku, "name": "Renamed by the supervisor", "unit_cost": "2"},
    )
    assert response.status_code == 302
    kiwi_product.refresh_from_db()
    assert kiwi_product.name == "Renamed by the supervisor"


# --- Roles, site-wide settings -----------------------------------------------------------------


def _group_perms(name: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=name).permissions.select_related("content_type")
    }


def test_role_groups_hold_every_declared_permission():
    """roles.py is the one table; a typo there would silently grant nothing."""
    for group_name, table in roles.ROLE_PERMISSIONS.items():
        declared = {
            "{}.{}".format(*roles._codename(model_label, action))
            for model_label, actions in table.items()
            for action in actions
        }
        assert _group_perms(group_name) == declared, group_name


def test_agent_and_supervisor_permissions_differ_where_it_matters():
    agent_perms = _group_perms(roles.AGENT)
    supervisor_perms = _group_perms(roles.SUPERVISOR)
    assert {
        "orders.view_order",
        "orders.change_order",
        "orders.add_customer",
        "inventory.view_product",
        "inventory.view_stocklevel",
        "clients.view_client",
    } <= agent_perms
    assert not agent_perms & {
        "orders.cancel_order",
        "orders.import_orders",
        "inventory.add_product",
        "inventory.receive_stock",
        "inventory.adjust_stock",
        "clients.change_priority_weights",
    }
    assert agent_perms < supervisor_perms
    assert {
        "orders.cancel_order",
        "orders.import_orders",
        "inventory.add_product",
        "inventory.receive_stock",
        "inventory.adjust_stock",
        "inventory.transfer_stock",
        "clients.change_priority_weights",
    } <= supervisor_perms
    for perms in (agent_perms, supervisor_perms):
        assert not {p for p in perms if p.split(".")[1].startswith("delete_")}


def test_membership_set_puts_user_in_role_groups_and_makes_staff(make_client, make_user):
    acme, nord = make_client("ACME"), make_client("NORD")
    user = make_user("newcomer")
    assert not user.is_staff
    assert not user.groups.exists()

    membership_set(user=user, client=acme, role=Membership.Role.AGENT)
    user.refresh_from_db()
    assert user.is_staff
    assert set(user.groups.values_list("name", flat=True)) == {roles.AGENT}
    assert user.has_perm("orders.change_order")
    assert not user.has_perm("orders.cancel_order")

    membership_set(user=user, client=nord, role=Membership.Role.SUPERVISOR)
    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {roles.AGENT, roles.SUPERVISOR}

    # Promotion on ACME: the agent role is gone, so is the Agent group.
    membership_set(user=user, client=acme, role=Membership.Role.SUPERVISOR)
    user.refresh_from_db()
    assert set(user.groups.values_list("name", flat=True)) == {roles.SUPERVISOR}
    assert Membership.objects.filter(user=user).count() == 2

    for membership in Membership.objects.filter(user=user):
        membership_remove(membership=membership)
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.groups.exists()


def test_delete_selected_is_offered_nowhere(client, superuser, world):
    request = RequestFactory().get("/")
    request.user = superuser
    assert "delete_selected" not in dict(admin.site.actions)
    for model, model_admin in admin.site._registry.items():
        assert "delete_selected" not in model_admin.get_actions(request), model
    client.force_login(superuser)
    for spec in SCOPED_ADMINS:
        response = client.get(spec.url("changelist"))
        assert b'value="delete_selected"' not in response.content, spec.model_name


def test_admin_site_header_is_bpo_back_office(client, agent):
    assert admin.site.site_header == "BPO Back-Office"
    client.force_login(agent)
    response = client.get(reverse("admin:index"))
    assert response.context["site_header"] == "BPO Back-Office"
    assert b"BPO Back-Office" in response.content
