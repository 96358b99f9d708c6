class BillingError(Exception):
    """A billing rule refused the request; the message is for the user."""


class InvoiceImmutable(BillingError):
    """An issued invoice or credit note cannot be changed: issue a credit note instead."""


class PaymentRejected(BillingError):
    """A payment that cannot be recorded (unknown order/invoice, bad amount, wrong client)."""
