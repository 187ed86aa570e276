"""Shared request plumbing: the `Doors` context of one app, and the role checks.

Operators authenticate with ``Authorization: Bearer <token>`` (the dashboard sends the same
token from an HttpOnly cookie set at login); each route names the weakest role it allows.
Meters never use tokens: the uplink route trusts only their signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sealmeter.clock import Clock
from sealmeter.web._metrics import RequestMetrics
from sealmeter.web._port import FleetStates, OperatorApi
from sealmeter.web._tokens import Role, TokenInfo, TokenStore
from sealmeter.web.errors import Forbidden, Unauthenticated

__all__ = [
    "COOKIE",
    "MAX_LIMIT",
    "Doors",
    "Limit",
    "current_doors",
    "doors_of",
    "require",
    "token_from_request",
]

COOKIE = "sealmeter_token"
MAX_LIMIT = 500
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1 to 500)")]

_bearer = HTTPBearer(auto_error=False, description="An API token: smt_<id>_<secret>")


@dataclass(frozen=True)
class Doors:
    """What a request handler needs: the head-end, its fleet view, tokens, a clock, metrics."""

    headend: OperatorApi
    fleet_states: FleetStates
    tokens: TokenStore
    clock: Clock
    metrics: RequestMetrics

    def now(self) -> datetime:
        """The current instant from the injected clock."""
        return self.clock.now()


def doors_of(request: Request) -> Doors:
    """The `Doors` of the app serving `request`."""
    doors = request.app.state.doors
    assert isinstance(doors, Doors)
    return doors


async def current_doors(request: Request) -> Doors:
    """`doors_of` as a dependency (async: it does no I/O, so it needs no worker thread)."""
    return doors_of(request)


def token_from_request(request: Request, bearer: HTTPAuthorizationCredentials | None) -> str:
    """The operator token of a request: the bearer header first, else the dashboard cookie."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie
    raise Unauthenticated(
        "this route needs an operator API token; send 'Authorization: Bearer smt_...' "
        "(create one with 'sealmeter token create')"
    )


def require(role: Role) -> Callable[..., TokenInfo]:
    """A dependency that admits a request whose token has at least `role`."""

    def check(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> TokenInfo:
        info = doors_of(request).tokens.verify(token_from_request(request, bearer))
        if not info.role.allows(role):
            raise Forbidden(
                f"the token {info.token_id!r} has role {info.role.value!r}; this needs "
                f"{role.value!r} or stronger: ask an admin for such a token"
            )
        return info

    check.__name__ = f"require_{role.name.lower()}"
    return check
