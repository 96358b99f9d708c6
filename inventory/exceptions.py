class InventoryError(Exception):
    """Base of inventory domain errors; the message is meant for the user."""


class InsufficientStock(InventoryError):
    """Not enough stock (on hand or available) for what was asked."""


class InvalidStockOperation(InventoryError):
    """A stock change that makes no sense (zero quantity, missing reason, inactive site)."""
