"""HTTP carrier: the meter POSTs its uplink to `/v1/uplink` and reads the downlink in the reply.

The server half is `uplink_router(handler)`, a FastAPI router the REST app includes; the meter
half is `HttpCarrier`, an httpx client. Bodies are `application/octet-stream` both ways; bad
requests get a JSON error body `{"error": CODE, "detail": TEXT}` with 400, 413 or 415, and a
head-end whose store is down answers 503 with `Retry-After`.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from sealmeter.errors import EnvironmentFault, PeerError
from sealmeter.transport.carrier import Handler
from sealmeter.transport.errors import (
    TransportConfigError,
    TransportDropped,
    TransportRefused,
    TransportTimeout,
)

__all__ = [
    "DEFAULT_MAX_UPLINK_BYTES",
    "OCTET_STREAM",
    "UPLINK_PATH",
    "HttpCarrier",
    "uplink_router",
]

UPLINK_PATH = "/v1/uplink"
OCTET_STREAM = "application/octet-stream"
DEFAULT_MAX_UPLINK_BYTES = 256 * 1024
"""Largest uplink accepted by default: far above a full queue of registrations."""

_ERROR_SCHEMA: dict[str, Any] = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            "required": ["error", "detail"],
        }
    }
}


def _error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def uplink_router(
    handler: Handler, *, max_bytes: int = DEFAULT_MAX_UPLINK_BYTES, path: str = UPLINK_PATH
) -> APIRouter:
    """Build the router serving `POST path`: sealed uplink bytes in, sealed downlink bytes out.

    `handler` is called in a worker thread (it may block on the database); it should answer
    every uplink, even a forged one, with bytes (the head-end's opaque rejection). A
    `PeerError` it raises becomes 400, an `EnvironmentFault` 503.
    """
    if max_bytes <= 0:
        raise TransportConfigError(f"max_bytes must be positive, got {max_bytes}")
    if not path.startswith("/"):
        raise TransportConfigError(f"the uplink path must start with '/', got {path!r}")
    router = APIRouter(tags=["transport"])

    async def post_uplink(request: Request) -> Response:
        """Hand one sealed uplink to the head-end and return its sealed downlink."""
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != OCTET_STREAM:
            return _error(
                415,
                "unsupported_media_type",
                f"the uplink must be sent as {OCTET_STREAM}, not {ctype or 'no content type'}",
            )
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return _error(400, "bad_length", f"Content-Length {declared!r} is not a number")
            if int(declared) > max_bytes:
                return _error(
                    413,
                    "too_large",
                    f"the uplink is {declared} bytes; the limit is {max_bytes} bytes",
                )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_bytes:
                return _error(
                    413, "too_large", f"the uplink exceeds the limit of {max_bytes} bytes"
                )
        if not body:
            return _error(400, "empty", "the uplink body is empty; send the sealed uplink bytes")
        try:
            answer = await run_in_threadpool(handler, bytes(body))
        except PeerError as exc:
            return _error(400, "rejected", f"the uplink was rejected: {type(exc).__name__}")
        except EnvironmentFault:
            return _error(
                503,
                "unavailable",
                "the head-end cannot store uplinks right now; retry later",
                headers={"Retry-After": "30"},
            )
        return Response(content=bytes(answer), media_type=OCTET_STREAM)

    router.add_api_route(
        path,
        post_uplink,
        methods=["POST"],
        summary="Deliver a sealed meter uplink; the reply body is the sealed downlink",
        response_class=Response,
        responses={
            200: {
                "description": "The sealed downlink (or the opaque rejection answer)",
                "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            },
            400: {"description": "Empty or malformed request", "content": _ERROR_SCHEMA},
            413: {"description": "Uplink larger than the limit", "content": _ERROR_SCHEMA},
            415: {"description": "Body is not application/octet-stream", "content": _ERROR_SCHEMA},
            503: {"description": "Head-end storage unavailable", "content": _ERROR_SCHEMA},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    )
    return router


def new_http_client() -> httpx.Client:
    """An httpx client whose sockets send at once (TCP_NODELAY).

    httpx writes a request's headers and body separately; with Nagle's algorithm the body
    then waits for the server's delayed ACK, about 40 ms per uplink on Linux loopback.
    """
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.Client(transport=httpx.HTTPTransport(socket_options=nodelay))


class HttpCarrier:
    """The meter's HTTP carrier: POST the uplink, return the reply body as the downlink.

    Pass `client` to reuse an `httpx.Client` (e.g. FastAPI's in-process `TestClient`); the
    carrier then does not close it. Failures map to `TransportTimeout`, `TransportRefused`
    (connection refused or a non-200 status, with `.status`) and `TransportDropped`.
    """

    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        *,
        client: httpx.Client | None = None,
        path: str = UPLINK_PATH,
    ) -> None:
        """Talk to the head-end at `base_url` (http:// or https://), waiting `timeout` s."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TransportConfigError(
                f"base_url {base_url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8000"
            )
        if not timeout > 0:
            raise TransportConfigError(f"timeout must be a positive number of seconds: {timeout}")
        self._url = base_url.rstrip("/") + path
        self._timeout = timeout
        self._own = client is None
        self._client = client if client is not None else new_http_client()

    @property
    def url(self) -> str:
        """The full URL uplinks are posted to."""
        return self._url

    def exchange(self, uplink: bytes) -> bytes:
        """POST `uplink` and return the downlink bytes of a 200 answer."""
        try:
            reply = self._client.post(
                self._url,
                content=bytes(uplink),
                headers={"content-type": OCTET_STREAM},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise TransportTimeout(
                f"no answer from {self._url} within {self._timeout} s; call again later"
            ) from exc
        except httpx.ConnectError as exc:
            raise TransportRefused(
                f"cannot connect to {self._url} ({exc}); is the head-end running?"
            ) from exc
        except httpx.TransportError as exc:
            raise TransportDropped(f"the exchange with {self._url} broke off ({exc})") from exc
        if reply.status_code != 200:
            raise TransportRefused(
                f"{self._url} answered {reply.status_code}: {reply.text[:200]}",
                status=reply.status_code,
            )
        ctype = reply.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != OCTET_STREAM:
            raise TransportRefused(
                f"{self._url} answered with {ctype or 'no content type'}, not {OCTET_STREAM}; "
                "is base_url pointing at the head-end?",
                status=reply.status_code,
            )
        return reply.content

    def close(self) -> None:
        """Close the HTTP client if this carrier created it."""
        if self._own:
            self._client.close()

    def __enter__(self) -> HttpCarrier:
        """Use the carrier as a context manager that closes its client."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the client on leaving the `with` block."""
        self.close()
