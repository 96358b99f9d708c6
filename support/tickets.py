"""Ticket services: every write to a ticket goes through here (support/services/ holds the
customer notifications; this module the tickets that sit beside the order backlog).

One transition table (:data:`TRANSITIONS`), one writer (:func:`ticket_transition`). Each
service owns its transaction, locks the ticket row, keeps the SLA clock (support/sla.py) and
the order's complaint count (through ``orders.services.order_complaints_adjust``: orders
never imports support) in step, and says what it triggers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from clients.models import Membership
from clients.scoping import can_access_client, is_supervisor_for
from core.db import atomic_with_retry
from core.tasks import enqueue_many
from orders import services as order_services
from orders.models import CLOSED_STATUSES, Customer, Order, OrderEvent
from support import sla
from support.exceptions import (
    AttachmentRefused,
    InvalidTicketStatus,
    TicketError,
    TicketPermissionDenied,
)
from support.models import (
    ATTACHMENT_MAX_BYTES,
    ATTACHMENT_TYPES,
    Escalation,
    Event,
    InboxEntry,
    Macro,
    Notification,
    Ticket,
    TicketAttachment,
    TicketMessage,
    TicketPriority,
)
from support.rendering import TemplateRefused, render_string

log = logging.getLogger(__name__)

S = Ticket.Status
TRANSITIONS: dict[str, frozenset[str]] = {
    S.NEW: frozenset({S.OPEN, S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.RESOLVED, S.CLOSED}),
    S.OPEN: frozenset({S.PENDING_CUSTOMER, S.PENDING_INTERNAL, S.RESOLVED, S.CLOSED}),
    S.PENDING_CUSTOMER: frozenset({S.OPEN, S.PENDING_INTERNAL, S.RESOLVED, S.CLOSED}),
    S.PENDING_INTERNAL: frozenset({S.OPEN, S.PENDING_CUSTOMER, S.RESOLVED, S.CLOSED}),
    S.RESOLVED: frozenset({S.OPEN, S.CLOSED}),  # a customer reply reopens it
    S.CLOSED: frozenset(),  # final: a later message opens a new ticket
}
DONE = (S.RESOLVED, S.CLOSED)
MAX_BODY_CHARS = 20_000
REF = re.compile(r"\[?\bT-(\d{1,12})\b\]?", re.IGNORECASE)
# Order numbers as shops write them: letters, digits, dashes, at least one digit.
_ORDER_TOKEN = re.compile(r"#?\b([A-Za-z0-9][A-Za-z0-9-]{2,40})\b")


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


def _lock(ticket: Ticket) -> Ticket:
    return Ticket.objects.select_for_update().select_related("client").get(pk=ticket.pk)


def _settings_and_calendar(client):
    s = sla.support_settings(client)
    return s, sla.calendar_for(client, s)


def _order_is_late(order: Order | None, now: datetime) -> bool:
    return bool(order and order.status not in CLOSED_STATUSES and order.ship_by < now)


def _qualifies_as_complaint(t: Ticket, order: Order | None, now: datetime) -> bool:
    return order is not None and (t.category == Ticket.Category.DELAY or _order_is_late(order, now))


def find_order_number(client_id: int, *texts: str) -> Order | None:
    """The client's order named in the text (subject, body), if exactly one is."""
    tokens = {m.group(1) for text in texts for m in _ORDER_TOKEN.finditer(text or "")}
    tokens = {t for t in tokens if any(c.isdigit() for c in t)}
    if not tokens:
        return None
    found = list(Order.objects.filter(client_id=client_id, number__in=list(tokens)[:200])[:2])
    return found[0] if len(found) == 1 else None


def _check_uploads(uploads: Iterable[Upload]) -> list[Upload]:
    uploads = list(uploads)
    for u in uploads:
        if len(u.content) > ATTACHMENT_MAX_BYTES:
            raise AttachmentRefused(
                f"{u.filename}: larger than {ATTACHMENT_MAX_BYTES // (1024 * 1024)} MB."
            )
        if u.content_type.split(";")[0].strip().lower() not in ATTACHMENT_TYPES:
            raise AttachmentRefused(f"{u.filename}: files of type {u.content_type} are refused.")
    return uploads


