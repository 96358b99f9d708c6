from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        from inventory.demand import register_demand_provider
        from orders import receivers  # noqa: F401 - connects the signal receivers
        from orders.selectors import daily_demand_stats

        # Replenishment (inventory) plans from order-line demand it cannot import itself.
        register_demand_provider(daily_demand_stats)
