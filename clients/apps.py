from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients and access"

    def ready(self) -> None:
        from clients import roles

        # Permissions of every app exist only after migrate has run post_migrate for auth;
        # syncing the role groups then keeps them exactly as roles.py declares.
        post_migrate.connect(roles.sync_role_groups_on_migrate, dispatch_uid="clients_sync_roles")
