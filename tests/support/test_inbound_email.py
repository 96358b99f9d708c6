"""Inbound e-mail: new ticket for the client of the receiving address, threading by subject
reference and by headers, duplicates, malformed messages refused with nothing stored, the
management command, the signed webhook (forged calls refused)."""

import io
import json
import logging
import time

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from core.webhooks import sign
from support import tickets as svc
from support.exceptions import MalformedEmail
from support.inbound import email_ingest
from support.models import SupportSettings, Ticket, TicketMessage

SECRET = "inbound-secret"


@pytest.fixture
def desk(shop, make_order):
    SupportSettings.objects.create(client=shop.client, inbound_address="help@shop.test")
    shop.order = make_order(shop.client, [(shop.stocked, 1)], customer=shop.customer)
    return shop


def raw(
    *,
    subject="Where is my order?",
    body="Hello",
    to="help@shop.test",
    sender="Ada Lovelace <ada@example.com>",
    msgid="<m1@example.com>",
    extra="",
):
    headers = [f"From: {sender}", f"To: {to}", f"Subject: {subject}"]
    if msgid:
        headers.append(f"Message-ID: {msgid}")
    text = "\r\n".join(headers) + ("\r\n" + extra if extra else "")
    return (text + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()


def test_unknown_sender_opens_a_ticket_for_the_receiving_client_linked_to_the_order(desk):
    r = email_ingest(raw=raw(body=f"My order {desk.order.number} is late, still waiting."))
    assert r.created
    t = r.ticket
    assert t.client == desk.client and t.order == desk.order
    assert t.channel == Ticket.Channel.EMAIL and t.category == Ticket.Category.DELAY
    assert t.customer == desk.customer and t.requester_name == "Ada Lovelace"
    assert r.message.message_id == "<m1@example.com>"


def test_reply_threads_by_subject_reference(desk):
    t = email_ingest(raw=raw()).ticket
    r = email_ingest(raw=raw(subject=f"Re: Where is my order? [{t.ref}]", msgid="<m2@x>"))
    assert not r.created and r.ticket.pk == t.pk
    assert t.messages.count() == 2


def test_reply_threads_by_in_reply_to_our_reply(desk, make_user):
    t = email_ingest(raw=raw()).ticket
    agent = make_user(clients=[desk.client])
    reply = svc.ticket_reply(ticket=t, user=agent, body="Looking into it.")
    r = email_ingest(
        raw=raw(subject="Re: something", msgid="<m3@x>", extra=f"In-Reply-To: {reply.message_id}")
    )
    assert r.ticket.pk == t.pk and not r.created


def test_a_reference_to_another_clients_ticket_opens_a_new_ticket(desk, make_client):
    other = make_client()
    SupportSettings.objects.create(client=other, inbound_address="help@other.test")
    foreign = email_ingest(raw=raw(to="help@other.test", msgid="<o1@x>")).ticket
    r = email_ingest(raw=raw(subject=f"Re: [{foreign.ref}]", msgid="<o2@x>"))
    assert r.created and r.ticket.client == desk.client
    assert foreign.messages.count() == 1


def test_the_same_message_twice_is_stored_once(desk):
    first = email_ingest(raw=raw())
    again = email_ingest(raw=raw())
    assert again.duplicate and again.ticket.pk == first.ticket.pk
    assert TicketMessage.objects.count() == 1


@pytest.mark.parametrize(
    "message, reason",
    [
        (b"", "empty"),
        (b"this is not an e-mail at all", "no headers"),
        (raw(sender="nobody"), "sender"),
        (raw(to="sales@elsewhere.test"), "no client"),
        (raw(body=""), "no readable text"),
    ],
)
def test_malformed_messages_are_refused_with_a_log_line_and_nothing_stored(
    desk, caplog, message, reason
):
    with (
        caplog.at_level(logging.WARNING, logger="support.inbound"),
        pytest.raises(MalformedEmail) as exc,
    ):
        email_ingest(raw=message)
    assert reason in str(exc.value)
    assert "inbound e-mail refused" in caplog.text
    assert not Ticket.objects.exists() and not TicketMessage.objects.exists()


def test_a_refused_attachment_stores_nothing(desk):
    message = (
        b"From: ada@example.com\r\nTo: help@shop.test\r\nSubject: photo\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n"
        b"--XX\r\nContent-Type: application/x-msdownload\r\n"
        b'Content-Disposition: attachment; filename="x.exe"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nTVo=\r\n--XX--\r\n"
    )
    with pytest.raises(MalformedEmail):
        email_ingest(raw=message)
    assert not Ticket.objects.exists()


def test_command_reads_a_file_and_stdin(desk, tmp_path, monkeypatch):
    path = tmp_path / "mail.eml"
    path.write_bytes(raw())
    out = io.StringIO()
    call_command("ingest_email", str(path), stdout=out)
    assert "new ticket" in out.getvalue()
    ref = Ticket.objects.get().ref

    class Stdin:
        buffer = io.BytesIO(raw(msgid="<m9@x>", subject=f"[{ref}] again"))

    monkeypatch.setattr("sys.stdin", Stdin)
    out = io.StringIO()
    call_command("ingest_email", stdout=out)
    assert "reply added" in out.getvalue()
    monkeypatch.setattr("sys.stdin", type("S", (), {"buffer": io.BytesIO(b"garbage")}))
    with pytest.raises(CommandError) as exc:
        call_command("ingest_email")
    assert exc.value.returncode == 65


def _post(client, payload: dict, secret=SECRET, stamp=None):
    body = json.dumps(payload).encode()
    stamp = str(stamp or int(time.time()))
    return client.post(
        reverse("support:inbound_email"),
        data=body,
        content_type="application/json",
        HTTP_X_INBOUND_TIMESTAMP=stamp,
        HTTP_X_INBOUND_SIGNATURE=sign(secret, stamp, body),
    )


def test_signed_webhook_creates_the_ticket(desk, client, settings):
    settings.SUPPORT_INBOUND_WEBHOOK_SECRETS = [SECRET]
    response = _post(client, {"raw": raw(body=f"Order {desk.order.number}?").decode()})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["created"] is True
    assert Ticket.objects.get().order == desk.order


def test_forged_or_malformed_webhook_calls_store_nothing(desk, client, settings):
    settings.SUPPORT_INBOUND_WEBHOOK_SECRETS = [SECRET]
    assert _post(client, {"raw": raw().decode()}, secret="forged").status_code == 401
    old = int(time.time()) - 3600
    assert _post(client, {"raw": raw().decode()}, stamp=old).status_code == 401
    assert client.get(reverse("support:inbound_email")).status_code == 405
    assert _post(client, {"nothing": 1}).status_code == 400
    assert _post(client, {"raw": "garbage"}).status_code == 422
    assert not Ticket.objects.exists()
    settings.SUPPORT_INBOUND_WEBHOOK_SECRETS = []
    assert _post(client, {"raw": raw().decode()}).status_code == 401
