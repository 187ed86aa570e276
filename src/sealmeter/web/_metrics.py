"""Request metrics of the API process, rendered with the head-end's counters as Prometheus text.

Counters are per process (each `sealmeter serve` worker counts its own requests); the
head-end figures (meters, registrations, rejections, open alerts, fleet states) come from the
shared database and so are the same in every process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

from sealmeter.store import FleetSummary, Health

__all__ = ["RequestMetrics", "render_prometheus"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class RequestMetrics:
    """Counts requests by method, route template and status, and sums their durations."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counts: dict[tuple[str, str, int], int] = field(default_factory=dict)
    _seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one finished request."""
        with self._lock:
            key = (method, route, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            self._seconds[(method, route)] = self._seconds.get((method, route), 0.0) + seconds

    def snapshot(self) -> tuple[dict[tuple[str, str, int], int], dict[tuple[str, str], float]]:
        """A consistent copy of the counters."""
        with self._lock:
            return dict(self._counts), dict(self._seconds)

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """ASGI middleware body: time the request and count it under its route template."""
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        self.observe(request.method, template, response.status_code, time.perf_counter() - started)
        return response


def render_prometheus(
    metrics: RequestMetrics,
    health: Health,
    fleet: FleetSummary,
    headend: Mapping[str, int] | None = None,
) -> str:
    """The Prometheus text exposition of the request counters and the head-end's figures.

    `headend` holds the head-end's own counters (row counts, this process's ingest counts).
    """
    counts, seconds = metrics.snapshot()
    out = [
        "# HELP sealmeter_http_requests_total API requests answered, by method, route, status.",
        "# TYPE sealmeter_http_requests_total counter",
    ]
    for (method, route, status), n in sorted(counts.items()):
        out.append(
            f'sealmeter_http_requests_total{{method="{_label(method)}",'
            f'route="{_label(route)}",status="{status}"}} {n}'
        )
    out += [
        "# HELP sealmeter_http_request_seconds_total Time spent answering, by method and route.",
        "# TYPE sealmeter_http_request_seconds_total counter",
    ]
    for (method, route), total in sorted(seconds.items()):
        out.append(
            f'sealmeter_http_request_seconds_total{{method="{_label(method)}",'
            f'route="{_label(route)}"}} {total:.6f}'
        )
    gauges = [
        ("sealmeter_up", "1 when the store answers.", int(health.ok)),
        ("sealmeter_meters", "Provisioned meters.", health.meters),
        ("sealmeter_registrations", "Registrations stored (exactly once).", health.registrations),
        ("sealmeter_rejections", "Uplinks refused, every reason.", health.rejections),
        ("sealmeter_open_alerts", "Alerts not yet acknowledged.", health.open_alerts),
    ]
    for name, text, value in gauges:
        out += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name} {value}"]
    out += [
        "# HELP sealmeter_fleet_meters Meters in each fleet state now.",
        "# TYPE sealmeter_fleet_meters gauge",
    ]
    for state, n in sorted(fleet.counts.items(), key=lambda kv: kv[0].value):
        out.append(f'sealmeter_fleet_meters{{state="{_label(state.value)}"}} {n}')
    if headend:
        out += [
            "# HELP sealmeter_headend The head-end's counters (rows; ingest of this process).",
            "# TYPE sealmeter_headend gauge",
        ]
        for name, value in sorted(headend.items()):
            out.append(f'sealmeter_headend{{counter="{_label(name)}"}} {int(value)}')
    return "\n".join(out) + "\n"
