"""Web doors benchmark: what HTTP and the REST layer add on top of the head-end's own work.

Two identical head-ends (SQLite files) ingest the same kind of traffic from the same number of
meters: one is called directly (`HeadEnd.handle_uplink`, the raw cost of the work), the other
through `POST /v1/uplink` on a real uvicorn over loopback (httpx client). Both are timed on
the server-bound part only (the meters seal their uplinks before the clock starts). The same
run times a page of `GET /v1/registrations` against the bare `list_registrations` call.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["run_web_bench"]

_T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@contextmanager
def _headend(root: Path, name: str, keys: Any, clock: Any) -> Iterator[Any]:
    from sealmeter.headend import HeadEnd

    headend = HeadEnd.open(f"sqlite:///{root / name}.db", keys, clock=clock)
    try:
        yield headend
    finally:
        headend.close()


def _drive(
    headend: Any,
    clock: Any,
    keys: Any,
    meters: int,
    rounds: int,
    send: Callable[[bytes], bytes],
) -> tuple[float, int]:
    """Provision `meters`, then `rounds` uplinks from each; return (seconds sending, uplinks)."""
    from sealmeter.headend.testing import MeterSide
    from sealmeter.protocol import Suite

    rng = random.Random(7)
    sides = [
        MeterSide(f"b{i:04d}", keys.public(Suite.EC_MODERN), random.Random(rng.random()))
        for i in range(meters)
    ]
    for side in sides:
        headend.provision(side.provisioning(f"c{side.meter_id}"), clock.now())
    spent = 0.0
    for r in range(rounds):
        now = clock.set(_T0 + timedelta(hours=r + 1))
        sealed = []
        for side in sides:
            side.register(now, {"1.8.1": (100 + r, Decimal("0.03"))})
            sealed.append((side, side.uplink(now)))
        started = time.perf_counter()
        answers = [send(data) for _, data in sealed]
        spent += time.perf_counter() - started
        for (side, _), answer in zip(sealed, answers, strict=True):
            side.accept(answer, now)
    return spent, meters * rounds


def run_web_bench(meters: int = 40, rounds: int = 5, pages: int = 30) -> dict[str, Any]:
    """Run the benchmark; return a JSON-ready dict of figures and their ratios."""
    import httpx

    from sealmeter.clock import SimClock
    from sealmeter.headend import BoxKeys
    from sealmeter.protocol import Suite
    from sealmeter.web import TokenStore, create_app, fleet_states_of, serve_in_thread
    from sealmeter.web._tokens import Role

    keys = BoxKeys.generate([Suite.EC_MODERN])
    with tempfile.TemporaryDirectory(prefix="sealmeter-bench-web-") as tmp:
        root = Path(tmp)
        clock = SimClock(_T0)
        with _headend(root, "direct", keys, clock) as direct:
            raw_s, count = _drive(
                direct, clock, keys, meters, rounds, lambda d: direct.handle_uplink(d, clock.now())
            )
            raw_page = []
            for _ in range(pages):
                started = time.perf_counter()
                direct.list_registrations(limit=100)
                raw_page.append(time.perf_counter() - started)
        clock = SimClock(_T0)
        with _headend(root, "http", keys, clock) as over_http:
            tokens = TokenStore(over_http.store.engine)
            token = tokens.create("bench", Role.READ_ONLY, _T0).token
            app = create_app(
                over_http, tokens, fleet_states=fleet_states_of(over_http), clock=clock
            )
            with serve_in_thread(app) as base, httpx.Client(base_url=base) as client:
                octets = {"Content-Type": "application/octet-stream"}

                def send(data: bytes) -> bytes:
                    reply = client.post("/v1/uplink", content=data, headers=octets)
                    reply.raise_for_status()
                    return reply.content

                http_s, _ = _drive(over_http, clock, keys, meters, rounds, send)
                http_page = []
                auth = {"Authorization": f"Bearer {token}"}
                for _ in range(pages):
                    started = time.perf_counter()
                    client.get("/v1/registrations?limit=100", headers=auth).raise_for_status()
                    http_page.append(time.perf_counter() - started)
    raw_rate, http_rate = count / raw_s, count / http_s
    raw_ms, http_ms = statistics.median(raw_page) * 1e3, statistics.median(http_page) * 1e3
    return {
        "benchmark": "web",
        "meters": meters,
        "uplinks": count,
        "uplinks_per_s_http": round(http_rate, 1),
        "uplinks_per_s_direct": round(raw_rate, 1),
        "uplink_ratio_http_to_direct": round(http_rate / raw_rate, 3),
        "registrations_page_ms_http": round(http_ms, 3),
        "registrations_page_ms_direct": round(raw_ms, 3),
        "page_ratio_http_to_direct": round(http_ms / raw_ms, 2),
        "page_size": 100,
    }
