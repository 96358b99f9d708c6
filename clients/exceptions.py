class ClientError(Exception):
    """Base for errors of the clients app."""


class AccessDenied(ClientError):
    """The user may not act on this client's data."""
