"""Admin for django-axes' login records, with an "Unlock" action.

axes' own admin classes are reused (``AXES_ENABLE_ADMIN = False`` stops axes registering them
on the default site itself); we add the action an administrator needs when an agent is locked
out: unlock selected user name + address pairs now instead of waiting for the cool-off.
"""

from __future__ import annotations

import logging

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages

log = logging.getLogger(__name__)


@admin.register(AccessAttempt)
class LoginAttemptAdmin(AccessAttemptAdmin):
    """Failed-login counters per user name + address; a locked-out pair is unlocked here."""

    actions = ["unlock", "cleanup_expired_attempts"]

    @admin.action(description="Unlock the selected logins now", permissions=["delete"])
    def unlock(self, request, queryset):
        # The counters *are* the lock: deleting the selected rows lifts exactly those locks
        # (user name + address) and leaves every other one in place.
        pairs = sorted(
            {
                (row.username or "", row.ip_address or "")
                for row in queryset.only("username", "ip_address")
            }
        )
        deleted, _ = queryset.delete()
        for username, ip in pairs:
            log.info("login unlocked by %s: user %r from %s", request.user, username, ip)
        if not deleted:
            self.message_user(request, "Nothing to unlock.", messages.WARNING)
            return
        names = ", ".join(
            f"{username or '(no user name)'} from {ip or '?'}" for username, ip in pairs
        )
        self.message_user(request, f"Unlocked: {names}.", messages.SUCCESS)


admin.site.register(AccessFailureLog, AccessFailureLogAdmin)
admin.site.register(AccessLog, AccessLogAdmin)
