class SupportError(Exception):
    """A customer-communication action that cannot be done; the message says why."""


class TemplateInvalid(SupportError):
    """A notification template that does not compile (``errors``: one message per part)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


class TicketError(SupportError):
    """A ticket action that cannot be done (shown to the agent as a message)."""


class InvalidTicketStatus(TicketError):
    """A status move the ticket transition table does not allow."""


class TicketPermissionDenied(TicketError):
    """The user lacks the role for this client (supervisor-only work)."""


class AttachmentRefused(TicketError):
    """An attachment over the size limit or of a type not accepted."""


class MalformedEmail(SupportError):
    """An inbound e-mail that cannot become a ticket message; nothing was stored."""
