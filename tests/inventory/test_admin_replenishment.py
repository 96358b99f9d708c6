"""Replenishment pages through the test client: scoping, per-client roles, Run now, PO
actions, receiving (form and delivery note), bad input as messages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clients.models import Membership
from inventory.models import PurchaseOrder, ReorderRule, StockLevel, StockMovement

pytestmark = pytest.mark.django_db

PAGE = "admin:inventory_replenishment"
RUN = "admin:inventory_replenishment_run"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def shop(
    make_client, make_warehouse, make_product, make_supplier, make_terms, make_rule, make_user
):
    acme, nord = make_client("ACME"), make_client("NORD")
    east = make_warehouse("EAST")
    lamp = make_product(acme, "ACME-LAMP", stock={east: 2})
    nord_mug = make_product(nord, "NORD-MUG", stock={east: 1})
    acme_sup = make_supplier(acme, "ACMESUP")
    nord_sup = make_supplier(nord, "NORDSUP")
    make_terms(acme_sup, lamp, supplier_sku="AS-LAMP", unit_cost=Decimal("4.00"), pack_multiple=10)
    make_terms(nord_sup, nord_mug, supplier_sku="NS-MUG")
    make_rule(lamp, east, min_qty=5, max_qty=20)
    make_rule(nord_mug, east, min_qty=5, max_qty=20)
    supervisor = make_user("sup", clients=[acme], role=Membership.Role.SUPERVISOR)
    agent = make_user("agent", clients=[acme], role=Membership.Role.AGENT)
    mixed = make_user("mixed", clients=[nord], role=Membership.Role.SUPERVISOR)
    from clients.services import membership_set

    membership_set(user=mixed, client=acme, role=Membership.Role.AGENT)
    return {
        "acme": acme,
        "nord": nord,
        "east": east,
        "lamp": lamp,
        "supervisor": supervisor,
        "agent": agent,
        "mixed": mixed,
    }


def test_run_now_plans_only_the_supervisors_clients(client, shop):
    client.force_login(shop["supervisor"])
    response = client.post(reverse(RUN), follow=True)
    assert response.status_code == 200
    assert "Replenishment run" in response.content.decode()
    po = PurchaseOrder.objects.get()
    assert po.client == shop["acme"]
    assert [ln.quantity for ln in po.lines.all()] == [20]  # 20 − 2 = 18 → 2 packs of 10
    page = client.get(reverse(PAGE)).content.decode()
    assert "ACME-LAMP" in page and "NORD-MUG" not in page
    assert "order 20 = 2 cases of 10" in page


def test_agent_sees_but_cannot_run_or_approve(client, shop):
    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    client.force_login(shop["agent"])
    assert client.get(reverse(PAGE)).status_code == 200
    assert client.post(reverse(RUN)).status_code == 403
    po = PurchaseOrder.objects.get()
    response = client.post(reverse("admin:inventory_purchaseorder_do", args=[po.pk, "approve"]))
    assert response.status_code in (302, 403)
    po.refresh_from_db()
    assert po.status == "draft"


def test_mixed_role_user_cannot_approve_other_clients_po(client, shop):
    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    po = PurchaseOrder.objects.get()
    client.force_login(shop["mixed"])  # supervises NORD, only an agent of ACME
    response = client.post(
        reverse("admin:inventory_purchaseorder_do", args=[po.pk, "approve"]), follow=True
    )
    assert "Only a supervisor of ACME may do this." in response.content.decode()
    po.refresh_from_db()
    assert po.status == "draft"
    # … and list editing of rules is off for them (their roles differ per client).
    page = client.get(reverse("admin:inventory_reorderrule_changelist")).content.decode()
    assert 'name="form-0-min_qty"' not in page


def test_other_clients_po_is_not_found(client, shop, make_user):
    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    po = PurchaseOrder.objects.get()
    outsider = make_user("out", clients=[shop["nord"]], role=Membership.Role.SUPERVISOR)
    client.force_login(outsider)
    assert (
        client.get(reverse("admin:inventory_purchaseorder_change", args=[po.pk])).status_code == 404
    )
    assert (
        client.get(reverse("admin:inventory_purchaseorder_receive", args=[po.pk])).status_code
        == 404
    )
    assert (
        client.post(
            reverse("admin:inventory_purchaseorder_do", args=[po.pk, "approve"])
        ).status_code
        == 404
    )


def test_illegal_move_is_a_message(client, shop):
    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    po = PurchaseOrder.objects.get()
    response = client.post(
        reverse("admin:inventory_purchaseorder_do", args=[po.pk, "send"]), follow=True
    )
    assert response.status_code == 200
    assert "draft: it cannot be sent" in response.content.decode()


def test_approve_send_receive_through_pages(client, shop, mailoutbox):
    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    po = PurchaseOrder.objects.get()
    do = lambda name: client.post(reverse("admin:inventory_purchaseorder_do", args=[po.pk, name]))  # noqa: E731
    do("approve")
    do("send")
    po.refresh_from_db()
    assert po.status == "sent" and len(mailoutbox) == 1
    pdf = client.get(reverse("admin:inventory_purchaseorder_pdf", args=[po.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    line = po.lines.get()
    receive = reverse("admin:inventory_purchaseorder_receive", args=[po.pk])
    page = client.get(receive)
    assert page.status_code == 200 and "AS-LAMP" in page.content.decode()
    # Over-receipt: a message on the form, nothing booked.
    response = client.post(receive, {"kind": "form", f"line_{line.pk}": "21"})
    assert response.status_code == 200
    assert "21 is more than the 20 still receivable" in response.content.decode()
    assert StockLevel.objects.get(product=shop["lamp"]).on_hand == 2
    # A bad delivery note: row errors, nothing booked.
    bad = SimpleUploadedFile("note.csv", b"supplier_sku,quantity\nAS-LAMP,x\n")
    response = client.post(receive, {"kind": "file", "file": bad})
    assert "Row 2: quantity &#x27;x&#x27; is not a whole number" in response.content.decode()
    assert StockMovement.objects.filter(reference__startswith=po.number).count() == 0
    good = SimpleUploadedFile("note.csv", b"supplier_sku,quantity\nAS-LAMP,20\n")
    response = client.post(receive, {"kind": "file", "file": good})
    assert response.status_code == 302
    po.refresh_from_db()
    assert po.status == "received"
    assert StockLevel.objects.get(product=shop["lamp"]).on_hand == 22


def test_rule_list_is_editable_for_a_supervisor(client, shop):
    client.force_login(shop["supervisor"])
    page = client.get(reverse("admin:inventory_reorderrule_changelist")).content.decode()
    assert 'name="form-0-min_qty"' in page
    assert "NORD-MUG" not in page
    rule = ReorderRule.objects.get(product=shop["lamp"])
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(rule.pk),
        "form-0-policy": "min_max",
        "form-0-min_qty": "7",
        "form-0-max_qty": "30",
        "form-0-active": "on",
        "_save": "Save",
    }
    client.post(reverse("admin:inventory_reorderrule_changelist"), data)
    rule.refresh_from_db()
    assert (rule.min_qty, rule.max_qty) == (7, 30)


def test_supplier_list_and_pages_render(client, shop):
    client.force_login(shop["supervisor"])
    for name in (
        "supplier",
        "supplierproduct",
        "purchaseorder",
        "replenishmentrun",
        "replenishmentpolicy",
    ):
        assert client.get(reverse(f"admin:inventory_{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:inventory_supplier_changelist")).content.decode()
    assert "ACMESUP" in page and "NORDSUP" not in page


def test_order_page_shows_expected_availability(client, shop, make_order, make_user):
    from inventory import purchasing
    from orders.services import backorders_expected_refresh

    order = make_order(shop["acme"], [(shop["lamp"], 7)], number="WAITING-1")  # 2 on hand
    client.force_login(shop["supervisor"])
    backorders_expected_refresh()
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "no purchase order covers 5 units" in page
    client.post(reverse(RUN))
    po = PurchaseOrder.objects.get(client=shop["acme"])
    purchasing.purchase_order_approve(purchase_order=po)
    purchasing.purchase_order_send(purchase_order=po)
    backorders_expected_refresh()
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert f"expected {po.expected_on:%Y-%m-%d} from {po.number}" in page


def test_setup_schedules_is_idempotent_with_replenishment_timeout_below_retry(settings):
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("setup_schedules")
    call_command("setup_schedules")
    schedule = Schedule.objects.get(name="Replenishment run")
    assert Schedule.objects.filter(name="Replenishment run").count() == 1
    assert schedule.func == "inventory.tasks.run_replenishment"
    assert schedule.minutes == 60
    assert schedule.kwargs == "q_options={'timeout': 900}"
    assert settings.Q_CLUSTER["retry"] > 900
    assert schedule.next_run > schedule.next_run.now(schedule.next_run.tzinfo)


def test_task_runs_the_plan(shop):
    from inventory.tasks import run_replenishment

    result = run_replenishment()
    assert result["rules"] == 2 and result["created"] == 2
    assert run_replenishment()["created"] == 0


def test_supplier_terms_refuse_another_clients_product(client, shop, make_product):
    from inventory.models import Supplier, SupplierProduct

    supplier = Supplier.objects.get(code="ACMESUP")
    nord_product = make_product(shop["nord"], "NORD-OTHER")
    superuser = type(shop["supervisor"]).objects.create_superuser("root", "r@example.com", "pw")
    client.force_login(superuser)
    response = client.post(
        reverse("admin:inventory_supplierproduct_add"),
        {
            "supplier": supplier.pk,
            "product": nord_product.pk,
            "supplier_sku": "X-1",
            "unit_cost": "1.00",
            "min_order_qty": "1",
            "pack_multiple": "1",
        },
    )
    assert response.status_code == 200
    assert "belongs to another client than supplier ACMESUP" in response.content.decode()
    assert not SupplierProduct.objects.filter(supplier_sku="X-1").exists()


def test_rule_and_po_pages_render_and_a_new_date_goes_through_the_service(
    client, shop, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from inventory import purchasing

    client.force_login(shop["supervisor"])
    client.post(reverse(RUN))
    rule = ReorderRule.objects.get(product=shop["lamp"])
    page = client.get(reverse("admin:inventory_reorderrule_change", args=[rule.pk]))
    assert "order 20 = 2 cases of 10" in page.content.decode()
    po = PurchaseOrder.objects.get()
    purchasing.purchase_order_approve(purchase_order=po)
    purchasing.purchase_order_send(purchase_order=po)
    url = reverse("admin:inventory_purchaseorder_change", args=[po.pk])
    page = client.get(url).content.decode()
    assert 'id="po-receive"' in page and 'id="po-pdf"' in page
    calls = []
    real = purchasing.purchase_order_reschedule
    monkeypatch.setattr(
        purchasing,
        "purchase_order_reschedule",
        lambda **kw: calls.append(kw["expected_on"]) or real(**kw),
    )
    later = timezone.localdate() + timedelta(days=20)
    response = client.post(
        url,
        {
            "expected_on": later.isoformat(),
            "note": "supplier moved it",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-id": str(po.lines.get().pk),
            "lines-0-purchase_order": str(po.pk),
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    po.refresh_from_db()
    assert po.expected_on == later and po.note == "supplier moved it"
    assert calls == [later]
    assert PurchaseOrder.objects.count() == 1
