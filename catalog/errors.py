"""Errors the catalog's services raise; the web layers turn each into one HTTP status."""


class CatalogError(Exception):
    """Base of the errors a service raises for the caller to report."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(CatalogError):
    """The object does not exist, or the caller may not know that it exists."""


class Forbidden(CatalogError):
    """The caller may see the object but not do this to it."""


class Unauthorized(CatalogError):
    """The caller's credentials are missing, unknown, expired or revoked."""


class Conflict(CatalogError):
    """The change clashes with the current state (a taken slug, a stale revision)."""


class InvalidInput(CatalogError):
    """Input that breaks the catalog's rules; ``fields`` maps each field to its messages."""

    def __init__(self, fields: dict[str, list[str]], message: str = "Invalid input."):
        super().__init__(message)
        self.fields = fields
