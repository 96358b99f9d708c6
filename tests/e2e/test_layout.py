"""Every page used daily fits a 1280×800 screen: no horizontal scrolling (the document's
scrollWidth is not above its clientWidth), as the supervisor (who sees every column) on
seed_demo's data."""

from __future__ import annotations

import pytest

from fulfillment.models import PickWave
from orders.models import Order

pytestmark = pytest.mark.e2e

WIDTH, HEIGHT = 1280, 800
# The page itself and every box that scrolls sideways (the admin wraps its result table in
# one: the page does not scroll, the table does) — what is wider than it shows.
SCROLLERS = """() => {
  const wide = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) wide.push(["page", root.scrollWidth, root.clientWidth]);
  for (const el of document.querySelectorAll("body *")) {
    const overflow = getComputedStyle(el).overflowX;
    if ((overflow === "auto" || overflow === "scroll") && el.scrollWidth > el.clientWidth + 1) {
      wide.push([el.id || el.className || el.tagName, el.scrollWidth, el.clientWidth]);
    }
  }
  return wide;
}"""


def daily_pages() -> dict[str, str]:
    order = Order.objects.filter(client__code="ACME").order_by("-priority_score").first()
    shippable = Order.objects.filter(status__in=[Order.Status.PACKED, Order.Status.PICKING])
    packed = list(shippable.values_list("pk", flat=True)[:5])
    wave = PickWave.objects.order_by("-pk").first()
    pages = {
        "home": "/admin/",
        "queue": "/admin/orders/order/",
        "queue, everything": "/admin/orders/order/?queue=all",
        "order page": f"/admin/orders/order/{order.pk}/change/",
        "hold form": f"/admin/orders/order/{order.pk}/do/hold/",
        "export": "/admin/orders/order/export/",
        "customers": "/admin/orders/customer/",
        "import jobs": "/admin/orders/importjob/",
        "import upload": "/admin/orders/importjob/upload/",
        "stock levels": "/admin/inventory/stocklevel/",
        "pick waves": "/admin/fulfillment/pickwave/",
        "shipments": "/admin/fulfillment/shipment/",
        "ship form": "/admin/fulfillment/shipment/ship/?ids=" + ",".join(map(str, packed)),
        "client settings": "/admin/clients/client/",
    }
    if wave is not None:
        pages["pick wave"] = f"/admin/fulfillment/pickwave/{wave.pk}/change/"
    return pages


def test_every_daily_page_fits_1280x800(seed_demo, admin_login, live_server, page):
    seed_demo(orders=40)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    admin_login("supervisor", "supervisor")
    too_wide = {}
    for name, path in daily_pages().items():
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, f"{name} {path}: {response.status}"
        page.wait_for_load_state("load")
        found = page.evaluate(SCROLLERS)
        if found:
            too_wide[name] = found
    assert too_wide == {}


def test_queue_shows_its_work_columns_and_whole_order_numbers(
    seed_demo, admin_login, live_server, page
):
    seed_demo(orders=40)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    admin_login("supervisor", "supervisor")
    page.goto(f"{live_server.url}/admin/orders/order/?queue=all")
    for column in (
        "priority_score",
        "due_display",
        "service_level",
        "units_display",
        "assigned_to",
        "age_display",
    ):
        header = page.locator(f"#result_list thead th.column-{column}")
        box = header.bounding_box()
        assert box is not None, column
        assert box["x"] + box["width"] <= WIDTH, column
    numbers = page.locator("#result_list tbody th.field-number a")
    heights = {round(numbers.nth(i).bounding_box()["height"]) for i in range(5)}
    line = page.evaluate(
        "parseFloat(getComputedStyle("
        "document.querySelector('#result_list th.field-number a')).lineHeight) || 20"
    )
    assert max(heights) <= line * 1.5  # one line: the number does not wrap
