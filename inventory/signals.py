from django.dispatch import Signal

# Sent inside the transaction that made stock available (receipt, return, adjustment up,
# transfer in), with ``product_ids``: higher apps fill waiting demand in priority order.
stock_became_available = Signal()

# Sent while rendering a product's admin page, with ``product``; a receiver returns a panel
# dict ``{"title": str, "template": str, "context": dict}`` (or None) to show on the page.
product_page_panels = Signal()
