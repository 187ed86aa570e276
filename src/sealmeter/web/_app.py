"""The head-end's web process: REST API, meters' uplink door and dashboard in one FastAPI app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from sealmeter import __version__
from sealmeter.clock import Clock, SystemClock
from sealmeter.transport import uplink_router
from sealmeter.web import _routes_billing, _routes_meters, _routes_ops, _routes_records
from sealmeter.web._deps import Doors
from sealmeter.web._metrics import RequestMetrics
from sealmeter.web._port import FleetStates, OperatorApi
from sealmeter.web._problems import install_error_handlers, refuse_nul
from sealmeter.web._tokens import TokenStore
from sealmeter.web.dashboard._pages import router as dashboard_router

__all__ = ["create_app"]

_DESCRIPTION = """
The operator API of the sealmeter head-end ("security box").

* Operators authenticate with an API token: `Authorization: Bearer smt_<id>_<secret>`.
  Roles: **read-only** (every GET), **operator** (also provisions, blocks, acknowledges,
  publishes schedules), **admin** (also decommissions and manages tokens).
* Meters use `POST /v1/uplink` with sealed bytes; they are authenticated by their signatures.
* Listings are paged: pass `next_cursor` back as `cursor`; `limit` is 1 to 500.
* Times are ISO 8601 with a zone; money is a decimal string.
* Every error has one JSON shape: `{"error": code, "detail": text}` (plus `fields` on 422).
"""


def create_app(
    headend: OperatorApi,
    tokens: TokenStore,
    *,
    fleet_states: FleetStates,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the web app over `headend` with operator `tokens`.

    `fleet_states` classifies meters at an instant (see `fleet_states_of`); `clock` gives
    "now" to every route (the system clock by default).
    """
    the_clock = clock if clock is not None else SystemClock()
    metrics = RequestMetrics()
    app = FastAPI(
        title="sealmeter head-end",
        version=__version__,
        description=_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.doors = Doors(
        headend=headend, fleet_states=fleet_states, tokens=tokens, clock=the_clock, metrics=metrics
    )
    install_error_handlers(app)
    app.middleware("http")(refuse_nul)
    app.middleware("http")(metrics.middleware)
    handler: Callable[[bytes], bytes] = lambda data: headend.handle_uplink(  # noqa: E731
        data, the_clock.now()
    )
    app.include_router(uplink_router(handler))
    for module in (_routes_meters, _routes_records, _routes_billing, _routes_ops):
        app.include_router(module.router)
    app.include_router(dashboard_router)
    return app