def _add_message(
    t: Ticket,
    *,
    kind: str,
    body: str,
    now: datetime,
    author=None,
    author_email: str = "",
    message_id: str = "",
    channel: str = "",
    uploads: Iterable[Upload] = (),
) -> TicketMessage:
    body = (body or "").strip()
    if not body:
        raise TicketError("The message is empty.")
    if len(body) > MAX_BODY_CHARS:
        raise TicketError(f"Please keep messages under {MAX_BODY_CHARS} characters.")
    uploads = _check_uploads(uploads)
    msg = TicketMessage.objects.create(
        ticket=t,
        client_id=t.client_id,
        kind=kind,
        author=author,
        author_email=author_email[:254],
        body=body,
        message_id=message_id[:255],
        channel=channel,
        created_at=now,
    )
    TicketAttachment.objects.bulk_create(
        TicketAttachment(
            message=msg,
            filename=u.filename[:200] or "attachment",
            content_type=u.content_type[:100],
            size=len(u.content),
            content=u.content,
        )
        for u in uploads
    )
    return msg


def _order_note(order_id: int | None, text: str, user=None) -> None:
    if order_id:
        order_services.order_events_record(
            entries=[(order_id, text)], kind=OrderEvent.Kind.SUPPORT, user=user
        )


def _count_complaint(t: Ticket, order: Order | None, now: datetime) -> None:
    if not t.complaint_counted and t.is_open and _qualifies_as_complaint(t, order, now):
        order_services.order_complaints_adjust(
            order_id=order.pk, delta=1, note=f"Complaint {t.ref}: {t.get_category_display()}."
        )
        t.complaint_counted = True


def _uncount_complaint(t: Ticket) -> None:
    if t.complaint_counted and t.order_id:
        order_services.order_complaints_adjust(order_id=t.order_id, delta=-1)
    t.complaint_counted = False


