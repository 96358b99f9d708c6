"""The order entry page (keyed-in phone and e-mail orders) through the test client.

Every order it creates takes the one intake path (``services.order_key_in`` →
``orders_create_batch``): these tests check what the agent sees (field errors, stock, the
outcome message) and what is written (order, lines, customer, timeline) — and that nothing is
written when the input is refused.
"""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from orders.models import Customer, Order, OrderEvent
from tests.factories import Shop

pytestmark = pytest.mark.django_db

ADD = "admin:orders_order_add"
PRODUCTS = "admin:orders_order_entry_products"
CUSTOMERS = "admin:orders_order_entry_customers"


@pytest.fixture
def shop(make_shop) -> Shop:
    return make_shop(
        products={
            "lamp": ("acme", "A-LAMP", {"EAST": 50, "WEST": 5}),
            "rare": ("acme", "A-RARE", {"EAST": 2}),
            "nord_lamp": ("nord", "N-LAMP", 100),
        },
        warehouses=("EAST", "WEST"),
        users=("agent", "nord_agent", "mixed"),
    )


def post_data(client_obj, lines, **fields) -> dict:
    data = {
        "client": str(client_obj.pk),
        "number": "",
        "customer_id": "",
        "customer_name": "Ada Phone",
        "customer_email": "ada@example.com",
        "customer_phone": "+44 20 7946 0000",
        "service_level": "standard",
        "ship_to_name": "Ada Phone",
        "ship_to_address1": "1 Main St",
        "ship_to_city": "London",
        "ship_to_postcode": "N1 1AA",
        "ship_to_country": "GB",
        "note": "Called at 10:05, paid by card.",
        "lines-TOTAL_FORMS": "4",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "50",
    }
    for i in range(4):
        sku, qty = lines[i] if i < len(lines) else ("", "")
        data[f"lines-{i}-sku"] = sku
        data[f"lines-{i}-quantity"] = str(qty)
    data.update(fields)
    return data


def test_agent_opens_the_entry_page_and_sees_only_own_clients(client, shop):
    client.force_login(shop.agent)
    response = client.get(reverse(ADD))
    assert response.status_code == 200
    choices = [str(c) for c in response.context["form"].fields["client"].queryset]
    assert choices == [str(shop.acme)]
    assert b'id="order-entry"' in response.content
    assert b"<script>" not in response.content


def test_queue_offers_the_add_button(client, shop):
    client.force_login(shop.agent)
    response = client.get(reverse("admin:orders_order_changelist"))
    assert reverse(ADD).encode() in response.content


