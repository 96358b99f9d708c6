"""Pick waves: the N most urgent ready orders of one client in one warehouse, their pick list,
packing, and the PDFs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment import services
from fulfillment.exceptions import FulfillmentError
from fulfillment.models import PickWave
from fulfillment.pdf import render_document, render_pdf
from fulfillment.selectors import packing_slips, pick_list, wave_candidates
from inventory.models import StockLevel
from orders.models import Order, OrderEvent
from orders.services import order_hold, priority_key
from tests.invariants import assert_stock_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def floor(make_client, make_warehouse, make_product, make_order):
    """Six ready ACME orders in EAST of distinct urgency, one in WEST, one split, one NORD."""
    acme, nord = make_client("ACME"), make_client("NORD")
    east, west = make_warehouse("EAST"), make_warehouse("WEST")
    lamp = make_product(acme, "LAMP", stock={east: 100})
    mug = make_product(acme, "MUG", stock={east: 100})
    rare = make_product(acme, "RARE", stock={west: 10})
    nord_lamp = make_product(nord, "N-LAMP", stock={east: 20})
    StockLevel.objects.filter(product=lamp, warehouse=east).update(bin_location="A-01-1")
    StockLevel.objects.filter(product=mug, warehouse=east).update(bin_location="B-07-3")
    now = timezone.now()
    orders = []
    for i in range(6):
        orders.append(
            make_order(
                acme,
                [(lamp, 1 + i % 2), (mug, 1)] if i % 2 else [(lamp, 2)],
                number=f"ACME-{i}",
                placed_at=now - timedelta(hours=5),
                ship_by=now + timedelta(hours=10 + 12 * i),
                expedite=(i == 5),  # the last-due order is expedited: it goes first
            )
        )
    west_order = make_order(acme, [(rare, 1)], number="ACME-WEST")
    split = make_order(acme, [(lamp, 1), (rare, 1)], number="ACME-SPLIT")
    nord_order = make_order(nord, [(nord_lamp, 1)], number="NORD-1")
    for o in [*orders, west_order, split, nord_order]:
        assert o.status == Order.Status.READY
    return {
        "acme": acme,
        "nord": nord,
        "east": east,
        "west": west,
        "orders": orders,
        "west_order": west_order,
        "split": split,
        "nord_order": nord_order,
    }


def test_wave_takes_the_n_most_urgent_ready_orders_in_priority_order(floor, make_user):
    user = make_user()
    expected = sorted(
        Order.objects.filter(pk__in=[o.pk for o in floor["orders"]]), key=priority_key
    )[:4]
    assert expected[0].number == "ACME-5"  # expedited beats earlier promises

    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=4, user=user)

    entries = list(wave.entries.order_by("sequence").values_list("order__number", "sequence"))
    assert entries == [(o.number, i) for i, o in enumerate(expected, 1)]
    assert wave.order_count == 4
    assert wave.unit_count == sum(ln.qty_allocated for o in expected for ln in o.lines.all())
    assert wave.status == PickWave.Status.PICKING
    assert wave.created_by == user
    for order in expected:
        order.refresh_from_db()
        assert order.status == Order.Status.PICKING
        event = order.events.filter(kind=OrderEvent.Kind.STATUS).first()
        assert (event.from_status, event.to_status) == ("ready", "picking")
        assert wave.reference in event.message and event.user == user
    rest = Order.objects.filter(pk__in=[o.pk for o in floor["orders"]]).exclude(
        pk__in=[o.pk for o in expected]
    )
    assert set(rest.values_list("number", flat=True)) == {"ACME-3", "ACME-4"}  # latest promises
    assert set(rest.values_list("status", flat=True)) == {"ready"}  # they wait for the next wave
    assert_stock_invariants()


def test_wave_only_takes_orders_wholly_allocated_in_its_warehouse(floor):
    candidates = set(
        wave_candidates(client=floor["acme"], warehouse=floor["east"]).values_list(
            "number", flat=True
        )
    )
    assert candidates == {f"ACME-{i}" for i in range(6)}  # not WEST, not split, not NORD
    wave = services.wave_create(client=floor["acme"], warehouse=floor["west"], size=10)
    assert list(wave.orders.values_list("number", flat=True)) == ["ACME-WEST"]


def test_second_wave_takes_the_next_orders_and_an_empty_floor_is_an_error(floor):
    first = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=4)
    second = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=4)
    assert second.order_count == 2
    assert not set(first.orders.all()) & set(second.orders.all())
    with pytest.raises(FulfillmentError, match="nothing to pick"):
        services.wave_create(client=floor["acme"], warehouse=floor["east"], size=4)
    assert PickWave.objects.count() == 2  # the failed attempt left no empty wave behind


@pytest.mark.parametrize("size", [0, -1, 501, "5", True])
def test_wave_size_is_validated(floor, size):
    with pytest.raises(FulfillmentError, match="1 to 500"):
        services.wave_create(client=floor["acme"], warehouse=floor["east"], size=size)
    assert not PickWave.objects.exists()


def test_orders_on_hold_are_not_waved(floor):
    order_hold(order=floor["orders"][5], reason="Address check")
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=1)
    assert wave.orders.get().number != "ACME-5"


def test_pick_list_groups_units_by_bin_and_sku(floor):
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=6)
    picks = pick_list(wave)
    rows = [(r.bin_location, r.sku, r.quantity) for r in picks.rows]
    lamp_units = sum(
        ln.quantity for o in floor["orders"] for ln in o.lines.all() if ln.product.sku == "LAMP"
    )
    assert rows == [("A-01-1", "LAMP", lamp_units), ("B-07-3", "MUG", 3)]
    assert picks.units == wave.unit_count
    lamp = picks.rows[0]
    assert sorted(n for n, _ in lamp.orders) == [f"ACME-{i}" for i in range(6)]
    assert [r.order.number for r in picks.orders] == list(
        wave.entries.order_by("sequence").values_list("order__number", flat=True)
    )
    assert picks.line_count == 9


def test_packing_closes_the_wave_when_the_last_order_is_packed(floor, make_user):
    user = make_user()
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=2)
    first, second = [e.order for e in wave.entries.order_by("sequence")]
    services.order_pack(order=first, user=user)
    wave.refresh_from_db()
    assert wave.status == PickWave.Status.PICKING
    first.refresh_from_db()
    assert first.status == Order.Status.PACKED
    assert first.events.first().to_status == "packed"
    services.order_pack(order=second, user=user)
    wave.refresh_from_db()
    assert wave.status == PickWave.Status.DONE and wave.completed_at is not None


def test_waves_from_selected_orders_group_by_client_and_warehouse(floor):
    selected = [*floor["orders"][:2], floor["west_order"], floor["split"], floor["nord_order"]]
    plan = services.wave_plan(orders=selected)
    assert {(c.code, w.code): len(m) for (c, w), m in plan.groups.items()} == {
        ("ACME", "EAST"): 2,
        ("ACME", "WEST"): 1,
        ("NORD", "EAST"): 1,
    }
    assert [(o.number, "EAST, WEST" in why) for o, why in plan.skipped] == [("ACME-SPLIT", True)]
    waves = services.waves_create_from_orders(orders=selected)
    assert len(waves) == 3
    assert Order.objects.filter(status="picking").count() == 4
    with pytest.raises(FulfillmentError):
        services.waves_create_from_orders(orders=selected)  # none of them is ready any more


def test_pick_list_pdf_prints_on_a4_and_letter(floor):
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=6)
    context = {"wave": wave, "picks": pick_list(wave), "printed_at": timezone.now()}
    a4 = render_document("fulfillment/pdf/pick_list.html", context, paper="a4")
    letter = render_document("fulfillment/pdf/pick_list.html", context, paper="letter")
    # CSS pixels at 96 dpi: A4 is 210 × 297 mm, Letter 8.5 × 11 in.
    assert (round(a4.pages[0].width), round(a4.pages[0].height)) == (794, 1123)
    assert (round(letter.pages[0].width), round(letter.pages[0].height)) == (816, 1056)
    assert render_pdf("fulfillment/pdf/pick_list.html", context, paper="letter").startswith(b"%PDF")


def test_unknown_paper_falls_back_to_a4(floor):
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=1)
    context = {"wave": wave, "picks": pick_list(wave), "printed_at": timezone.now()}
    doc = render_document("fulfillment/pdf/pick_list.html", context, paper="tabloid'}")
    assert round(doc.pages[0].width) == 794


def test_packing_slip_pdf_has_one_page_per_order(floor):
    ids = [floor["orders"][0].pk, floor["orders"][1].pk]
    slips = packing_slips(ids)
    assert [s.order.pk for s in slips] == ids
    assert slips[1].lines[0]["packed"] == slips[1].lines[0]["ordered"]
    doc = render_document(
        "fulfillment/pdf/packing_slips.html", {"slips": slips, "printed_at": timezone.now()}
    )
    assert len(doc.pages) == 2


def test_pick_list_pdf_is_laid_out_once_per_content(floor, monkeypatch, settings):
    from fulfillment import pdf as pdf_module

    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=2)
    layouts = []
    real = pdf_module._layout
    monkeypatch.setattr(pdf_module, "_layout", lambda html: layouts.append(1) or real(html))
    first = pdf_module.pick_list_pdf(wave=wave, paper="a4")
    again = pdf_module.pick_list_pdf(wave=wave, paper="a4")
    assert first == again and len(layouts) == 1
    pdf_module.pick_list_pdf(wave=wave, paper="letter")
    assert len(layouts) == 2  # another paper is another file
    stored = list((settings.MEDIA_ROOT / "fulfillment" / "pdf").rglob("*.pdf"))
    assert len(stored) == 2
    # The wave changes (an order is cancelled): new content, laid out again.
    from orders.services import order_cancel

    order_cancel(order=wave.entries.first().order, reason="Customer changed their mind")
    pdf_module.pick_list_pdf(wave=wave, paper="a4")
    assert len(layouts) == 3


def test_a_committed_wave_has_its_pick_lists_rendered_by_a_worker(
    floor, monkeypatch, django_capture_on_commit_callbacks, settings
):
    from fulfillment import tasks

    queued = []
    monkeypatch.setattr(services.waves, "async_task", lambda *a, **k: queued.append((a, k)))
    with django_capture_on_commit_callbacks(execute=True):
        wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=2)
    assert queued == [(("fulfillment.tasks.render_pick_lists", wave.pk), {"group": "pick-lists"})]
    assert tasks.render_pick_lists(wave.pk) == 2
    assert len(list((settings.MEDIA_ROOT / "fulfillment" / "pdf").rglob("*.pdf"))) == 2
    assert tasks.render_pick_lists(999_999) == 0


def test_wave_orders_pack_packs_the_waves_orders_in_sequence_and_reports_the_rest(floor):
    wave = services.wave_create(client=floor["acme"], warehouse=floor["east"], size=3)
    first, second, third = (e.order for e in wave.entries.order_by("sequence"))
    order_hold(order=second, reason="Customer called")
    outsider = floor["nord_order"]

    result = services.wave_orders_pack(
        wave=wave, order_ids=[third.pk, second.pk, outsider.pk, first.pk]
    )

    assert [o.number for o in result.packed] == [first.number, third.number]
    assert len(result.failed) == 1 and result.failed[0].startswith(f"{second.number}: ")
    statuses = dict(Order.objects.values_list("number", "status"))
    assert statuses[first.number] == statuses[third.number] == Order.Status.PACKED
    assert statuses[second.number] == Order.Status.ON_HOLD
    assert statuses[outsider.number] == Order.Status.READY  # not in the wave: untouched
    assert_stock_invariants()
