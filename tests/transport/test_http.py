"""HTTP: the uplink router's answers to good and bad requests, and the meter's HttpCarrier."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.errors import EnvironmentFault, PeerError
from sealmeter.transport import (
    OCTET_STREAM,
    HttpCarrier,
    TransportConfigError,
    TransportDropped,
    TransportRefused,
    TransportTimeout,
    uplink_router,
)

from .conftest import RecordingHandler, answer_for


def make_app(handler: object, max_bytes: int = 1024) -> FastAPI:
    app = FastAPI()
    app.include_router(uplink_router(handler, max_bytes=max_bytes))  # type: ignore[arg-type]
    return app


def post(app: FastAPI, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST /v1/uplink in process through httpx's ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://headend") as client:
            return await client.post("/v1/uplink", content=body, headers=headers)

    return asyncio.run(go())


OCTET = {"content-type": OCTET_STREAM}


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=1024))
def test_an_uplink_is_answered_with_the_handlers_downlink(body: bytes) -> None:
    handler = RecordingHandler()
    reply = post(make_app(handler), body, OCTET)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == OCTET_STREAM
    assert reply.content == answer_for(body)
    assert handler.seen == [body]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"x" * 1025, OCTET, 413, "too_large"),
        (b"", OCTET, 400, "empty"),
        (b"{}", {"content-type": "application/json"}, 415, "unsupported_media_type"),
        (b"abc", {}, 415, "unsupported_media_type"),
        (b"abc", {"content-type": "text/plain; charset=utf-8"}, 415, "unsupported_media_type"),
    ],
)
def test_bad_requests_get_a_json_error_and_never_reach_the_handler(
    body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    handler = RecordingHandler()
    reply = post(make_app(handler), body, headers)
    assert reply.status_code == status
    assert reply.json()["error"] == code
    assert reply.json()["detail"]
    assert handler.seen == []


def test_a_body_at_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    handler = RecordingHandler()
    app = make_app(handler, max_bytes=64)
    assert post(app, b"a" * 64, OCTET).status_code == 200
    assert post(app, b"a" * 65, OCTET).status_code == 413
    assert handler.seen == [b"a" * 64]


def test_a_streamed_body_without_length_is_still_limited() -> None:
    handler = RecordingHandler()
    app = make_app(handler, max_bytes=100)

    async def chunks() -> object:
        for _ in range(10):
            yield b"z" * 20

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://h") as client:
            return await client.post("/v1/uplink", content=chunks(), headers=OCTET)  # type: ignore[arg-type]

    reply = asyncio.run(go())
    assert reply.status_code == 413
    assert handler.seen == []


def test_handler_errors_map_to_400_and_503() -> None:
    class Forged(PeerError):
        pass

    class StoreDown(EnvironmentFault):
        pass

    def peer_bad(_: bytes) -> bytes:
        raise Forged("bad signature on meter 7")

    def store_down(_: bytes) -> bytes:
        raise StoreDown("db gone")

    reply = post(make_app(peer_bad), b"x", OCTET)
    assert reply.status_code == 400
    assert reply.json()["error"] == "rejected"
    assert "meter 7" not in reply.text  # towards the peer, opaque
    reply = post(make_app(store_down), b"x", OCTET)
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "30"


def test_the_route_is_documented_in_openapi_as_octet_stream() -> None:
    spec = make_app(RecordingHandler()).openapi()
    op = spec["paths"]["/v1/uplink"]["post"]
    assert OCTET_STREAM in op["requestBody"]["content"]
    assert OCTET_STREAM in op["responses"]["200"]["content"]
    assert {"400", "413", "415", "503"} <= set(op["responses"])


def test_router_rejects_a_bad_configuration() -> None:
    with pytest.raises(TransportConfigError):
        uplink_router(RecordingHandler(), max_bytes=0)
    with pytest.raises(TransportConfigError):
        uplink_router(RecordingHandler(), path="v1/uplink")


def in_process_client(app: FastAPI) -> httpx.Client:
    """A sync httpx client whose requests are served by `app` in process (ASGI transport)."""

    def serve(request: httpx.Request) -> httpx.Response:
        reply = post(app, request.read(), dict(request.headers))
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    return httpx.Client(transport=httpx.MockTransport(serve))


def test_the_carrier_round_trips_in_process() -> None:
    handler = RecordingHandler()
    with in_process_client(make_app(handler)) as client:
        carrier = HttpCarrier("http://testserver", client=client)
        for i in range(5):
            up = bytes([i]) * (i + 1)
            assert carrier.exchange(up) == answer_for(up)
    assert len(handler.seen) == 5


def test_the_carrier_reports_an_http_error_status_as_refused_with_the_status() -> None:
    with in_process_client(make_app(RecordingHandler(), max_bytes=8)) as client:
        carrier = HttpCarrier("http://testserver", client=client)
        with pytest.raises(TransportRefused) as info:
            carrier.exchange(b"y" * 9)
    assert info.value.status == 413


def _mock(fn: object) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(fn))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("slow"), TransportTimeout),
        (httpx.ConnectTimeout("slow"), TransportTimeout),
        (httpx.ConnectError("refused"), TransportRefused),
        (httpx.RemoteProtocolError("reset"), TransportDropped),
        (httpx.ReadError("reset"), TransportDropped),
    ],
)
def test_network_failures_map_to_transport_errors(
    exc: Exception, expected: type[Exception]
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with _mock(fail) as client, pytest.raises(expected):
        HttpCarrier("http://h", client=client).exchange(b"x")


def test_a_reply_that_is_not_octet_stream_is_refused() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, html="<h1>captive portal</h1>")

    with _mock(html) as client, pytest.raises(TransportRefused, match="text/html"):
        HttpCarrier("http://h", client=client).exchange(b"x")


@pytest.mark.parametrize("url", ["", "ftp://h", "127.0.0.1:8000", "http://"])
def test_a_bad_base_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(TransportConfigError):
        HttpCarrier(url)


def test_a_non_positive_timeout_is_a_usage_error() -> None:
    with pytest.raises(TransportConfigError):
        HttpCarrier("http://h", timeout=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(handler: RecordingHandler) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(make_app(handler), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_smoke_over_a_real_loopback_socket(live_server: str, handler: RecordingHandler) -> None:
    with HttpCarrier(live_server, timeout=5) as carrier:
        ups = [f"uplink {i}".encode() for i in range(20)]
        downs = [carrier.exchange(u) for u in ups]
    assert downs == [answer_for(u) for u in ups]
    assert handler.seen == ups


def test_a_closed_port_is_refused() -> None:
    carrier = HttpCarrier(f"http://127.0.0.1:{_free_port()}", timeout=2)
    with carrier, pytest.raises(TransportRefused, match="cannot connect"):
        carrier.exchange(b"x")
