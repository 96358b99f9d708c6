"""Fulfillment pages through the test client: scoping, waves, packing, shipping, uploads, and
the actions fulfillment adds to the order changelist and order page."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse

from fulfillment import services
from fulfillment.models import Carrier, PickWave, Shipment, TrackingEvent
from orders.models import Order, OrderEvent
from orders.services import orders_flag_exception
from tests.factories import Shop
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(rates, make_shop) -> Shop:
    """The shared test world (tests/factories.py) with what this module uses."""
    return make_shop(
        acme={},
        nord={},
        products={
            "acme_lamp": ("acme", "A-LAMP", 100),
            "nord_lamp": ("nord", "N-LAMP", 100),
        },
        users={"agent": "agent", "supervisor": "boss", "nord_agent": "nordagent"},
    )


@pytest.fixture
def shipped_pair(shop, rates, make_order, to_status):
    """One shipped order (and a wave) per client."""
    made = {}
    for client, product, number in (
        (shop.acme, shop.acme_lamp, "TA"),
        (shop.nord, shop.nord_lamp, "TN"),
    ):
        wave_order = make_order(client, [(product, 1)])
        wave = services.wave_create(client=client, warehouse=shop.east, size=1)
        order = to_status(make_order(client, [(product, 2)]), "packed")
        shipment = services.shipment_create(
            order=order, service=rates.ground, tracking_number=f"{number}-1"
        )
        made[client.code] = {"wave": wave, "shipment": shipment, "wave_order": wave_order}
    return made


def test_agents_see_only_their_clients_shipments_waves_and_events(client, shop, shipped_pair):
    client.force_login(shop.agent)
    acme, nord = shipped_pair["ACME"], shipped_pair["NORD"]

    page = client.get(reverse("admin:fulfillment_shipment_changelist")).content.decode()
    assert "TA-1" in page and "TN-1" not in page
    page = client.get(reverse("admin:fulfillment_pickwave_changelist")).content.decode()
    assert acme["wave"].reference in page and nord["wave"].reference not in page
    page = client.get(reverse("admin:fulfillment_trackingevent_changelist")).content.decode()
    assert "TA-1" in page and "TN-1" not in page

    ok = client.get(reverse("admin:fulfillment_shipment_change", args=[acme["shipment"].pk]))
    assert ok.status_code == 200
    assert 'href="https://track.swift.example/t/TA-1"' in ok.content.decode()
    for url in (
        reverse("admin:fulfillment_shipment_change", args=[nord["shipment"].pk]),
        reverse("admin:fulfillment_pickwave_change", args=[nord["wave"].pk]),
        reverse("admin:fulfillment_pickwave_pick_list", args=[nord["wave"].pk]),
        reverse("admin:fulfillment_pickwave_packing_slips", args=[nord["wave"].pk]),
        reverse("admin:fulfillment_shipment_packing_slips") + f"?ids={nord['shipment'].order_id}",
    ):
        assert client.get(url).status_code == 404, url
    # Searching for the other client's tracking or order number finds nothing.
    for term in ("TN-1", nord["shipment"].order.number):
        page = client.get(reverse("admin:fulfillment_shipment_changelist"), {"q": term})
        assert list(page.context["cl"].result_list) == []
    page = client.get(reverse("admin:fulfillment_shipment_changelist"), {"q": "TA-1"})
    assert list(page.context["cl"].result_list) == [acme["shipment"]]


def test_agents_cannot_configure_carriers_or_upload_files(client, shop, rates):
    client.force_login(shop.agent)
    assert client.get(reverse("admin:fulfillment_carrier_changelist")).status_code == 403
    assert client.get(reverse("admin:fulfillment_trackingevent_upload")).status_code == 403
    client.force_login(shop.supervisor)
    page = client.get(reverse("admin:fulfillment_carrier_change", args=[rates.swift.pk]))
    assert page.status_code == 200
    assert "/webhooks/carriers/SWIFT/" in page.content.decode()
    assert client.get(reverse("admin:fulfillment_trackingevent_upload")).status_code == 200


def test_create_a_wave_open_its_pdfs_and_pack_from_the_wave_page(client, shop, make_order):
    orders = [make_order(shop.acme, [(shop.acme_lamp, 1)]) for _ in range(3)]
    make_order(shop.nord, [(shop.nord_lamp, 1)])
    client.force_login(shop.agent)
    add = client.get(reverse("admin:fulfillment_pickwave_add"))
    assert add.status_code == 200
    assert b"NORD" not in add.content  # the client choice and the ready table are scoped

    # Another client's id in the form is refused as an invalid choice.
    refused = client.post(
        reverse("admin:fulfillment_pickwave_add"),
        {"client": shop.nord.pk, "warehouse": shop.east.pk, "size": 5},
    )
    assert refused.status_code == 200 and not PickWave.objects.exists()

    response = client.post(
        reverse("admin:fulfillment_pickwave_add"),
        {"client": shop.acme.pk, "warehouse": shop.east.pk, "size": 2},
    )
    wave = PickWave.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:fulfillment_pickwave_change", args=[wave.pk])
    assert wave.order_count == 2 and wave.created_by == shop.agent
    detail = client.get(response["Location"]).content.decode()
    assert "A-LAMP" in detail and "Confirm packed" in detail

    for paper in ("a4", "letter"):
        pdf = client.get(
            reverse("admin:fulfillment_pickwave_pick_list", args=[wave.pk]) + f"?paper={paper}"
        )
        assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert f"-{paper}.pdf" in pdf["Content-Disposition"]

    first = wave.entries.order_by("sequence").first().order
    response = client.post(
        reverse("admin:fulfillment_pickwave_pack", args=[wave.pk]), {"orders": str(first.pk)}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == Order.Status.PACKED
    slips = client.get(reverse("admin:fulfillment_shipment_packing_slips") + f"?ids={first.pk}")
    assert slips["Content-Type"] == "application/pdf"
    # An order outside the wave is not packed through it.
    outside = next(o for o in orders if not o.wave_entries.exists())
    client.post(reverse("admin:fulfillment_pickwave_pack", args=[wave.pk]), {"orders": outside.pk})
    outside.refresh_from_db()
    assert outside.status == Order.Status.READY


def _bulk(client, action, orders, **extra):
    return client.post(
        reverse("admin:orders_order_changelist") + "?queue=all",
        {
            "action": action,
            "_selected_action": [o.pk for o in orders],
            "index": "0",
            "select_across": "0",
            **extra,
        },
    )


def test_bulk_wave_pack_and_ship_from_the_order_changelist(client, shop, rates, make_order):
    orders = [make_order(shop.acme, [(shop.acme_lamp, 1 + i)]) for i in range(3)]
    client.force_login(shop.agent)
    changelist = client.get(reverse("admin:orders_order_changelist")).content.decode()
    for action in ("action_create_wave", "action_pack", "action_ship", "action_packing_slips"):
        assert f'value="{action}"' in changelist

    response = _bulk(client, "action_create_wave", orders)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:fulfillment_pickwave_from_orders"))
    page = client.get(response["Location"]).content.decode()
    assert "ACME @ EAST: 3 order(s)" in page
    client.post(response["Location"])
    assert Order.objects.filter(status="picking").count() == 3

    response = _bulk(client, "action_pack", orders)
    assert response.status_code == 302
    assert Order.objects.filter(status="packed").count() == 3
    assert PickWave.objects.get().status == PickWave.Status.DONE

    response = _bulk(client, "action_ship", orders)
    ship_url = response["Location"]
    assert ship_url.startswith(reverse("admin:fulfillment_shipment_ship"))
    page = client.get(ship_url).content.decode()
    assert "(suggested)" in page
    data = {}
    for i, order in enumerate(orders):
        data[f"o{order.pk}-service"] = rates.economy.pk
        data[f"o{order.pk}-tracking_number"] = f"BULK-{i}" if i < 2 else ""
    data[f"o{orders[0].pk}-service"] = rates.express.pk  # the agent overrides one suggestion
    response = client.post(ship_url, data)
    assert response.status_code == 302
    shipped = Shipment.objects.order_by("tracking_number")
    assert [(s.tracking_number, s.service.code) for s in shipped] == [
        ("BULK-0", "EXPRESS"),
        ("BULK-1", "ECONOMY"),
    ]
    assert list(Order.objects.order_by("pk").values_list("status", flat=True)) == [
        "shipped",
        "shipped",
        "packed",  # no tracking number: not shipped
    ]
    assert_stock_invariants()


def test_ship_one_order_partially_from_its_page(client, shop, rates, make_order, to_status):
    order = to_status(make_order(shop.acme, [(shop.acme_lamp, 3)]), "packed")
    line = order.lines.get()
    client.force_login(shop.agent)
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "Ship…" in page and "Packing slip (PDF)" in page
    response = client.get(reverse("admin:orders_order_do", args=[order.pk, "ship"]))
    assert response["Location"] == reverse("admin:fulfillment_shipment_ship") + f"?ids={order.pk}"
    form = client.get(response["Location"]).content.decode()
    assert f'name="o{order.pk}-qty_{line.pk}"' in form

    prefix = f"o{order.pk}"
    bad = client.post(
        response["Location"],
        {
            f"{prefix}-service": rates.ground.pk,
            f"{prefix}-tracking_number": "P-1",
            f"{prefix}-qty_{line.pk}": 5,
        },
    )
    assert bad.status_code == 200 and not Shipment.objects.exists()
    assert "Ensure this value is less than or equal to 3" in bad.content.decode()

    ok = client.post(
        response["Location"],
        {
            f"{prefix}-service": rates.ground.pk,
            f"{prefix}-tracking_number": "P-1",
            f"{prefix}-qty_{line.pk}": 1,
        },
    )
    assert ok.status_code == 302
    assert ok["Location"] == reverse("admin:orders_order_change", args=[order.pk])
    order.refresh_from_db()
    line.refresh_from_db()
    assert order.status == Order.Status.PACKED and (line.qty_shipped, line.qty_allocated) == (1, 2)

    # The tracking number again: an error on the page, not a 500; nothing more ships.
    again = client.post(
        response["Location"],
        {
            f"{prefix}-service": rates.ground.pk,
            f"{prefix}-tracking_number": "P-1",
            f"{prefix}-qty_{line.pk}": 2,
        },
    )
    assert again.status_code == 200 and "already used" in again.content.decode()
    assert Shipment.objects.count() == 1

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'href="https://track.swift.example/t/P-1"' in page
    assert "Picking, packing and shipments" in page
    assert_stock_invariants()


def test_ship_page_ignores_other_clients_orders_and_lists_unshippable_ones(
    client, shop, make_order, to_status
):
    nord_order = to_status(make_order(shop.nord, [(shop.nord_lamp, 1)]), "packed")
    ready = make_order(shop.acme, [(shop.acme_lamp, 1)])
    client.force_login(shop.agent)
    url = reverse("admin:fulfillment_shipment_ship")
    assert client.get(f"{url}?ids={nord_order.pk}").status_code == 404
    page = client.get(f"{url}?ids={ready.pk},{nord_order.pk},junk").content.decode()
    assert "Not shippable now" in page and nord_order.number not in page


def test_exceptions_queue_lists_flagged_orders(client, shop, make_order):
    flagged = make_order(shop.acme, [(shop.acme_lamp, 1)])
    make_order(shop.acme, [(shop.acme_lamp, 1)])
    orders_flag_exception(reasons={flagged.pk: "Exception (SWIFT X): lost"})
    client.force_login(shop.agent)
    page = client.get(reverse("admin:orders_order_changelist") + "?queue=exceptions")
    numbers = [o.number for o in page.context["cl"].result_list]
    assert numbers == [flagged.number]
    detail = client.get(reverse("admin:orders_order_change", args=[flagged.pk])).content.decode()
    assert "Carrier exception:" in detail and "Clear carrier exception" in detail
    client.post(reverse("admin:orders_order_do", args=[flagged.pk, "clear_exception"]))
    flagged.refresh_from_db()
    assert not flagged.exception_flag
    assert flagged.events.first().kind == OrderEvent.Kind.RESOLVED


def _csv(text: str, name="status.csv"):
    upload = io.BytesIO(text.encode())
    upload.name = name
    return upload


def test_upload_a_status_file_with_row_errors(client, shop, shipped_pair, rates):
    client.force_login(shop.supervisor)
    url = reverse("admin:fulfillment_trackingevent_upload")
    text = (
        "tracking_number,status,time,location,description\n"
        "TA-1,in_transit,2026-01-05T10:00:00Z,Memphis,Departed\n"
        "TA-1,delivered,2026-01-06T10:00:00Z,,Front door\n"
        "TA-1,warp,2026-01-06T10:00:00Z,,\n"
        "TN-1,delivered,2026-01-06T10:00:00Z,,\n"  # NORD's: not this supervisor's
    )
    check = client.post(url, {"carrier": rates.swift.pk, "file": _csv(text), "check_only": "on"})
    assert check.status_code == 200
    assert not TrackingEvent.objects.filter(source="csv").exists()
    assert "Check only" in check.content.decode()

    response = client.post(url, {"carrier": rates.swift.pk, "file": _csv(text)})
    html = response.content.decode()
    assert response.status_code == 200
    assert "row 4: unknown status" in html
    assert "row 5: TN-1" in html
    assert TrackingEvent.objects.filter(source="csv").count() == 2
    acme_order = shipped_pair["ACME"]["shipment"].order
    acme_order.refresh_from_db()
    assert acme_order.status == Order.Status.DELIVERED
    nord_shipment = shipped_pair["NORD"]["shipment"]
    nord_shipment.refresh_from_db()
    assert nord_shipment.status == "label_created"

    again = client.post(url, {"carrier": rates.swift.pk, "file": _csv(text)})
    assert 'id="duplicate-count">2<' in again.content.decode()
    assert TrackingEvent.objects.filter(source="csv").count() == 2


@pytest.mark.parametrize(
    "content",
    ["", "just,some,columns\n1,2,3\n", "tracking_number,status\n\x00\x00"],
)
def test_unreadable_uploads_show_a_form_error(client, shop, rates, content):
    client.force_login(shop.supervisor)
    response = client.post(
        reverse("admin:fulfillment_trackingevent_upload"),
        {"carrier": rates.swift.pk, "file": _csv(content)},
    )
    assert response.status_code == 200
    assert response.context["form"].errors


def test_not_utf8_upload_is_a_form_error(client, shop, rates):
    client.force_login(shop.supervisor)
    upload = io.BytesIO("tracking_number,status,time\nÄ1,delivered,2026-01-01\n".encode("cp1252"))
    upload.name = "latin.csv"
    response = client.post(
        reverse("admin:fulfillment_trackingevent_upload"),
        {"carrier": rates.swift.pk, "file": upload},
    )
    assert response.status_code == 200
    assert "not UTF-8" in response.content.decode()


def test_carrier_tracking_template_is_validated(client, shop):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        reverse("admin:fulfillment_carrier_add"),
        {
            "name": "Bad",
            "code": "BAD",
            "tracking_url_template": "javascript:alert(1)",
            "active": "on",
            "webhook_secret": "s",
            "services-TOTAL_FORMS": "0",
            "services-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert not Carrier.objects.filter(code="BAD").exists()
