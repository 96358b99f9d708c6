"""The escalation inbox count in the admin header (lazy: only pages that show it query)."""

from functools import partial


def inbox(request):
    from support.escalation import inbox_count

    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_staff", False):
        return {}
    # A callable: the template calls it only where the header renders it (one COUNT).
    return {"support_inbox_count": partial(inbox_count, user)}
