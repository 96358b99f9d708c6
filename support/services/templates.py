"""Notification templates: check and save a supervisor's template, compile a client's book of
templates, preview and test-send against a real order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from core.db import atomic_with_retry
from orders.models import Order
from support import links
from support.defaults import DEFAULT_LANGUAGE, DEFAULTS
from support.exceptions import SupportError, TemplateInvalid
from support.models import (
    Event,
    NotificationTemplate,
)
from support.rendering import TemplateRefused, compile_template, freeze, render
from support.selectors import (
    OrderFacts,
    client_zones,
    first_name,
    order_facts,
    policies_for,
)
from support.services.links import tracking_links_ensure


# -- templates ------------------------------------------------------------------------------------
def template_check(*, subject: str, body_text: str, body_html: str) -> None:
    """Raise :class:`TemplateInvalid` (each part's line and error) unless all three compile."""
    errors = []
    for part, source, html in (
        ("Subject", subject, False),
        ("Plain-text body", body_text, False),
        ("HTML body", body_html, True),
    ):
        try:
            compile_template(source or "", html=html, part=part)
        except TemplateRefused as exc:
            errors.append(str(exc))
    if errors:
        raise TemplateInvalid(errors)


@atomic_with_retry
def template_save(*, template: NotificationTemplate, user=None) -> NotificationTemplate:
    """Check that the template compiles in the sandbox, then save it. Raises
    :class:`TemplateInvalid` with the line and the error (nothing saved)."""
    template_check(
        subject=template.subject, body_text=template.body_text, body_html=template.body_html
    )
    template.updated_by = user
    template.save()
    return template


@dataclass(frozen=True, slots=True)
class Compiled:
    language: str
    active: bool
    subject: object
    body_text: object
    body_html: object | None


class TemplateBook:
    """Compiled templates per (client, event), resolved with the language fallback: the
    requested language, then the client's default language, then the shipped default."""

    def __init__(self, client_ids: Iterable[int]) -> None:
        self.policies = policies_for(client_ids)
        self.rows: dict[tuple[int, str, str], NotificationTemplate] = {
            (t.client_id, t.event, t.language): t
            for t in NotificationTemplate.objects.filter(client_id__in=set(client_ids))
        }
        self.cache: dict[tuple[int, str, str], Compiled] = {}

    def get(self, client_id: int, event: str, language: str | None = None) -> Compiled:
        default_language = self.policies[client_id].default_language or DEFAULT_LANGUAGE
        language = language or default_language
        key = (client_id, event, language)
        if key not in self.cache:
            row = self.rows.get(key) or self.rows.get((client_id, event, default_language))
            self.cache[key] = compile_row(row, event)
        return self.cache[key]


def compile_row(row: NotificationTemplate | None, event: str) -> Compiled:
    source = row or DEFAULTS[event]
    return Compiled(
        language=row.language if row else DEFAULT_LANGUAGE,
        active=row.active if row else True,
        subject=compile_template(source.subject, html=False),
        body_text=compile_template(source.body_text, html=False),
        body_html=compile_template(source.body_html, html=True) if source.body_html else None,
    )


def template_test_send(
    *,
    client_id: int,
    order: Order,
    subject: str,
    body_text: str,
    body_html: str,
    to: str,
    event: str = Event.CONFIRMED,
) -> None:
    """Render a (possibly unsaved) template against ``order`` and send it to ``to`` (the
    supervisor), now, through the configured backend. Writes nothing. Raises
    :class:`TemplateInvalid` or :class:`SupportError`."""
    if not to:
        raise SupportError("Your user has no e-mail address: add one to receive test e-mails.")
    rendered = template_preview(
        order=order, event=event, subject=subject, body_text=body_text, body_html=body_html
    )
    message = EmailMultiAlternatives(
        subject=f"[TEST] {rendered['subject']}",
        body=rendered["body_text"],
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    if rendered["body_html"]:
        message.attach_alternative(rendered["body_html"], "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:
        raise SupportError(f"The test e-mail could not be sent: {exc}") from None


def sample_values(event: str, order: Order, tz) -> dict:
    """Event values for a preview: the order's real shipment if it has one, else examples."""
    values: dict = {}
    today = timezone.now().astimezone(tz).date()
    if event in (Event.SHIPPED, Event.OUT_FOR_DELIVERY, Event.EXCEPTION):
        values.update(shipment_values(order.shipments.order_by("-pk").first()))
        values.setdefault("carrier", "Example Carrier")
        values.setdefault("tracking_number", "1Z999AA10123456784")
        values.setdefault(
            "carrier_tracking_url", "https://carrier.example/track/1Z999AA10123456784"
        )
        values.setdefault("eta", today + timedelta(days=2))
        values["exception_reason"] = "address not found"
    if event in (Event.DELAY, Event.BACKORDERED):
        values.update(
            revised_date=today + timedelta(days=7),
            revised_kind="ship",
            delay_reason="An item you ordered is out of stock.",
            expected_date=today + timedelta(days=6),
        )
    return values


def template_preview(
    *, order: Order, event: str, subject: str, body_text: str, body_html: str
) -> dict:
    """Render an unsaved template against a real order (plain values, sandboxed). Raises
    :class:`TemplateInvalid` with each part's line and error. Writes nothing but, for an
    order that has none yet, its tracking link."""
    template_check(subject=subject, body_text=body_text, body_html=body_html)
    tracking_links_ensure(order_ids=[order.pk])
    fact = order_facts([order.pk])[order.pk]
    tz = client_zones([order.client_id])[order.client_id]
    context = order_context(fact, tz, sample_values(event, order, tz))
    context["client_name"] = order.client.name
    frozen = freeze(context)
    return {
        "subject": " ".join(render(compile_template(subject, html=False), frozen).split()),
        "body_text": render(compile_template(body_text, html=False), frozen),
        "body_html": render(compile_template(body_html, html=True), frozen) if body_html else "",
    }


def order_context(facts: OrderFacts, tz, values: dict | None = None) -> dict:
    """The context a template sees: plain values only (frozen before rendering)."""
    token = links.make_token(facts.public_id, facts.link_version) if facts.public_id else ""
    context = {
        "customer_first_name": first_name(facts.customer_name),
        "order_number": facts.number,
        "status": facts.status_label,
        "placed_on": facts.placed_at.astimezone(tz).date(),
        "ship_by": facts.ship_by.astimezone(tz).date(),
        "lines": facts.lines,
        "tracking_url": links.tracking_url(token) if token else "",
        "cancel_url": links.cancel_url(token) if token else "",
    }
    if values:
        context.update(values)
    return context


def shipment_values(shipment) -> dict:
    if shipment is None:
        return {}
    return {
        "carrier": shipment.carrier.name,
        "tracking_number": shipment.tracking_number,
        "carrier_tracking_url": shipment.tracking_url,
        "eta": shipment.eta,
    }
