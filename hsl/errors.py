"""Typed errors: each carries one sentence a person can act on."""


class HslError(Exception):
    """Base of every error the app turns into one plain sentence."""


class ValidationError(HslError):
    """The input is malformed or not allowed (a bad date, an unknown stream...)."""


class NotFoundError(HslError):
    """The thing asked for does not exist (a user, an active booking...)."""


class ConflictError(HslError):
    """The change clashes with the current state (same stream, concurrent edit...)."""


class PermissionDenied(HslError):
    """The signed-in role may not do this."""


class DatabaseUnavailable(HslError):
    """The database cannot be reached right now."""


class QueryTimeout(HslError):
    """The database stopped a query that ran past the statement timeout; trying again may work."""
