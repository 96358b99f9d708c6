"""Inbound e-mail → tickets: one parser for the mail server's pipe (``manage.py
ingest_email``) and the e-mail provider's signed webhook (``support.views.inbound_email``).

- The receiving address (``Delivered-To``, ``X-Original-To``, ``To``, ``Cc``) picks the client
  (``SupportSettings.inbound_address``); no known address → refused.
- A reply threads onto its ticket by ``[T-1234]`` in the subject (a ticket of that client
  only) or by ``In-Reply-To``/``References`` naming one of the ticket's messages; otherwise
  the sender opens a new ticket (the order named in the text is linked).
- A message seen before (same ``Message-ID`` for the client) is acknowledged, not stored twice.
- A malformed message (no sender, no text, not an e-mail at all, too big) raises
  :class:`MalformedEmail` — logged with the reason — and nothing is stored: each message is
  stored in one transaction.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from django.db import transaction
from django.utils.html import strip_tags

from support import tickets as ticket_services
from support.exceptions import AttachmentRefused, MalformedEmail, TicketError
from support.models import SupportSettings, Ticket, TicketMessage

log = logging.getLogger(__name__)

MAX_EMAIL_BYTES = 15 * 1024 * 1024
_SUBJECT_REF = re.compile(r"\[T-(\d{1,12})\]", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CATEGORY_WORDS = (
    (Ticket.Category.DELAY, ("late", "delay", "still not", "not arrived", "waiting")),
    (Ticket.Category.DAMAGED, ("damaged", "broken")),
    (Ticket.Category.WRONG_ITEM, ("wrong item", "wrong product")),
    (Ticket.Category.CANCEL, ("cancel",)),
    (Ticket.Category.ADDRESS, ("address",)),
    (Ticket.Category.WHERE, ("where is", "tracking", "status")),
)


@dataclass(frozen=True)
class IngestResult:
    ticket: Ticket
    message: TicketMessage
    created: bool  # a new ticket
    duplicate: bool = False


def _refuse(reason: str, **details) -> MalformedEmail:
    log.warning(
        "inbound e-mail refused: %s %s",
        reason,
        " ".join(f"{k}={v!r}" for k, v in details.items()),
    )
    return MalformedEmail(reason)


def guess_category(text: str) -> str:
    low = text.lower()
    for category, words in CATEGORY_WORDS:
        if any(w in low for w in words):
            return category
    return Ticket.Category.OTHER


def _body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError, AssertionError):
        return ""
    if part.get_content_type() == "text/html":
        content = strip_tags(content)
    # the quoted history below a reply is kept: the agent may need it; NULs are not
    return content.replace("\x00", "").strip()


def _uploads(msg: EmailMessage) -> list[ticket_services.Upload]:
    uploads = []
    for part in msg.iter_attachments():
        try:
            data = part.get_content()
        except (LookupError, ValueError, AssertionError):
            continue
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, bytes):
            continue
        uploads.append(
            ticket_services.Upload(
                filename=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                content=data,
            )
        )
    return uploads


def parse(raw: bytes) -> EmailMessage:
    if not raw or not raw.strip():
        raise _refuse("empty message")
    if len(raw) > MAX_EMAIL_BYTES:
        raise _refuse("message too large", size=len(raw))
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it raises is a broken message
        raise _refuse("unparseable message", error=str(exc)) from exc
    if not msg.keys():
        raise _refuse("no headers")
    return msg


def _header(msg: EmailMessage, name: str) -> str:
    try:
        return str(msg.get(name, "") or "")
    except Exception:  # a header the policy cannot decode
        return ""


def _recipients(msg: EmailMessage) -> list[str]:
    values = [_header(msg, h) for h in ("Delivered-To", "X-Original-To", "To", "Cc")]
    return [a.lower() for _, a in getaddresses([v for v in values if v]) if a]


def _find_ticket(client_id: int, msg: EmailMessage, subject: str) -> Ticket | None:
    match = _SUBJECT_REF.search(subject)
    if match:
        t = Ticket.objects.filter(pk=int(match.group(1)), client_id=client_id).first()
        if t is not None:
            return t
    ids = _MSGID.findall(_header(msg, "In-Reply-To") + " " + _header(msg, "References"))
    if ids:
        found = (
            TicketMessage.objects.filter(client_id=client_id, message_id__in=ids[-50:])
            .order_by("-id")
            .values_list("ticket_id", flat=True)
            .first()
        )
        if found:
            return Ticket.objects.get(pk=found)
    return None


def email_ingest(*, raw: bytes) -> IngestResult:
    """Turn one RFC 822 message into a ticket message (see the module docstring). Raises
    :class:`MalformedEmail` with the reason; then nothing was stored."""
    msg = parse(raw)
    name, sender = parseaddr(_header(msg, "From"))
    sender = sender.strip().lower()
    if not _EMAIL.match(sender):
        raise _refuse("no valid sender (From)", sender=sender)
    addresses = _recipients(msg)
    setting = (
        SupportSettings.objects.select_related("client")
        .filter(inbound_address__in=addresses, client__active=True)
        .first()
        if addresses
        else None
    )
    if setting is None:
        raise _refuse("no client receives mail at this address", to=addresses[:5])
    client = setting.client
    subject = _header(msg, "Subject").strip()
    body = _body_text(msg)
    if not body:
        raise _refuse("no readable text", sender=sender, subject=subject[:80])
    message_id = (_MSGID.findall(_header(msg, "Message-ID")) or [""])[0]
    if message_id:
        seen = (
            TicketMessage.objects.filter(client=client, message_id=message_id)
            .select_related("ticket")
            .first()
        )
        if seen is not None:
            return IngestResult(seen.ticket, seen, created=False, duplicate=True)
    uploads = _uploads(msg)
    try:
        with transaction.atomic():
            ticket = _find_ticket(client.pk, msg, subject)
            if ticket is not None and ticket.status != Ticket.Status.CLOSED:
                message = ticket_services.ticket_customer_message(
                    ticket=ticket,
                    body=body,
                    author_email=sender,
                    message_id=message_id,
                    channel=Ticket.Channel.EMAIL,
                    uploads=uploads,
                )
                return IngestResult(ticket, message, created=False)
            ticket = ticket_services.ticket_create(
                client=client,
                channel=Ticket.Channel.EMAIL,
                subject=_SUBJECT_REF.sub("", subject).strip() or "(no subject)",
                body=body,
                requester_email=sender,
                requester_name=name,
                category=guess_category(f"{subject}\n{body}"),
                message_id=message_id,
                uploads=uploads,
            )
            return IngestResult(ticket, ticket.messages.get(), created=True)
    except AttachmentRefused as exc:
        raise _refuse(f"attachment refused: {exc}", sender=sender) from exc
    except TicketError as exc:
        raise _refuse(str(exc), sender=sender) from exc
