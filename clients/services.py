"""Writes of the clients app: memberships and the role groups that follow from them."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from clients import roles
from clients.models import Client, Membership
from clients.scoping import forget_cached_scope

User = get_user_model()


def user_sync_role_groups(*, user) -> None:
    """Put the user in exactly the role groups their memberships call for; staff iff any.

    The groups carry model permissions; which clients' rows are visible is Membership's job.
    """
    memberships = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    wanted = set()
    if Membership.Role.AGENT in memberships:
        wanted.add(roles.AGENT)
    if Membership.Role.SUPERVISOR in memberships:
        wanted.add(roles.SUPERVISOR)
    role_groups = Group.objects.filter(name__in=[roles.AGENT, roles.SUPERVISOR])
    for group in role_groups:
        if group.name in wanted:
            user.groups.add(group)
        else:
            user.groups.remove(group)
    should_be_staff = bool(memberships) or user.is_superuser
    if user.is_staff != should_be_staff:
        user.is_staff = should_be_staff
        user.save(update_fields=["is_staff"])
    forget_cached_scope(user)


@transaction.atomic
def membership_set(*, user, client: Client, role: str) -> Membership:
    """Grant (or change) the user's role on one client and re-sync their role groups."""
    membership, _ = Membership.objects.update_or_create(
        user=user, client=client, defaults={"role": role}
    )
    user_sync_role_groups(user=user)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Withdraw a user's access to one client."""
    user = membership.user
    membership.delete()
    user_sync_role_groups(user=user)
