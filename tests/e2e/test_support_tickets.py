"""In a real browser: an inbound e-mail about a demo order becomes a ticket linked to it; the
agent takes the next ticket, answers with a canned reply that sets pending customer (the SLA
clock pauses); the breached demo ticket shows in the supervisor's escalation inbox."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from orders.management.commands.seed_demo import DEMO_USERS
from orders.models import Order
from support.models import Escalation, Ticket

pytestmark = pytest.mark.e2e

PASSWORDS = {u: p for u, p, _r, _c in DEMO_USERS}


def test_inbound_email_take_next_canned_reply_and_escalation_inbox(
    page, live_server, settings, seed_demo, admin_login, tmp_path
):
    settings.PUBLIC_BASE_URL = live_server.url
    output = seed_demo(orders=40)
    assert "breached and escalated" in output, output
    breached = Ticket.objects.filter(first_response_breached=True).get()
    assert Escalation.objects.filter(ticket=breached, to_level=2).exists()

    # 1. A customer's e-mail about a demo order arrives through the mail server's pipe.
    order = (
        Order.objects.filter(client__code="ACME", customer__isnull=False, tickets__isnull=True)
        .exclude(customer__email="")
        .order_by("pk")
        .first()
    )
    mail = tmp_path / "in.eml"
    mail.write_bytes(
        (
            f"From: {order.customer.name} <{order.customer.email}>\r\n"
            "To: support+acme@bpo-demo.test\r\n"
            f"Subject: Question about my order {order.number}\r\n"
            "Message-ID: <e2e-1@example.com>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "Hello, when will it ship?\r\n"
        ).encode()
    )
    call_command("ingest_email", str(mail))
    ticket = Ticket.objects.get(messages__message_id="<e2e-1@example.com>")
    assert ticket.order == order

    admin_login("agent", PASSWORDS["agent"])
    page.goto(f"{live_server.url}/admin/support/ticket/?q={order.number}")
    page.get_by_role("link", name=ticket.ref).click()
    expect(page.locator("#ticket-order-link")).to_contain_text(order.number)
    expect(page.locator("#ticket-order")).to_contain_text(order.get_status_display())

    # 2. Take next ticket, answer with a canned reply that waits for the customer.
    page.goto(f"{live_server.url}/admin/support/ticket/")
    page.locator("#take-next-ticket").click()
    page.wait_for_url(f"{live_server.url}/admin/support/ticket/*/change/")
    expect(page.locator("#ticket-workstation")).to_be_visible()
    page.select_option("#macro-select", label="Delay apology (ask to confirm)")
    page.locator("#send-macro").click()
    page.wait_for_load_state("load")
    expect(page.locator("#ticket-status")).to_have_text("Pending customer")
    expect(page.locator("#ticket-sla")).to_contain_text("clock paused")
    taken = Ticket.objects.get(pk=int(page.url.rstrip("/").split("/")[-2]))
    assert taken.assignee.username == "agent" and taken.status == "pending_customer"
    assert taken.paused_at is not None
    assert taken.messages.filter(kind="outbound", body__contains="is delayed").exists()

    # 3. The supervisor sees the breached ticket in the escalation inbox (count in the header).
    page.context.clear_cookies()
    admin_login("supervisor", PASSWORDS["supervisor"])
    expect(page.locator("#escalation-inbox-count")).to_be_visible()
    page.locator("#escalation-inbox-link").click()
    page.wait_for_load_state("load")
    expect(page.locator("#result_list")).to_contain_text(f"{breached.ref} ")
