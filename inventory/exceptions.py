class InventoryError(Exception):
    """Base of inventory domain errors; the message is meant for the user."""


class InsufficientStock(InventoryError):
    """Not enough stock (on hand or available) for what was asked."""


class InvalidStockOperation(InventoryError):
    """A stock change that makes no sense (zero quantity, missing reason, inactive site)."""


class PurchasingError(InventoryError):
    """A purchase order or replenishment request that cannot be done as asked."""


class InvalidPurchaseOrderTransition(PurchasingError):
    """A purchase order cannot move from its status to the one asked for."""


class ReceiptError(PurchasingError):
    """A receipt against a purchase order was refused (over-receipt, unknown SKU …)."""
