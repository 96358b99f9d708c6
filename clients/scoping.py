"""Tenancy: the one place that decides which clients' rows a user may see and touch.

Every client-owned admin, selector, export and import goes through these helpers, so the rule
"an agent never sees another client's data" is enforced by one indexed
``WHERE client_id IN (...)`` and nowhere re-implemented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin
from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

_CACHE_ATTR = "_bpo_client_ids"
_ROLE_CACHE_ATTR = "_bpo_client_roles"


def client_ids_for(user: AbstractBaseUser) -> frozenset[int] | None:
    """Ids of the active clients the user may work on; ``None`` means all (superuser)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        from clients.models import Membership

        cached = frozenset(
            Membership.objects.filter(user=user, client__active=True).values_list(
                "client_id", flat=True
            )
        )
        setattr(user, _CACHE_ATTR, cached)
    return cached


def roles_for(user: AbstractBaseUser) -> dict[int, str]:
    """``{client_id: role}`` for the user's active memberships."""
    cached = getattr(user, _ROLE_CACHE_ATTR, None)
    if cached is None:
        from clients.models import Membership

        cached = dict(
            Membership.objects.filter(user=user, client__active=True).values_list(
                "client_id", "role"
            )
        )
        setattr(user, _ROLE_CACHE_ATTR, cached)
    return cached


def forget_cached_scope(user: AbstractBaseUser) -> None:
    for attr in (_CACHE_ATTR, _ROLE_CACHE_ATTR):
        if hasattr(user, attr):
            delattr(user, attr)


def can_access_client(user: AbstractBaseUser, client_id: int | None) -> bool:
    ids = client_ids_for(user)
    return ids is None or (client_id is not None and client_id in ids)


def is_supervisor_for(user: AbstractBaseUser, client_id: int) -> bool:
    """Supervisor-only work (cancel, stock, imports, weights) needs this role for that client."""
    if getattr(user, "is_superuser", False):
        return True
    return roles_for(user).get(client_id) == "supervisor"


def supervised_client_ids(user: AbstractBaseUser) -> frozenset[int] | None:
    """Ids of the active clients the user supervises; ``None`` means all (superuser).

    The Supervisor group's model permissions hold for every client of a user who supervises
    any one: where supervisor work is tied to a client, this is the list to check against.
    """
    ids = client_ids_for(user)
    if ids is None:
        return None
    return frozenset(
        client_id
        for client_id, role in roles_for(user).items()
        if role == "supervisor" and client_id in ids
    )


def scope_queryset(
    queryset: models.QuerySet, user: AbstractBaseUser, client_field: str = "client"
) -> models.QuerySet:
    """Limit ``queryset`` to rows whose ``client_field`` is one of the user's clients."""
    ids = client_ids_for(user)
    if ids is None:
        return queryset
    if not ids:
        return queryset.none()
    lookup = "pk__in" if client_field in {"pk", "id"} else f"{client_field}__in"
    return queryset.filter(**{lookup: ids})


def client_field_of(model: type[models.Model]) -> str | None:
    """How a model reaches its client: the Client model itself, a direct ``client`` FK, or None."""
    from clients.models import Client

    if model is Client:
        return "pk"
    try:
        field = model._meta.get_field("client")
    except Exception:
        return None
    if getattr(field, "related_model", None) is Client:
        return "client"
    return None


def scope_related_queryset(queryset: models.QuerySet, user: AbstractBaseUser) -> models.QuerySet:
    """Scope the choices of a foreign key/many-to-many field if its model is client-owned."""
    field = client_field_of(queryset.model)
    if field is None:
        return queryset
    return scope_queryset(queryset, user, field)


class ClientScopedAdminMixin:
    """Admin mixin: list, search, autocomplete, FK choices, exports and object URLs all scoped.

    ``client_field`` names the path from the model to its Client (``"client"`` for rows that
    carry it directly, ``"pk"`` for Client itself, ``"order__client"`` for children).
    """

    client_field = "client"
    show_full_result_count = False

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request.user, self.client_field)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            # Another client's id (or a missing one) is simply not there: 404, never a hint.
            raise Http404("No such object.")
        return obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = scope_related_queryset(formfield.queryset, request.user)
        return formfield

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = scope_related_queryset(formfield.queryset, request.user)
        return formfield

    def _in_scope(self, request, obj) -> bool:
        if obj is None:
            return True
        if self.client_field in {"pk", "id"}:
            return can_access_client(request.user, obj.pk)
        if self.client_field == "client":
            return can_access_client(request.user, obj.client_id)
        return scope_queryset(
            type(obj)._default_manager.filter(pk=obj.pk), request.user, self.client_field
        ).exists()

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and self._in_scope(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._in_scope(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._in_scope(request, obj)


class ClientScopedAdmin(ClientScopedAdminMixin, admin.ModelAdmin):
    pass


class ClientScopedInlineMixin:
    """Inline forms: foreign-key choices limited to the user's clients too."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if formfield is not None and hasattr(formfield, "queryset"):
            formfield.queryset = scope_related_queryset(formfield.queryset, request.user)
        return formfield


class ClientListFilter(admin.SimpleListFilter):
    """ "By client" filter that lists only the user's clients (the stock one lists them all)."""

    title = "client"
    parameter_name = "client"

    def lookups(self, request, model_admin):
        from clients.models import Client

        clients = scope_queryset(Client.objects.filter(active=True), request.user, "pk")
        return [(str(c.pk), c.code) for c in clients.order_by("code")]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        field = getattr(self, "client_field", None) or "client"
        lookup = "pk" if field in {"pk", "id"} else f"{field}_id"
        return queryset.filter(**{lookup: int(value)})
