"""Fixtures for the web doors: a real head-end on SQLite, tokens per role, a populated fleet.

Meters are `sealmeter.headend.testing.MeterSide`s that seal real uplinks with the protocol
core; they reach the head-end through the API's own `POST /v1/uplink`, so every registration,
alert and enable code the tests read was produced by the real ingest path.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sealmeter.clock import SimClock
from sealmeter.headend import BoxKeys, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite, TamperKind
from sealmeter.web import Role, TokenStore, create_app, fleet_states_of, serve_in_thread

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
SCHEDULE = (DATA / "home-ht-nt.toml").read_text()
PRICES = {"1.8.1": Decimal("0.30"), "1.8.2": Decimal("0.20")}  # per kWh, as in SCHEDULE


def charge(obis: str, usage_wh: int) -> Decimal:
    """The exact charge of `usage_wh` on register `obis` under SCHEDULE (price per kWh)."""
    return PRICES[obis] * usage_wh / 1000


class Client:
    """A synchronous in-process client: each call runs the app via `httpx.ASGITransport`.

    Cookies persist across calls (for the dashboard's login); redirects are not followed.
    """

    def __init__(self, app: FastAPI, *, raise_app_exceptions: bool = True) -> None:
        self.app = app
        self.cookies = httpx.Cookies()
        self.raise_app_exceptions = raise_app_exceptions

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(
                app=self.app, raise_app_exceptions=self.raise_app_exceptions
            )
            async with httpx.AsyncClient(
                transport=transport, base_url="http://testserver", cookies=self.cookies
            ) as client:
                response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
                self.cookies = httpx.Cookies(client.cookies)
                return response

        return asyncio.run(call())

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


@dataclass
class WebEnv:
    """A head-end with its web app, a simulated clock and one token per role."""

    headend: HeadEnd
    app: FastAPI
    client: Client
    clock: SimClock
    tokens: TokenStore
    token: dict[Role, str]
    box_keys: BoxKeys
    meters: dict[str, MeterSide] = field(default_factory=dict)

    def auth(self, role: Role = Role.READ_ONLY) -> dict[str, str]:
        """The Authorization header of the token with `role`."""
        return {"Authorization": f"Bearer {self.token[role]}"}

    def meter(self, meter_id: str, customer: str, *, seed: int, feeder: str = "f1") -> MeterSide:
        """Provision a new meter side through the head-end."""
        side = MeterSide(meter_id, self.box_keys.public(Suite.EC_MODERN), random.Random(seed))
        self.headend.provision(
            side.provisioning(customer, feeder=feeder, schedule_id="home"), self.clock.now()
        )
        self.meters[meter_id] = side
        return side

    def deliver(self, side: MeterSide, **status_args: object) -> None:
        """Send the meter's queued registrations (and a status) through POST /v1/uplink."""
        now = self.clock.now()
        status = side.status(now, **status_args) if status_args else None  # type: ignore[arg-type]
        reply = self.client.post(
            "/v1/uplink",
            content=side.uplink(now, status),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert reply.status_code == 200, reply.text
        side.accept(reply.content, now)

    def report(
        self, side: MeterSide, usage: dict[str, int], *, wrong: Decimal = Decimal(0)
    ) -> None:
        """One registration at the clock's time (charges right unless `wrong` is added)."""
        now = self.clock.now()
        regs = {k: (u, charge(k, u)) for k, u in usage.items()}
        if wrong:
            first = sorted(regs)[0]
            regs[first] = (regs[first][0], regs[first][1] + wrong)
        side.register(now, regs, schedule_id="home", schedule_version=1)


@pytest.fixture(scope="session")
def box_keys() -> BoxKeys:
    """The head-end's keys (one fast suite), made once per test session."""
    return BoxKeys.generate([Suite.EC_MODERN])


@contextmanager
def web_env(
    path: Path, box_keys: BoxKeys, *, url: str | None = None, schema: str | None = None
) -> Iterator[WebEnv]:
    """A fresh head-end (SQLite in `path`, or `url` + `schema`), its app, a token per role."""
    clock = SimClock(T0)
    url = url or f"sqlite:///{path / 'headend.db'}"
    headend = HeadEnd.open(url, box_keys, schema=schema, clock=clock)
    try:
        headend.publish_schedule(SCHEDULE, T0)
        tokens = TokenStore(headend.store.engine)
        issued = {role: tokens.create(f"test {role.value}", role, T0).token for role in Role}
        app = create_app(headend, tokens, fleet_states=fleet_states_of(headend), clock=clock)
        yield WebEnv(headend, app, Client(app), clock, tokens, issued, box_keys)
    finally:
        headend.close()


@pytest.fixture
def env(tmp_path: Path, box_keys: BoxKeys) -> Iterator[WebEnv]:
    """A fresh head-end with its web app and admin/operator/read-only tokens."""
    with web_env(tmp_path, box_keys) as fresh:
        yield fresh


def populate(env: WebEnv) -> WebEnv:
    """Five meters with ten days of history: reporting, silent, blocked, tampered, mismatched.

    - m-ok: reports daily through the last day (reporting), two bands;
    - m-quiet: stopped reporting three days before the end (silent);
    - m-blocked: reports, then an operator blocks it;
    - m-tamper: reports, its last status carries a housing-opened detection (tampered);
    - m-wrong: one registration whose charge is 1.00 too high (charge mismatch alert).
    """
    ok = env.meter("m-ok", "cust-a", seed=1)
    quiet = env.meter("m-quiet", "cust-b", seed=2)
    blocked = env.meter("m-blocked", "cust-c", seed=3, feeder="f2")
    tamper = env.meter("m-tamper", "cust-d", seed=4, feeder="f2")
    wrong = env.meter("m-wrong", "cust-a", seed=5)
    for day in range(10):
        for side in (ok, blocked, tamper, wrong):
            extra = Decimal("1.00") if side is wrong and day == 4 else Decimal(0)
            env.report(side, {"1.8.1": 1000 + 10 * day, "1.8.2": 400 + day}, wrong=extra)
            env.deliver(side)
        if day < 7:
            env.report(quiet, {"1.8.1": 500})
            env.deliver(quiet)
        env.clock.advance(timedelta(days=1))
    env.deliver(tamper, tamper=((TamperKind.HOUSING_OPENED, env.clock.now()),))
    env.headend.block("m-blocked", "unpaid bills", env.clock.now())
    env.headend.watch(env.clock.now())
    return env


@pytest.fixture
def fleet(env: WebEnv) -> WebEnv:
    """A populated fleet (see `populate`) that the test may change."""
    return populate(env)


@pytest.fixture(scope="module")
def shared_env(tmp_path_factory: pytest.TempPathFactory, box_keys: BoxKeys) -> Iterator[WebEnv]:
    """An empty head-end shared by a module's tests that change nothing they later read."""
    with web_env(tmp_path_factory.mktemp("env"), box_keys) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory, box_keys: BoxKeys) -> Iterator[WebEnv]:
    """A populated fleet shared by a module's read-only tests (built once: it is slow)."""
    with web_env(tmp_path_factory.mktemp("fleet"), box_keys) as fresh:
        yield populate(fresh)


@pytest.fixture(scope="module")
def live_fleet(shared_fleet: WebEnv) -> Iterator[tuple[WebEnv, str]]:
    """The shared fleet served by a real uvicorn on a free loopback port: (env, base URL)."""
    with serve_in_thread(shared_fleet.app) as base:
        yield shared_fleet, base
