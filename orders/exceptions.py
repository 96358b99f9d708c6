class OrderError(Exception):
    """Base of order domain errors; the message is meant for the user."""


class InvalidOrderStatus(OrderError):
    """A status change the state machine does not allow."""


class OrderValidationError(OrderError):
    """The order's data is not acceptable (unknown SKU, bad quantity, wrong currency …)."""
