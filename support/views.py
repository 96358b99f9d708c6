"""The customer's public pages: tracking (with a contact form) and cancel-by-link.

No login: a signed, expiring, revocable token (support/links.py) is the key. Every page is
rate-limited per IP, never cached, never framed, and shows a clear page — never a 500 or
another order — for an expired, tampered or revoked link.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.webhooks import WebhookRejected, WebhookSpec, receive, require_post
from orders.exceptions import OrderError
from support import links
from support.exceptions import MalformedEmail, SupportError
from support.forms import ContactForm
from support.inbound import email_ingest
from support.selectors import tracking_page_data
from support.services import customer_message_record, order_cancel_by_customer

LINK_ERRORS = {
    "invalid": (
        404,
        "This link does not work",
        "The link is incomplete or has been altered. Please use the link from your most recent "
        "e-mail, exactly as it was sent.",
    ),
    "expired": (
        410,
        "This link has expired",
        "For your privacy, tracking links only work for a limited time. The latest e-mail about "
        "your order contains a fresh link.",
    ),
    "revoked": (
        410,
        "This link is no longer valid",
        "A newer link was issued for this order. Please use the link from your most recent e-mail.",
    ),
}


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def public_page(view):
    """Rate limit per IP (Django's cache, fixed one-minute window) and private-page headers."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        limit = getattr(settings, "TRACKING_RATE_LIMIT_PER_MINUTE", 60)
        key = f"support:track-rl:{_client_ip(request)}:{int(timezone.now().timestamp() // 60)}"
        if cache.add(key, 1, timeout=90):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=90)
                count = 1
        if count > limit:
            response = render(
                request,
                "support/public/message.html",
                {
                    "title": "Too many requests",
                    "text": "Please wait a minute and try again.",
                },
                status=429,
            )
            response["Retry-After"] = "60"
        else:
            response = view(request, *args, **kwargs)
        response["Cache-Control"] = "no-store, private, max-age=0"
        response["X-Frame-Options"] = "DENY"
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


def _link_error(request, reason: str):
    status, title, text = LINK_ERRORS[reason]
    return render(
        request, "support/public/message.html", {"title": title, "text": text}, status=status
    )


def _resolve(token: str):
    """(TrackingLink with order, None) or (None, error reason)."""
    from support.models import TrackingLink

    try:
        claim = links.read_token(token)
    except links.LinkError as exc:
        return None, exc.reason
    link = (
        TrackingLink.objects.select_related("order", "order__client", "order__customer")
        .filter(public_id=claim.public_id)
        .first()
    )
    if link is None:
        return None, "invalid"
    if link.version != claim.version:
        return None, "revoked"
    return link, None


@public_page
@require_http_methods(["GET", "POST"])
def tracking(request, token: str):
    link, error = _resolve(token)
    if error:
        return _link_error(request, error)
    order = link.order
    form = ContactForm(request.POST or None)
    sent = request.GET.get("sent") == "1"
    if request.method == "POST" and form.is_valid():
        try:
            customer_message_record(
                order=order, name=form.cleaned_data["name"], message=form.cleaned_data["message"]
            )
        except SupportError as exc:
            form.add_error("message", str(exc))
        else:
            return redirect(f"{request.path}?sent=1#contact")
    data = tracking_page_data(order)
    return render(
        request,
        "support/public/tracking.html",
        {**data, "form": form, "sent": sent, "token": token},
        status=400 if request.method == "POST" else 200,
    )


@public_page
@require_http_methods(["GET", "POST"])
def cancel(request, token: str):
    link, error = _resolve(token)
    if error:
        return _link_error(request, error)
    order = link.order
    tracking_url = links.tracking_url(token)
    if not order.is_open:
        return render(
            request,
            "support/public/message.html",
            {
                "title": f"Order {order.number} is {order.get_status_display().lower()}",
                "text": "It can no longer be cancelled online. Use the contact form on the "
                "tracking page if you need help.",
                "back_url": tracking_url,
            },
        )
    if request.method == "POST":
        try:
            order_cancel_by_customer(order=order)
        except OrderError as exc:
            return render(
                request,
                "support/public/message.html",
                {
                    "title": "The order could not be cancelled",
                    "text": str(exc),
                    "back_url": tracking_url,
                },
                status=409,
            )
        return render(
            request,
            "support/public/message.html",
            {
                "title": f"Order {order.number} is cancelled",
                "text": "Nothing more will ship and you will not be charged for it. A "
                "confirmation e-mail is on its way.",
                "back_url": tracking_url,
            },
        )
    return render(
        request,
        "support/public/cancel.html",
        {"order": order, "tracking_url": tracking_url},
    )


INBOUND_EMAIL_WEBHOOK = WebhookSpec(
    signature_header="X-Inbound-Signature",
    timestamp_header="X-Inbound-Timestamp",
    max_body_bytes=20 * 1024 * 1024,
    max_age_seconds=300,
    max_depth=8,
)


@csrf_exempt
def inbound_email(request):
    """The e-mail provider's inbound webhook: ``{"raw": "<RFC 822 message>"}`` signed with
    the shared secret (core/webhooks.py checks method, size, type, timestamp, signature and
    JSON). 200 with the ticket reference; 422 for a message refused (nothing stored)."""
    try:
        require_post(request)
        payload = receive(
            request,
            spec=INBOUND_EMAIL_WEBHOOK,
            secrets=settings.SUPPORT_INBOUND_WEBHOOK_SECRETS,
        ).data
    except WebhookRejected as exc:
        return exc.response()
    raw = payload.get("raw") if isinstance(payload, dict) else None
    if not isinstance(raw, str) or not raw:
        return JsonResponse({"error": "'raw' must hold the RFC 822 message."}, status=400)
    try:
        result = email_ingest(raw=raw.encode("utf-8", "surrogateescape"))
    except MalformedEmail as exc:
        return JsonResponse({"error": f"Message refused: {exc}"}, status=422)
    return JsonResponse(
        {
            "ok": True,
            "ticket": result.ticket.ref,
            "created": result.created,
            "duplicate": result.duplicate,
        }
    )