@atomic_with_retry
def ticket_create(
    *,
    client,
    channel: str,
    subject: str,
    body: str,
    requester_email: str = "",
    requester_name: str = "",
    customer: Customer | None = None,
    order: Order | None = None,
    category: str = Ticket.Category.OTHER,
    priority: str = TicketPriority.NORMAL,
    user=None,
    message_id: str = "",
    uploads: Iterable[Upload] = (),
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket with its first message (inbound; a phone call logged by an agent too).

    Links the order named in the subject/body when ``order`` is not given (only an order of
    the same client), the customer by e-mail or the order, starts the SLA clock, counts a
    complaint on the order (a delay complaint, or any ticket about a late order: a priority
    factor) and notes the ticket on the order's timeline. Locks the order row when it counts
    a complaint. Raises :class:`TicketError` for an empty message or another client's order.
    """
    now = now or timezone.now()
    if order is not None and order.client_id != client.pk:
        raise TicketError("That order belongs to another client.")
    if customer is not None and customer.client_id != client.pk:
        raise TicketError("That customer belongs to another client.")
    if category not in Ticket.Category.values or priority not in TicketPriority.values:
        raise TicketError("Unknown category or priority.")
    order = order or find_order_number(client.pk, subject, body)
    email = (requester_email or "").strip().lower()
    if customer is None and email:
        customer = Customer.objects.filter(client=client, email__iexact=email).first()
    if customer is None and order is not None and order.customer_id:
        customer = order.customer
    if customer is not None:
        email = email or customer.email
        requester_name = requester_name or customer.name
    s, cal = _settings_and_calendar(client)
    t = Ticket(
        client=client,
        customer=customer,
        order=order,
        requester_email=email,
        requester_name=(requester_name or "")[:200],
        subject=(subject or "").strip()[:255] or "(no subject)",
        channel=channel,
        category=category,
        priority=priority,
        assignee=user if channel == Ticket.Channel.PHONE else None,
        created_at=now,
        status_changed_at=now,
    )
    sla.start_clock(t, cal=cal, share=s.at_risk_share)
    t.save()
    kind = TicketMessage.Kind.INBOUND
    _add_message(
        t,
        kind=kind,
        body=body,
        now=now,
        author=user if channel == Ticket.Channel.PHONE else None,
        author_email=email,
        message_id=message_id,
        channel=channel,
        uploads=uploads,
    )
    _count_complaint(t, order, now)
    if t.complaint_counted:
        t.save(update_fields=["complaint_counted"])
    _order_note(t.order_id, f"Ticket {t.ref} opened ({t.get_channel_display()}): {t.subject}")
    return t


@atomic_with_retry
def ticket_customer_message(
    *,
    ticket: Ticket,
    body: str,
    author_email: str = "",
    message_id: str = "",
    channel: str = "",
    uploads: Iterable[Upload] = (),
    now: datetime | None = None,
) -> TicketMessage:
    """A customer's reply on an existing ticket: resumes a paused clock, reopens a resolved
    ticket (counting its complaint again). Locks the ticket. A closed ticket takes no more
    messages (:class:`TicketError`; the inbound e-mail opens a new ticket instead)."""
    now = now or timezone.now()
    t = _lock(ticket)
    if t.status == S.CLOSED:
        raise TicketError(f"{t.ref} is closed.")
    msg = _add_message(
        t,
        kind=TicketMessage.Kind.INBOUND,
        body=body,
        now=now,
        author_email=author_email,
        message_id=message_id,
        channel=channel,
        uploads=uploads,
    )
    sla.record_customer_message(t, now)
    if t.status in (S.PENDING_CUSTOMER, S.RESOLVED):
        _move(t, S.OPEN, now=now)
    t.save()
    ticket.__dict__.update(t.__dict__)
    return msg


def _move(t: Ticket, to_status: str, *, now: datetime, user=None) -> None:
    """Apply one status move in memory (the caller holds the lock and saves)."""
    if to_status not in TRANSITIONS.get(t.status, ()):
        raise InvalidTicketStatus(
            f"{t.ref} cannot go from {t.get_status_display()} to {S(to_status).label}."
        )
    s, cal = _settings_and_calendar(t.client)
    sla.account_status_time(t, now)
    was_paused = t.status == S.PENDING_CUSTOMER
    if was_paused and to_status != S.PENDING_CUSTOMER:
        sla.resume(t, now, cal=cal, share=s.at_risk_share)
    t.status = to_status
    if to_status == S.PENDING_CUSTOMER:
        sla.pause(t, now)
    if to_status in DONE:
        sla.check_resolution(t, now)
        if t.resolved_at is None:
            t.resolved_at = now
        _uncount_complaint(t)
        escalations_close(ticket=t, now=now)
        t.arrival_checked = True  # nothing left to escalate on arrival
    else:
        t.resolved_at = None
        if t.order_id and not t.complaint_counted:
            _count_complaint(t, t.order, now)
    t.agreement_status = sla.agreement_of(t)


@atomic_with_retry
def ticket_transition(*, ticket: Ticket, to_status: str, user=None, now=None) -> Ticket:
    """Move a ticket along :data:`TRANSITIONS` — the one writer of ``Ticket.status``.

    Locks the ticket. Pending customer pauses the SLA clock, leaving it resumes it (the time
    on hold moves the resolution due time); resolving/closing checks the resolution target,
    takes the complaint off the order (its priority drops back) and de-escalates (open
    escalations closed, inbox entries done). Writes an internal note with who moved it.
    Raises :class:`InvalidTicketStatus` for a move the table does not allow."""
    now = now or timezone.now()
    t = _lock(ticket)
    before = t.get_status_display()
    _move(t, to_status, now=now, user=user)
    t.save()
    who = user.get_username() if user else "system"
    TicketMessage.objects.create(
        ticket=t,
        client_id=t.client_id,
        kind=TicketMessage.Kind.NOTE,
        author=user,
        body=f"Status: {before} → {t.get_status_display()} ({who}).",
        created_at=now,
    )
    ticket.__dict__.update(t.__dict__)
    return t


def reply_message_id(message_id: int) -> str:
    domain = getattr(settings, "SUPPORT_MESSAGE_ID_DOMAIN", "bpo-backoffice.invalid")
    return f"<ticket-msg-{message_id}@{domain}>"


@atomic_with_retry
def ticket_reply(
    *,
    ticket: Ticket,
    user,
    body: str,
    set_status: str | None = None,
    uploads: Iterable[Upload] = (),
    now: datetime | None = None,
) -> TicketMessage:
    """An agent's reply to the customer: stored, and e-mailed through the notification
    machinery (a ``ticket_reply`` :class:`Notification`, unique per message, sent once by the
    same task as every customer e-mail) with ``[T-n]`` in the subject and its own Message-ID
    so replies thread back. Records first/next reply time (a late first reply breaches the
    first-response target); a new ticket becomes open, then ``set_status`` (e.g. pending
    customer: the clock pauses). Locks the ticket. Raises :class:`TicketError`."""
    now = now or timezone.now()
    t = _lock(ticket)
    if t.status == S.CLOSED:
        raise TicketError(f"{t.ref} is closed.")
    if not t.requester_email:
        raise TicketError(f"{t.ref} has no customer e-mail address: log the call as a note.")
    msg = _add_message(
        t, kind=TicketMessage.Kind.OUTBOUND, body=body, now=now, author=user, uploads=uploads
    )
    msg.message_id = reply_message_id(msg.pk)
    msg.save(update_fields=["message_id"])
    sla.record_public_reply(t, now)
    if t.status == S.NEW:
        _move(t, S.OPEN, now=now, user=user)
    if set_status and set_status != t.status:
        _move(t, set_status, now=now, user=user)
    t.agreement_status = sla.agreement_of(t)
    if t.assignee_id is None:
        t.assignee = user
    t.save()
    subject = t.subject if t.subject.lower().startswith("re:") else f"Re: {t.subject}"
    n = Notification.objects.create(
        client_id=t.client_id,
        order_id=t.order_id,
        event=Event.TICKET_REPLY,
        announces=f"msg:{msg.pk}",
        recipient=t.requester_email,
        subject=f"{subject} [{t.ref}]"[:255],
        body_text=msg.body,
    )
    transaction.on_commit(
        lambda: enqueue_many("support.tasks.send_notification", [(n.pk,)], group="tickets")
    )
    ticket.__dict__.update(t.__dict__)
    return msg


@atomic_with_retry
def ticket_note(
    *, ticket: Ticket, user, body: str, uploads: Iterable[Upload] = ()
) -> TicketMessage:
    """An internal note (never e-mailed). Locks the ticket."""
    t = _lock(ticket)
    return _add_message(
        t, kind=TicketMessage.Kind.NOTE, body=body, now=timezone.now(), author=user, uploads=uploads
    )


@atomic_with_retry
def ticket_from_tracking_page(*, order: Order, name: str, message: str) -> Ticket:
    """The tracking page's contact form: the message joins the open tracking-page ticket of
    this order if there is one (a customer pressing send twice opens one ticket), else opens
    a new ticket linked to the order and its customer. Raises :class:`TicketError`."""
    open_ticket = (
        Ticket.objects.filter(order=order, channel=Ticket.Channel.TRACKING)
        .exclude(status__in=DONE)
        .order_by("-id")
        .first()
    )
    if open_ticket is not None:
        ticket_customer_message(ticket=open_ticket, body=message, channel=Ticket.Channel.TRACKING)
        return open_ticket
    from support.inbound import guess_category

    return ticket_create(
        client=order.client,
        channel=Ticket.Channel.TRACKING,
        subject=f"Message about order {order.number}",
        body=message,
        requester_name=name,
        customer=order.customer,
        order=order,
        category=guess_category(message),
    )


def _may_assign(user, client_id: int, assignee) -> None:
    if not can_access_client(user, client_id):
        raise TicketPermissionDenied("Not your client.")
    if assignee is not None and assignee != user and not is_supervisor_for(user, client_id):
        raise TicketPermissionDenied("Only a supervisor of this client assigns tickets to others.")
    if assignee is not None and not (
        assignee.is_superuser
        or Membership.objects.filter(user=assignee, client_id=client_id).exists()
    ):
        raise TicketPermissionDenied(f"{assignee.get_username()} does not work for this client.")


@atomic_with_retry
def ticket_assign(*, ticket: Ticket, assignee, user) -> Ticket:
    """Assign (or unassign with None). Agents take tickets for themselves; assigning to
    someone else needs the supervisor role for the ticket's client. Locks the ticket."""
    t = _lock(ticket)
    _may_assign(user, t.client_id, assignee)
    t.assignee = assignee
    t.save(update_fields=["assignee", "updated_at"])
    ticket.__dict__.update(t.__dict__)
    return t


def tickets_bulk_assign(*, ticket_ids: Iterable[int], assignee, user) -> tuple[int, list[str]]:
    """Assign several tickets; returns (done, errors), each ticket in its own transaction."""
    done, errors = 0, []
    for t in Ticket.objects.filter(pk__in=list(ticket_ids)).order_by("pk"):
        try:
            ticket_assign(ticket=t, assignee=assignee, user=user)
            done += 1
        except TicketError as exc:
            errors.append(f"{t.ref}: {exc}")
    return done, errors


def tickets_bulk_close(*, ticket_ids: Iterable[int], user) -> tuple[int, list[str]]:
    """Close several tickets (supervisor of each ticket's client); (done, errors)."""
    done, errors = 0, []
    for t in Ticket.objects.filter(pk__in=list(ticket_ids)).order_by("pk"):
        if not is_supervisor_for(user, t.client_id):
            errors.append(f"{t.ref}: only a supervisor of this client closes tickets in bulk.")
            continue
        try:
            ticket_transition(ticket=t, to_status=S.CLOSED, user=user)
            done += 1
        except TicketError as exc:
            errors.append(f"{t.ref}: {exc}")
    return done, errors


TAKEABLE = (S.NEW, S.OPEN)


@atomic_with_retry
def ticket_take_next(*, user, client_ids=None) -> Ticket | None:
    """Assign the unassigned ticket due soonest (highest escalation first) of the user's
    clients to the user. On PostgreSQL the row is taken with ``FOR UPDATE SKIP LOCKED``: two
    agents pressing at once get two different tickets. Locks the ticket taken."""
    qs = Ticket.objects.filter(assignee__isnull=True, status__in=TAKEABLE)
    if client_ids is not None:
        if not client_ids:
            return None
        qs = qs.filter(client_id__in=client_ids)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    else:
        qs = qs.select_for_update()
    t = qs.order_by("resolution_due", "id").first()
    if t is None:
        return None
    t.assignee = user
    t.save(update_fields=["assignee", "updated_at"])
    return t


@atomic_with_retry
def ticket_link_order(*, ticket: Ticket, order: Order | None, user) -> Ticket:
    """Link (or unlink) the ticket's order — only an order of the same client. Moves the
    complaint count with it. Locks the ticket (and the order rows whose count changes)."""
    t = _lock(ticket)
    if order is not None and order.client_id != t.client_id:
        raise TicketError("That order belongs to another client.")
    _uncount_complaint(t)
    t.order = order
    if order is not None:
        _count_complaint(t, order, timezone.now())
        _order_note(order.pk, f"Ticket {t.ref} linked: {t.subject}", user=user)
    t.save()
    ticket.__dict__.update(t.__dict__)
    return t


def macro_context(ticket: Ticket) -> dict:
    """Plain values for canned replies (the sandboxed renderer takes no model instances)."""
    from support import links
    from support.services import tracking_token

    values = {
        "ticket_ref": ticket.ref,
        "customer_name": ticket.requester_name or "there",
        "order_number": "",
        "order_status": "",
        "expected_date": "",
        "tracking_url": "",
    }
    order = ticket.order
    if order is not None:
        dates = [
            d for d in order.lines.values_list("expected_available_on", flat=True) if d is not None
        ]
        tz = sla.calendar_for(ticket.client).tz
        expected = max(dates) if dates else order.ship_by.astimezone(tz).date()
        values.update(
            order_number=order.number,
            order_status=order.get_status_display().lower(),
            expected_date=expected.isoformat(),
            tracking_url=links.tracking_url(tracking_token(order=order)),
        )
    return values


def macro_render(*, macro: Macro, ticket: Ticket) -> str:
    """Fill a canned reply from the ticket's order; raises :class:`TicketError` if the
    macro does not compile or belongs to another client."""
    if macro.client_id != ticket.client_id:
        raise TicketError("That canned reply belongs to another client.")
    try:
        return render_string(macro.body, macro_context(ticket), html=False).strip()
    except TemplateRefused as exc:
        raise TicketError(f"Canned reply '{macro.name}' is broken: {exc}") from exc


def ticket_apply_macro(*, ticket: Ticket, macro: Macro, user) -> TicketMessage:
    """Send a canned reply (and move to its status, if it names one)."""
    body = macro_render(macro=macro, ticket=ticket)
    return ticket_reply(ticket=ticket, user=user, body=body, set_status=macro.set_status or None)


def escalations_close(*, ticket: Ticket, now: datetime) -> int:
    """De-escalate on resolution: open escalations closed, their inbox entries done, level 0.
    Runs inside the caller's transaction (the ticket is locked)."""
    closed = Escalation.objects.filter(ticket_id=ticket.pk, closed_at__isnull=True).update(
        closed_at=now
    )
    InboxEntry.objects.filter(escalation__ticket_id=ticket.pk, done_at__isnull=True).update(
        done_at=now
    )
    ticket.escalation_level = 0
    return closed
