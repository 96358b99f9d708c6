from django.dispatch import Signal

# Sent inside the transaction that made stock available (receipt, return, adjustment up,
# transfer in), with ``product_ids``: higher apps fill waiting demand in priority order.
stock_became_available = Signal()
