"""Issue #11 finding 2: roles are per client. A user who supervises KIWI but is only an agent of
ACME holds the Supervisor group's (global) permissions, yet must not do supervisor work on ACME.

Every supervisor-only endpoint of every app is run twice against ACME's data: as that mixed
user (refused, nothing changes) and as ACME's supervisor (done), so each check can fail.
The tracking upload is the reported case: it flagged ACME's orders as exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from clients.models import Client, Membership
from clients.services import membership_set
from fulfillment import services as fulfillment_services
from fulfillment.models import Carrier, CarrierAccount, CarrierService, TrackingEvent
from inventory.models import Product, StockLevel, StockMovement, Warehouse
from orders import services as order_services
from orders.importing.jobs import import_job_create
from orders.models import ImportJob, Order
from tests.orders.import_files import NATIVE_HEADER, csv_bytes, native_order

pytestmark = pytest.mark.django_db


@dataclass
class World:
    acme: Client
    kiwi: Client
    east: Warehouse
    lamp: Product  # ACME's
    order: Order  # ACME's, ready
    shipped: Order  # ACME's, shipped with SWIFT tracking number A-TRK-1
    job: ImportJob  # ACME's, previewed
    account: CarrierAccount  # ACME's account with SWIFT
    swift: Carrier
    mixed: object  # agent of ACME, supervisor of KIWI
    acme_boss: object  # supervisor of ACME


def _order_file() -> SimpleUploadedFile:
    rows = native_order("IMP-1", [("LAMP", "1", "10.00")], customer_email="a@x.io")
    return SimpleUploadedFile("orders.csv", csv_bytes(NATIVE_HEADER, rows), content_type="text/csv")


@pytest.fixture
def world(make_client, make_warehouse, make_product, make_order, make_user) -> World:
    acme, kiwi = make_client("ACME"), make_client("KIWI")
    east = make_warehouse("EAST")
    lamp = make_product(acme, "LAMP", stock={east: 50})
    make_product(kiwi, "K-LAMP", stock={east: 50})
    swift = Carrier.objects.create(
        name="SwiftParcel",
        code="SWIFT",
        tracking_url_template="https://track.swift.example/t/{tracking_number}",
        webhook_secret="swift-secret-0123456789abcdef",
    )
    ground = CarrierService.objects.create(
        carrier=swift, code="GROUND", name="Ground", transit_days=3, price=Decimal("5.00")
    )
    order = make_order(acme, [(lamp, 1)])
    shipped = make_order(acme, [(lamp, 1)])
    order_services.order_move(order=shipped, to_status="picking")
    order_services.order_move(order=shipped, to_status="packed")
    fulfillment_services.shipment_create(order=shipped, service=ground, tracking_number="A-TRK-1")
    mixed = make_user("mixed", clients=[acme], role=Membership.Role.AGENT)
    membership_set(user=mixed, client=kiwi, role=Membership.Role.SUPERVISOR)
    acme_boss = make_user("acmeboss", clients=[acme], role=Membership.Role.SUPERVISOR)
    job = import_job_create(client=acme, user=acme_boss, upload=_order_file())
    assert job.status == ImportJob.Status.PREVIEWED
    account = CarrierAccount.objects.create(client=acme, carrier=swift, account_number="ACC-1")
    order.refresh_from_db()
    assert order.status == Order.Status.READY
    return World(acme, kiwi, east, lamp, order, shipped, job, account, swift, mixed, acme_boss)


# -- the endpoints: each posts one supervisor-only change to ACME's data ------------------------
def _status_file(w: World):
    when = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = f"tracking_number,status,time,location,description\nA-TRK-1,exception,{when},X,evil\n"
    upload = SimpleUploadedFile("status.csv", text.encode(), content_type="text/csv")
    return {"carrier": w.swift.pk, "file": upload}


@dataclass(frozen=True)
class Endpoint:
    name: str
    call: Callable  # (http, world) -> response
    state: Callable  # (world) -> a value the endpoint changes when it succeeds
    # How the refusal shows, when it is not a 403/404/form error/error message.
    refused: Callable | None = None


def _order_state(w: World):
    return Order.objects.filter(pk=w.order.pk).values_list("status", flat=True).get()


ENDPOINTS = [
    Endpoint(
        "order cancel (bulk action)",
        lambda http, w: http.post(
            reverse("admin:orders_order_changelist"),
            {
                "action": "action_cancel",
                "_selected_action": [w.order.pk],
                "select_across": "0",
                "apply": "1",
                "reason": "by the wrong person",
            },
            follow=True,
        ),
        _order_state,
    ),
    Endpoint(
        "order cancel (order page)",
        lambda http, w: http.post(
            reverse("admin:orders_order_do", args=[w.order.pk, "cancel"]),
            {"reason": "by the wrong person"},
            follow=True,
        ),
        _order_state,
    ),
    Endpoint(
        "order import upload",
        lambda http, w: http.post(
            reverse("admin:orders_importjob_upload"),
            {"client": w.acme.pk, "file_format": "auto", "file": _order_file()},
            follow=True,
        ),
        lambda w: ImportJob.objects.filter(client=w.acme).count(),
    ),
    Endpoint(
        "order import confirm",
        lambda http, w: http.post(
            reverse("admin:orders_importjob_confirm", args=[w.job.pk]), follow=True
        ),
        lambda w: (ImportJob.objects.get(pk=w.job.pk).status, Order.objects.count()),
    ),
    Endpoint(
        "order import discard",
        lambda http, w: http.post(
            reverse("admin:orders_importjob_discard", args=[w.job.pk]), follow=True
        ),
        lambda w: ImportJob.objects.get(pk=w.job.pk).status,
    ),
    Endpoint(
        "stock receive",
        lambda http, w: http.post(
            reverse("admin:inventory_stocklevel_receive"),
            {"product": w.lamp.pk, "warehouse": w.east.pk, "quantity": 5, "reference": "x"},
            follow=True,
        ),
        lambda w: (
            StockLevel.objects.get(product=w.lamp, warehouse=w.east).on_hand,
            StockMovement.objects.count(),
        ),
    ),
    Endpoint(
        "stock adjust",
        lambda http, w: http.post(
            reverse("admin:inventory_stocklevel_adjust"),
            {"product": w.lamp.pk, "warehouse": w.east.pk, "delta": -3, "reason": "count"},
            follow=True,
        ),
        lambda w: (
            StockLevel.objects.get(product=w.lamp, warehouse=w.east).on_hand,
            StockMovement.objects.count(),
        ),
    ),
    Endpoint(
        "product change",
        lambda http, w: http.post(
            reverse("admin:inventory_product_change", args=[w.lamp.pk]),
            {"sku": "LAMP", "name": "Renamed", "unit_cost": "1", "active": "on"},
            follow=True,
        ),
        lambda w: Product.objects.get(pk=w.lamp.pk).name,
    ),
    Endpoint(
        "client priority weights",
        lambda http, w: http.post(
            reverse("admin:clients_client_change", args=[w.acme.pk]),
            {
                "weight_due": 99,
                "weight_service": 20,
                "weight_tier": 15,
                "weight_value": 10,
                "weight_age": 10,
                "weight_expedite": 30,
            },
            follow=True,
        ),
        lambda w: Client.objects.get(pk=w.acme.pk).weight_due,
    ),
    Endpoint(
        "tracking status file upload",
        lambda http, w: http.post(
            reverse("admin:fulfillment_trackingevent_upload"), _status_file(w), follow=True
        ),
        lambda w: (
            Order.objects.get(pk=w.shipped.pk).exception_flag,
            TrackingEvent.objects.filter(source="csv").count(),
        ),
        # The file is processed for the clients one supervises: ACME's number is "unknown".
        refused=lambda r: [n for _, n in r.context["result"]["report"].unknown] == ["A-TRK-1"],
    ),
    Endpoint(
        "carrier account add",
        lambda http, w: http.post(
            reverse("admin:fulfillment_carrieraccount_add"),
            {"client": w.acme.pk, "carrier": w.swift.pk, "account_number": "X", "active": "on"},
            follow=True,
        ),
        lambda w: CarrierAccount.objects.filter(client=w.acme).count(),
        # (ACME already has a SWIFT account: the add refuses the duplicate for everyone, so
        # the supervisor's success is checked separately below.)
    ),
    Endpoint(
        "carrier account change",
        lambda http, w: http.post(
            reverse("admin:fulfillment_carrieraccount_change", args=[w.account.pk]),
            {
                "account_number": "HIJACKED",
                "active": "on",
                "rates-TOTAL_FORMS": "0",
                "rates-INITIAL_FORMS": "0",
            },
            follow=True,
        ),
        lambda w: CarrierAccount.objects.get(pk=w.account.pk).account_number,
    ),
]
SUCCEEDS_FOR_SUPERVISOR = [e for e in ENDPOINTS if e.name != "carrier account add"]


def _refused(response) -> bool:
    """403/404, or the page came back with a form error or an error message."""
    if response.status_code in (403, 404):
        return True
    context = response.context or {}
    for key in ("form", "adminform"):
        form = context.get(key)
        form = getattr(form, "form", form)
        if form is not None and getattr(form, "errors", None):
            return True
    return any(m.level_tag == "error" for m in get_messages(response.wsgi_request))


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_a_supervisor_of_another_client_is_refused_on_acme(client, world, endpoint):
    client.force_login(world.mixed)
    before = endpoint.state(world)
    response = endpoint.call(client, world)
    refused = endpoint.refused or _refused
    assert refused(response), (endpoint.name, response.status_code)
    assert endpoint.state(world) == before, endpoint.name


@pytest.mark.parametrize(
    "endpoint", SUCCEEDS_FOR_SUPERVISOR, ids=[e.name for e in SUCCEEDS_FOR_SUPERVISOR]
)
def test_acmes_supervisor_may(client, world, endpoint):
    client.force_login(world.acme_boss)
    before = endpoint.state(world)
    response = endpoint.call(client, world)
    assert response.status_code == 200, (endpoint.name, response.status_code)
    assert endpoint.state(world) != before, endpoint.name


def test_acmes_supervisor_may_add_a_carrier_account(client, world):
    other = Carrier.objects.create(
        name="NorthStar",
        code="NSTAR",
        tracking_url_template="https://n.example/?n={tracking_number}",
    )
    client.force_login(world.acme_boss)
    response = client.post(
        reverse("admin:fulfillment_carrieraccount_add"),
        {"client": world.acme.pk, "carrier": other.pk, "account_number": "N-1", "active": "on"},
    )
    assert response.status_code == 302
    assert CarrierAccount.objects.filter(client=world.acme, carrier=other).count() == 1
    # ... and the mixed user may not, even for a carrier ACME has no account with yet.
    client.force_login(world.mixed)
    response = client.post(
        reverse("admin:fulfillment_carrieraccount_add"),
        {"client": world.acme.pk, "carrier": world.swift.pk, "account_number": "M", "active": ""},
    )
    assert _refused(response)
    assert CarrierAccount.objects.filter(client=world.acme).count() == 2


def test_the_reported_case_tracking_upload_flags_only_supervised_clients(client, world):
    """The mixed user's upload of ACME's tracking number counts it as unknown."""
    client.force_login(world.mixed)
    response = client.post(reverse("admin:fulfillment_trackingevent_upload"), _status_file(world))
    assert response.status_code == 200
    report = response.context["result"]["report"]
    assert (report.created, report.orders_flagged, len(report.unknown)) == (0, 0, 1)
    shipped = Order.objects.get(pk=world.shipped.pk)
    assert (shipped.exception_flag, shipped.delay_reason) == (False, "")
    assert not TrackingEvent.objects.filter(source="csv").exists()


def test_import_jobs_of_acme_are_not_listed_for_the_mixed_user(client, world):
    client.force_login(world.mixed)
    page = client.get(reverse("admin:orders_importjob_changelist"))
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == []
    assert client.get(
        reverse("admin:orders_importjob_change", args=[world.job.pk])
    ).status_code in (
        403,
        404,
    )
    form = client.get(reverse("admin:orders_importjob_upload")).context["form"]
    assert list(form.fields["client"].queryset) == [world.kiwi]


def test_an_agent_only_user_gets_no_upload_page(client, world, make_user):
    agent = make_user("agentonly", clients=[world.acme])
    client.force_login(agent)
    assert client.get(reverse("admin:fulfillment_trackingevent_upload")).status_code == 403
