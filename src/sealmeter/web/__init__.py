"""The head-end's doors for people and programs: REST API, dashboard, `sealmeter serve`.

`create_app(headend, tokens, fleet_states=..., clock=...)` builds the FastAPI app (API, the
meters' uplink door, dashboard); `TokenStore` keeps the operators' API tokens (hashed) in the
head-end's database; `Role` orders what a token may do; `open_service` opens a head-end and
its app the way `sealmeter serve` does.
"""

from sealmeter.web._app import create_app
from sealmeter.web._fleetview import fleet_states_of, meters_page
from sealmeter.web._port import FleetStates, OperatorApi
from sealmeter.web._routes_billing import bill_csv, content_disposition
from sealmeter.web._serve import (
    DEFAULT_DB_URL,
    DEFAULT_HOST,
    DEFAULT_KEY_FILE,
    DEFAULT_PORT,
    Service,
    bootstrap_admin,
    open_service,
    run,
    serve_in_thread,
)
from sealmeter.web._tokens import IssuedToken, Role, TokenInfo, TokenStore
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

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_HOST",
    "DEFAULT_KEY_FILE",
    "DEFAULT_PORT",
    "BadRequest",
    "Conflict",
    "FleetStates",
    "Forbidden",
    "IssuedToken",
    "NotFoundError",
    "OperatorApi",
    "Role",
    "Service",
    "TokenError",
    "TokenInfo",
    "TokenStore",
    "Unauthenticated",
    "Unavailable",
    "WebError",
    "bill_csv",
    "bootstrap_admin",
    "content_disposition",
    "create_app",
    "fleet_states_of",
    "meters_page",
    "open_service",
    "run",
    "serve_in_thread",
]
