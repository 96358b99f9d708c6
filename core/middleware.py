"""Idle session timeout for shared workstations.

Why a middleware rather than ``SESSION_COOKIE_AGE`` + ``SESSION_SAVE_EVERY_REQUEST``:

- Background requests must not count as activity. The import progress page polls its status
  every second: with save-every-request, a screen left open on it would never time out. Our
  page scripts mark such requests with the ``X-Background-Request`` header; they are served
  (and an idle session is ended on them) but do not move the last-activity time.
- Save-every-request writes the session row on every request. Here the time is written at
  most once per ``WRITE_EVERY`` seconds, so the timeout is exact to within that minute.
- The user is told why they are back on the login page, instead of silently losing the session.

The header can only *withhold* activity, never extend a session, so trusting it is safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

LAST_ACTIVITY_KEY = "_last_activity"
BACKGROUND_HEADER = "HTTP_X_BACKGROUND_REQUEST"
WRITE_EVERY = 60  # seconds


class IdleSessionTimeoutMiddleware:
    """Log a signed-in user out after ``SESSION_IDLE_TIMEOUT`` without a request of theirs.

    The session stores the time (epoch seconds) of the user's last foreground request. A
    request that comes later than the timeout logs the user out before the view runs, so the
    view sees an anonymous user and the admin sends them to its login page (with ``next``).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY_KEY)
            idle_limit = settings.SESSION_IDLE_TIMEOUT.total_seconds()
            if isinstance(last, int | float) and now - last > idle_limit:
                logout(request)
                minutes = round(idle_limit / 60)
                messages.info(
                    request,
                    f"You were logged out after {minutes} minute{'s' if minutes != 1 else ''} "
                    "without activity. Please log in again.",
                )
            elif request.META.get(BACKGROUND_HEADER) != "1" and (
                last is None or now - last >= WRITE_EVERY
            ):
                request.session[LAST_ACTIVITY_KEY] = int(now)
        return self.get_response(request)
