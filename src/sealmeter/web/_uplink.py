"""The meters' door, ``POST /v1/uplink``: sealed bytes in, sealed bytes out, no token.

Meters authenticate by their signatures only, which the head-end checks; this route just
moves bytes (the contract of the transport package's `uplink_router`, which replaces it once
that package is on main). Errors use the API's one error body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from sealmeter.errors import EnvironmentFault
from sealmeter.web._problems import error_response
from sealmeter.web._schemas import ErrorBody

__all__ = ["MAX_UPLINK_BYTES", "OCTET_STREAM", "uplink_routes"]

_ERROR_DOC: dict[str, Any] = {"model": ErrorBody, "content": {"application/json": {}}}

OCTET_STREAM = "application/octet-stream"
MAX_UPLINK_BYTES = 256 * 1024


def uplink_routes(handler: Callable[[bytes], bytes]) -> APIRouter:
    """A router serving ``POST /v1/uplink`` with `handler` (uplink bytes → downlink bytes)."""
    router = APIRouter(tags=["meters' door"])

    @router.post(
        "/v1/uplink",
        response_class=Response,
        responses={
            200: {
                "description": "The sealed downlink, or the opaque rejection answer",
                "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            },
            400: _ERROR_DOC | {"description": "Empty body"},
            413: _ERROR_DOC | {"description": "Uplink larger than the limit"},
            415: _ERROR_DOC | {"description": "Body is not application/octet-stream"},
            503: _ERROR_DOC | {"description": "The store is unavailable; retry later"},
        },
    )
    async def post_uplink(request: Request) -> Response:
        """Deliver one sealed meter uplink; the reply body is the sealed downlink."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != OCTET_STREAM:
            return error_response(
                415, "unsupported_media_type", f"send the uplink as {OCTET_STREAM}"
            )
        body = await request.body()
        if not body:
            return error_response(400, "empty", "the uplink body is empty; send the sealed bytes")
        if len(body) > MAX_UPLINK_BYTES:
            return error_response(413, "too_large", f"the limit is {MAX_UPLINK_BYTES} bytes")
        try:
            answer = await run_in_threadpool(handler, body)
        except EnvironmentFault:
            return error_response(
                503,
                "unavailable",
                "cannot store uplinks now; retry later",
                headers={"Retry-After": "30"},
            )
        return Response(content=answer, media_type=OCTET_STREAM)

    return router
