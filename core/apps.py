from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Generic, domain-free helpers: bulk database writes, lookups, paginators, signed webhooks."""

    name = "core"
    verbose_name = "Core helpers"

    def ready(self) -> None:
        from core import lookups  # noqa: F401  (registers field__anyof)
