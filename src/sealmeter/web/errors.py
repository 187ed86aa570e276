"""Errors of the REST doors, split by whose fault they are.

Each carries the HTTP status and a stable machine-readable `code` that the API puts in its
one error body, `{"error": code, "detail": text}` (the same shape the uplink route uses).
"""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFoundError",
    "TokenError",
    "Unauthenticated",
    "Unavailable",
    "WebError",
]


class WebError(UsageError):
    """A request the API refuses; `status` and `code` go into the JSON error body."""

    status: int = 400
    code: str = "bad_request"


class BadRequest(WebError):
    """The request's parameters or body are invalid; the message says which and how."""

    status = 400
    code = "bad_request"


class Unauthenticated(WebError):
    """No API token, or one that is unknown, malformed or revoked: send a valid bearer token."""

    status = 401
    code = "unauthenticated"


class Forbidden(WebError):
    """The token is valid but its role may not do this; ask an admin for a stronger role."""

    status = 403
    code = "forbidden"


class NotFoundError(WebError):
    """The meter, alert, schedule or token named in the path does not exist."""

    status = 404
    code = "not_found"


class Conflict(WebError):
    """The request clashes with the current state (e.g. the meter id is already provisioned)."""

    status = 409
    code = "conflict"


class TokenError(UsageError):
    """An API token operation was misused (unknown role, empty name, unknown token id)."""


class Unavailable(EnvironmentFault):
    """The head-end's store cannot be reached; the API answers 503, retry later."""
