"""What the inventory admin pages share: supervisor-only edits, per row's client."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from clients.scoping import (
    is_supervisor_for,
    supervised_client_ids,
)


class SupervisorEditsMixin:
    """Change/add only for supervisors of the row's client; client choices = supervised ones."""

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or is_supervisor_for(request.user, obj.client_id)
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "client" and formfield is not None:
            supervised = supervised_client_ids(request.user)
            if supervised is not None:
                formfield.queryset = formfield.queryset.filter(pk__in=supervised)
        return formfield

    def save_model(self, request, obj, form, change):
        if not is_supervisor_for(request.user, obj.client_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        return False
