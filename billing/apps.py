from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Invoicing and payments"

    def ready(self) -> None:
        from billing import receivers  # noqa: F401 - connects the signal receivers
