class SupportError(Exception):
    """A customer-communication action that cannot be done; the message says why."""


class TemplateInvalid(SupportError):
    """A notification template that does not compile (``errors``: one message per part)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))
