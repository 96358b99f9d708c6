from django.dispatch import Signal

# Sent inside the transaction that made stock available (receipt, return, adjustment up,
# transfer in), with ``product_ids``: higher apps fill waiting demand in priority order.
stock_became_available = Signal()

# Sent while rendering a product's admin page, with ``product``; a receiver returns a panel
# dict ``{"title": str, "template": str, "context": dict}`` (or None) to show on the page.
product_page_panels = Signal()

# Sent (inside the transaction, with ``product_ids`` and ``purchase_order_ids``) whenever the
# supply expected from purchase orders changes: a PO is sent, received (in part), cancelled or
# its expected date moves (a postponed delivery). Higher apps recompute what waits on it: orders
# re-dates backorders (``OrderLine.expected_available_on``); customer delay notices (support)
# can listen too. Receivers must stay tiny and defer work with ``transaction.on_commit``.
expected_supply_changed = Signal()
