"""The head-end's doors for people and programs: REST API, dashboard, `sealmeter serve`.

`create_app(headend, tokens, clock=...)` builds the FastAPI app; `TokenStore` keeps the
operators' API tokens (hashed) in the head-end's database; `Role` orders what a token may do.
"""

from sealmeter.web.app import create_app
from sealmeter.web.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFoundError,
    TokenError,
    Unauthenticated,
    Unavailable,
    WebError,
)
from sealmeter.web.port import OperatorApi
from sealmeter.web.tokens import IssuedToken, Role, TokenInfo, TokenStore

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IssuedToken",
    "NotFoundError",
    "OperatorApi",
    "Role",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "Unauthenticated",
    "Unavailable",
    "WebError",
    "create_app",
]
