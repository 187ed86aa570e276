"""One error body everywhere: exception handlers that turn every failure into `ErrorBody`.

Typed errors keep their meaning (caller's fault → 4xx with what to change, the store down →
503 with ``Retry-After``); anything unexpected becomes an opaque 500 whose detail names no
internals, and is logged for the operator with the request path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sealmeter.errors import EnvironmentFault, PeerError, UsageError
from sealmeter.web.errors import WebError

__all__ = ["error_response", "install_error_handlers", "refuse_nul"]

log = logging.getLogger("sealmeter.web")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


def error_response(
    status: int,
    code: str,
    detail: str,
    *,
    fields: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's one error shape."""
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _usage_status(exc: UsageError) -> tuple[int, str]:
    name = type(exc).__name__
    if name == "NotFound":
        return 404, "not_found"
    if name == "AlreadyExists":
        return 409, "conflict"
    if "Transition" in name or "State" in name:
        return 409, "conflict"
    return 400, "bad_request"


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        fields.append({"location": ".".join(loc), "problem": str(err.get("msg", "invalid"))})
    return fields


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error the `ErrorBody` shape."""

    async def on_web_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WebError)
        return error_response(exc.status, exc.code, str(exc))

    async def on_usage(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UsageError)
        status, code = _usage_status(exc)
        return error_response(status, code, str(exc))

    async def on_peer(_request: Request, exc: Exception) -> Response:
        return error_response(400, "bad_data", f"the data was refused: {exc}")

    async def on_environment(request: Request, exc: Exception) -> Response:
        log.warning("503 on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return error_response(
            503,
            "unavailable",
            f"the head-end cannot answer right now ({exc}); retry later",
            headers={"Retry-After": "30"},
        )

    async def on_validation(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = _field_errors(exc)
        where = ", ".join(f["location"] for f in fields) or "the request"
        return error_response(
            422,
            "invalid_request",
            f"invalid value in {where}; see 'fields' for each problem and fix the request",
            fields=fields,
        )

    async def on_http(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        detail = str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such resource; see /docs for the API's routes"
        if exc.status_code == 405:
            detail = "this method is not allowed on this resource; see /docs"
        return error_response(exc.status_code, code, detail, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500, "internal", "the server failed unexpectedly; the operator's log has the cause"
        )

    app.add_exception_handler(WebError, on_web_error)
    app.add_exception_handler(UsageError, on_usage)
    app.add_exception_handler(PeerError, on_peer)
    app.add_exception_handler(EnvironmentFault, on_environment)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)


async def refuse_nul(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: a path or query parameter with a NUL character is refused with a 422.

    No id, cursor or filter can hold one (PostgreSQL text cannot), so the request is wrong
    whichever store serves it; refused here, it is refused the same way on both.
    """
    where = None
    if "\x00" in request.scope.get("path", ""):
        where = "path"
    else:
        for name, value in request.query_params.multi_items():
            if "\x00" in name or "\x00" in value:
                where = f"query.{name}"
                break
    if where is None:
        return await call_next(request)
    return error_response(
        422,
        "invalid_request",
        f"invalid value in {where}: it holds a NUL character, which no parameter may; remove it",
        fields=[{"location": where, "problem": "holds a NUL character"}],
    )
