"""The carriers a simulation runs over: in-process, HTTP on loopback, or MQTT via the broker.

`open_carriers` starts what the chosen transport needs (a uvicorn server on a free loopback
port, or head-end workers on a shared subscription) and yields one carrier per meter; leaving
the `with` block stops it all.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import uvicorn
from fastapi import FastAPI

from sealmeter.sim.errors import SimError, SimSetupFault
from sealmeter.transport import (
    Carrier,
    Handler,
    HttpCarrier,
    InProcessCarrier,
    MqttMeterLink,
    MqttWorker,
    TransportError,
    new_http_client,
    uplink_router,
)

__all__ = ["TRANSPORTS", "open_carriers"]

TRANSPORTS = ("inproc", "http", "mqtt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _http_server(handler: Handler) -> Iterator[str]:
    app = FastAPI(title="sealmeter simulation head-end")
    app.include_router(uplink_router(handler))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="sim-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SimSetupFault(f"the simulation's HTTP server did not start on port {port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@contextmanager
def open_carriers(
    transport: str,
    handlers: Sequence[Handler],
    meter_ids: Sequence[str],
    *,
    mqtt: tuple[str, int] = ("127.0.0.1", 1883),
    timeout: float = 10.0,
) -> Iterator[dict[str, Carrier]]:
    """Yield a carrier per meter id over `transport` (inproc, http or mqtt).

    In process and over HTTP the first handler answers; over MQTT every handler is one
    head-end worker on the shared subscription.
    """
    if not handlers:
        raise SimError("open_carriers needs at least one head-end handler")
    handler = handlers[0]
    if transport not in TRANSPORTS:
        raise SimError(f"unknown transport {transport!r}; choose one of {', '.join(TRANSPORTS)}")
    with ExitStack() as stack:
        if transport == "inproc":
            carrier = InProcessCarrier(handler)
            yield {m: carrier for m in meter_ids}
            return
        if transport == "http":
            url = stack.enter_context(_http_server(handler))
            client = stack.enter_context(new_http_client())
            http = HttpCarrier(url, timeout=timeout, client=client)
            yield {m: http for m in meter_ids}
            return
        host, port = mqtt
        prefix = f"sealmeter-sim/{uuid.uuid4().hex[:12]}"
        group = f"headend{uuid.uuid4().hex[:6]}"
        try:
            for worker in handlers:
                stack.enter_context(
                    MqttWorker(host, port, worker, group=group, prefix=prefix, timeout=timeout)
                )
            link = stack.enter_context(MqttMeterLink(host, port, prefix=prefix, timeout=timeout))
        except TransportError as exc:
            raise SimSetupFault(
                f"cannot run over MQTT: {exc}. Start Mosquitto on {host}:{port} or use "
                "--transport inproc|http"
            ) from exc
        yield {m: link.carrier(m) for m in meter_ids}
