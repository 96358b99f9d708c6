class FulfillmentError(Exception):
    """Base of fulfillment domain errors; the message is meant for the user."""


class UnknownTrackingNumbers(FulfillmentError):
    """Events name tracking numbers this carrier has no shipment for (in the caller's scope)."""

    def __init__(self, numbers: list[str]) -> None:
        self.numbers = numbers
        shown = ", ".join(numbers[:10]) + (" …" if len(numbers) > 10 else "")
        super().__init__(f"Unknown tracking number(s): {shown}")
