from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = "Fulfillment and shipping"

    def ready(self) -> None:
        from fulfillment import receivers  # noqa: F401 - connects the signal receivers
