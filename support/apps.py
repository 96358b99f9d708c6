from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Customer support"

    def ready(self):
        from support import receivers  # noqa: F401 - connects the signal receivers
