"""Login throttling hooks for django-axes: the client address and the lockout page.

django-axes (configured in settings: lock by user name *and* IP address together, with a
cool-off) calls these two by dotted path. They stay generic: no domain model is involved.
"""

from __future__ import annotations

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def client_ip(request: HttpRequest) -> str | None:
    """The address a login attempt came from, as far as we can trust it.

    With ``TRUSTED_PROXY_COUNT = n`` reverse proxies in front of the app, each appending the
    address it saw to ``X-Forwarded-For``, the client is the n-th entry from the right
    (entries further left were written by the client and can be forged). Without proxies it
    is the TCP peer.
    """
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """The page shown when a user name is locked out from this address (HTTP 429).

    Rendered in the admin's look (the admin site's own context: branding, colour theme) and
    naming the lock's scope, so the agent knows a colleague can still log in at this desk.
    """
    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": int(cool_off.total_seconds() // 60) if cool_off else None,
        "login_url": request.path,
    }
    return TemplateResponse(
        request, "admin/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    ).render()