def test_keyed_in_order_ready(client, shop):
    client.force_login(shop.agent)
    response = client.post(reverse(ADD), post_data(shop.acme, [("A-LAMP", 3)], number="PH-1"))
    order = Order.objects.get(client=shop.acme, number="PH-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    assert order.status == Order.Status.READY
    assert order.source == Order.Source.MANUAL
    assert order.ship_to_city == "London"
    assert order.ship_by is not None and order.priority_score > 0
    line = order.lines.get()
    assert (line.product_id, line.quantity, line.qty_allocated) == (shop.lamp.pk, 3, 3)
    customer = order.customer
    assert (customer.name, customer.email, customer.phone) == (
        "Ada Phone",
        "ada@example.com",
        "+44 20 7946 0000",
    )
    event = OrderEvent.objects.get(order=order, kind=OrderEvent.Kind.CREATED)
    assert event.message == "Called at 10:05, paid by card." and event.user == shop.agent
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == [
        f"Order PH-1 created: {order.get_status_display().lower()} (every unit reserved)."
    ]


def test_keyed_in_order_for_scarce_sku_is_backordered_with_what_is_short(client, shop):
    client.force_login(shop.agent)
    response = client.post(
        reverse(ADD), post_data(shop.acme, [("a-rare", 5), ("A-LAMP", 1)]), follow=True
    )
    order = Order.objects.get(client=shop.acme)
    assert order.number.startswith("ACME-P")
    assert order.status == Order.Status.BACKORDERED
    rare = order.lines.get(product=shop.rare)
    assert (rare.qty_allocated, rare.qty_backordered) == (2, 3)
    (text,) = [str(m) for m in response.context["messages"]]
    assert f"Order {order.number} created and backordered: short A-RARE ×3." in text
    assert response.request["PATH_INFO"] == reverse("admin:orders_order_change", args=[order.pk])


def test_existing_customer_chosen_by_id(client, shop, make_customer):
    ada = make_customer(shop.acme, name="Ada Known", email="known@example.com")
    client.force_login(shop.agent)
    client.post(
        reverse(ADD),
        post_data(shop.acme, [("A-LAMP", 1)], number="PH-2", customer_id=str(ada.pk)),
    )
    assert Order.objects.get(number="PH-2").customer_id == ada.pk
    assert Customer.objects.filter(client=shop.acme).count() == 1


def test_same_email_matches_the_existing_customer(client, shop, make_customer):
    ada = make_customer(shop.acme, name="Ada", email="ada@example.com")
    client.force_login(shop.agent)
    client.post(reverse(ADD), post_data(shop.acme, [("A-LAMP", 1)], number="PH-3"))
    assert Order.objects.get(number="PH-3").customer_id == ada.pk


@pytest.mark.parametrize(
    ("fields", "lines", "field", "message"),
    [
        ({}, [("NOPE", 1)], "sku", "No product with SKU 'NOPE' for ACME."),
        ({}, [("N-LAMP", 1)], "sku", "No product with SKU 'N-LAMP' for ACME."),
        ({}, [("A-LAMP", 0)], "quantity", "Ensure this value is greater than or equal to 1."),
        ({}, [("A-LAMP", "")], "quantity", "How many?"),
        ({"ship_to_country": "GBR"}, [("A-LAMP", 1)], "ship_to_country", "at most 2"),
        ({"number": "X" * 65}, [("A-LAMP", 1)], "number", "at most 64"),
        (
            {"customer_name": "", "customer_email": ""},
            [("A-LAMP", 1)],
            "customer_name",
            "Choose a customer",
        ),
        ({"customer_email": "not-an-email"}, [("A-LAMP", 1)], "customer_email", "valid email"),
    ],
)
def test_bad_input_gets_field_errors_and_writes_nothing(
    client, shop, fields, lines, field, message
):
    client.force_login(shop.agent)
    response = client.post(reverse(ADD), post_data(shop.acme, lines, **fields))
    assert response.status_code == 200
    form, formset = response.context["form"], response.context["lines"]
    errors = formset.forms[0].errors.get(field, []) if field in ("sku", "quantity") else []
    errors += form.errors.get(field, [])
    assert any(message.lower() in e.lower() for e in errors), (form.errors, formset.errors)
    assert not Order.objects.exists()
    assert not Customer.objects.exists()


def test_no_lines_is_an_error(client, shop):
    client.force_login(shop.agent)
    response = client.post(reverse(ADD), post_data(shop.acme, []))
    assert response.context["lines"].non_form_errors() == ["Add at least one product."]
    assert not Order.objects.exists()


def test_duplicate_number_is_a_number_error(client, shop, make_order):
    make_order(shop.acme, [(shop.lamp, 1)], number="PH-9")
    client.force_login(shop.agent)
    response = client.post(reverse(ADD), post_data(shop.acme, [("A-LAMP", 1)], number="PH-9"))
    assert response.context["form"].errors["number"] == ["Order PH-9 already exists for ACME."]
    assert Order.objects.count() == 1
    assert not Customer.objects.exists()  # the new customer went with the refused order


def test_another_clients_customer_or_client_is_refused(client, shop, make_customer):
    nord_customer = make_customer(shop.nord)
    client.force_login(shop.agent)
    response = client.post(
        reverse(ADD),
        post_data(shop.acme, [("A-LAMP", 1)], customer_id=str(nord_customer.pk)),
    )
    assert "customer_name" in response.context["form"].errors
    response = client.post(reverse(ADD), post_data(shop.nord, [("N-LAMP", 1)]))
    assert "client" in response.context["form"].errors
    assert not Order.objects.exists()


def test_permissions(client, shop, make_user):
    nobody = make_user("no-client-user", is_staff=True)
    client.force_login(nobody)
    assert client.get(reverse(ADD)).status_code == 403
    assert client.get(reverse(PRODUCTS), {"client": shop.acme.pk, "q": "A"}).status_code == 403


def test_products_json_shows_available_stock_per_warehouse(client, shop, make_order):
    make_order(shop.acme, [(shop.lamp, 10)])  # 10 of EAST's 50 reserved
    client.force_login(shop.agent)
    data = client.get(reverse(PRODUCTS), {"client": shop.acme.pk, "q": "lamp"}).json()
    assert data["products"] == [
        {
            "id": shop.lamp.pk,
            "sku": "A-LAMP",
            "name": shop.lamp.name,
            "stock": [
                {"warehouse": "EAST", "available": 40},
                {"warehouse": "WEST", "available": 5},
            ],
            "available": 45,
        }
    ]
    exact = client.get(reverse(PRODUCTS), {"client": shop.acme.pk, "sku": "A-RARE"}).json()
    assert [p["available"] for p in exact["products"]] == [2]


def test_json_endpoints_are_scoped(client, shop, make_customer):
    make_customer(shop.nord, name="Nora Nord", phone="5550101")
    client.force_login(shop.agent)
    assert client.get(reverse(PRODUCTS), {"client": shop.nord.pk, "q": "N"}).status_code == 404
    assert client.get(reverse(CUSTOMERS), {"client": shop.nord.pk, "q": "Nora"}).status_code == 404
    client.force_login(shop.nord_agent)
    found = client.get(reverse(CUSTOMERS), {"client": shop.nord.pk, "q": "555-0101"}).json()
    assert [c["name"] for c in found["customers"]] == ["Nora Nord"]


def test_customers_json_finds_by_name_email_or_phone(client, shop, make_customer):
    make_customer(shop.acme, name="Grace Hopper", email="grace@navy.example", phone="+1 555 0100")
    make_customer(shop.acme, name="Alan Turing", email="alan@example.com")
    client.force_login(shop.agent)
    for term in ("grace", "NAVY.example", "555 0100", "5550100", "+1-555-0100"):
        found = client.get(reverse(CUSTOMERS), {"client": shop.acme.pk, "q": term}).json()
        assert [c["name"] for c in found["customers"]] == ["Grace Hopper"], term
