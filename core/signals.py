"""Signals of the lowest app, so that every app can join in without the project importing it."""

from django.dispatch import Signal

# Sent while rendering the admin home page (``bpo_backoffice.admin.BPOAdminSite.index``) with
# ``request``. A receiver returns a panel dict ``{"id": str, "title": str, "template": str,
# "context": dict, "order": int}`` (or None): the page shows the panels by ``order`` (lower
# first), each in a box, above the list of apps. Orders adds the day's work (orders/admin_home);
# support tickets and reports add theirs the same way. Receivers must stay fast at a million
# orders: bounded counts, a handful of indexed queries.
home_page_panels = Signal()
