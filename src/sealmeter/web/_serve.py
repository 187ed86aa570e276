"""`sealmeter serve`: open the head-end (database + box keys), build the app, run uvicorn.

Defaults suit a first try on a laptop: a SQLite file in the working directory, the box's
keys in an encrypted key file beside it (created on first start, passphrase from
``SEALMETER_KEY_PASSPHRASE`` or a prompt), listening on 127.0.0.1 only. When no operator token
exists yet, a first admin token is created and printed once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from sealmeter.clock import Clock, SystemClock
from sealmeter.errors import EnvironmentFault
from sealmeter.web._app import create_app
from sealmeter.web._fleetview import fleet_states_of
from sealmeter.web._tokens import IssuedToken, Role, TokenStore

__all__ = [
    "DEFAULT_DB_URL",
    "DEFAULT_HOST",
    "DEFAULT_KEY_FILE",
    "DEFAULT_PORT",
    "Service",
    "bootstrap_admin",
    "open_service",
    "run",
    "serve_in_thread",
]

DEFAULT_DB_URL = "sqlite:///sealmeter.db"
DEFAULT_KEY_FILE = "sealmeter-box-keys.json"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


@dataclass(frozen=True)
class Service:
    """An opened head-end with its web app; `close()` releases the database."""

    app: FastAPI
    tokens: TokenStore
    close: Callable[[], None]
    keys_created: bool


def open_service(
    url: str,
    key_file: Path,
    passphrase: Callable[[], bytes],
    *,
    schema: str | None = None,
    clock: Clock | None = None,
    create_keys: bool = True,
) -> Service:
    """Open the head-end at `url` with the keys in `key_file` and build the web app.

    `passphrase` is called only when a passphrase key file must be read or created (a token
    key file opens with the token, see `BoxKeys.load`). A missing key
    file is created with fresh keys when `create_keys` is set (the first start).
    """
    from sealmeter.headend import BoxKeys, HeadEnd
    from sealmeter.headend.pkcs11 import is_token_file

    the_clock = clock or SystemClock()
    created = False
    if key_file.exists():
        # a token key file opens with the token's PIN (environment): ask for no passphrase
        keys = BoxKeys.load(key_file, b"" if is_token_file(key_file) else passphrase())
    elif create_keys:
        keys = BoxKeys.generate()
        keys.save(key_file, passphrase())
        created = True
    else:
        keys = BoxKeys.load(key_file, passphrase())  # raises the key store's clear error
    headend = HeadEnd.open(url, keys, schema=schema, clock=the_clock)
    try:
        tokens = TokenStore(headend.store.engine)
        app = create_app(headend, tokens, fleet_states=fleet_states_of(headend), clock=the_clock)
    except BaseException:
        headend.close()
        raise
    return Service(app=app, tokens=tokens, close=headend.close, keys_created=created)


def bootstrap_admin(tokens: TokenStore, clock: Clock) -> IssuedToken | None:
    """Create a first admin token when no active token exists; None when there is one."""
    if tokens.count_active() > 0:
        return None
    return tokens.create("first admin (created by sealmeter serve)", Role.ADMIN, clock.now())


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread on a free port; yield its base URL.

    For tests and benchmarks that need a real HTTP server; the server stops on exit.
    """
    import uvicorn

    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says it is TCP; without it every reply waits ~40 ms (Nagle +
    # delayed ACK) on loopback.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise EnvironmentFault("the HTTP server did not start within 20 s")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


def run(app: FastAPI, host: str, port: int, *, log_level: str = "info") -> None:
    """Serve `app` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False)
