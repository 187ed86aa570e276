"""Pieces every router shares: role-checked token parameters and the documented error replies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import AwareDatetime

from sealmeter.web._deps import require
from sealmeter.web._schemas import ErrorBody
from sealmeter.web._tokens import Role, TokenInfo

__all__ = ["ERRORS", "Admin", "Cursor", "Operator", "Reader", "Since", "Until", "errors"]

Reader = Annotated[TokenInfo, Depends(require(Role.READ_ONLY))]
Operator = Annotated[TokenInfo, Depends(require(Role.OPERATOR))]
Admin = Annotated[TokenInfo, Depends(require(Role.ADMIN))]

Cursor = Annotated[
    str | None,
    Query(min_length=1, max_length=128, description="Pass the previous page's next_cursor"),
]
Since = Annotated[
    AwareDatetime | None,
    Query(description="Only items at or after this instant (ISO 8601 with a time zone)"),
]
Until = Annotated[
    AwareDatetime | None,
    Query(description="Only items strictly before this instant (ISO 8601 with a time zone)"),
]

_DESCRIPTIONS = {
    400: "The request cannot be carried out as given",
    401: "No valid API token",
    403: "The token's role may not do this",
    404: "No such meter, alert, schedule or token",
    409: "The request clashes with the current state",
    422: "A parameter or the body is invalid",
    503: "The store is unavailable; retry later",
}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text, "content": {"application/json": {}}}
    for status, text in _DESCRIPTIONS.items()
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error replies for `statuses` (400, 401, 403, 422, 503 always are)."""
    wanted = {400, 401, 403, 422, 503, *statuses}
    return {s: ERRORS[s] for s in sorted(wanted)}
