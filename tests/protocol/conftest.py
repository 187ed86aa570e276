"""Fixtures of the protocol tests: key sets per suite and builders of valid messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sealmeter.protocol import (
    BatteryState,
    ClockState,
    CreditFrame,
    Downlink,
    EnableCode,
    MeterChain,
    PrivateKeys,
    RegisterUsage,
    Registration,
    RegistrationKind,
    Status,
    Suite,
    TamperEvent,
    TamperKind,
    Uplink,
    generate_keys,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
METER_ID = "SM-0001"
CHAIN_KEY = bytes(range(32))
NONCE = bytes(range(100, 116))


@dataclass(frozen=True)
class Parties:
    """The meter's and the head-end's keys in one suite."""

    suite: Suite
    meter: PrivateKeys
    headend: PrivateKeys


_CACHE: dict[Suite, Parties] = {}


def parties_for(suite: Suite) -> Parties:
    """Key sets of both parties for `suite` (generated once per worker; rsa is slow)."""
    if suite not in _CACHE:
        meter = generate_keys(suite)
        headend = meter if suite is Suite.SYMMETRIC else generate_keys(suite)
        _CACHE[suite] = Parties(suite, meter, headend)
    return _CACHE[suite]


_INTRUDERS: dict[Suite, PrivateKeys] = {}


def intruder_for(suite: Suite) -> PrivateKeys:
    """A third party's keys in `suite` (neither the meter's nor the head-end's)."""
    if suite not in _INTRUDERS:
        _INTRUDERS[suite] = generate_keys(suite)
    return _INTRUDERS[suite]


@pytest.fixture(params=list(Suite), ids=[s.value for s in Suite])
def parties(request: pytest.FixtureRequest) -> Parties:
    """Both parties' keys, once per suite."""
    suite: Suite = request.param
    return parties_for(suite)


def draft(minute: int = 0, *, usage: int = 1000, meter_id: str = METER_ID) -> Registration:
    """A draft registration with two tariff bands, `minute` minutes after T0."""
    return Registration(
        seq=0,
        kind=RegistrationKind.REAL_TIME,
        meter_id=meter_id,
        registers=(
            RegisterUsage("1.8.1", usage, Decimal("0.31") * usage / 1000),
            RegisterUsage("1.8.2", usage // 2, Decimal("0.1234")),
        ),
        schedule_id="residential-2026",
        schedule_version=3,
        time=T0 + timedelta(minutes=minute),
    )


def sealed_registrations(
    count: int, key: bytes = CHAIN_KEY
) -> tuple[list[Registration], MeterChain]:
    """`count` registrations sealed on a fresh meter chain, and the chain after them."""
    chain = MeterChain.start(key)
    regs = []
    for i in range(count):
        reg, chain = chain.seal(draft(15 * i, usage=1000 + i))
        regs.append(reg)
    return regs, chain


def status(meter_id: str = METER_ID) -> Status:
    """A status message with two tamper events."""
    return Status(
        meter_id=meter_id,
        time=T0,
        tamper_events=(
            TamperEvent(TamperKind.HOUSING_OPENED, T0 - timedelta(hours=2)),
            TamperEvent(TamperKind.SUPPLY_OUTAGE, T0 - timedelta(hours=1)),
        ),
        schedule_id="residential-2026",
        schedule_version=3,
        schedule_valid_from=T0 - timedelta(days=30),
        schedule_valid_to=T0 + timedelta(days=335),
        peak_load_w=7200,
        peak_load_time=T0 - timedelta(hours=5),
        next_contact=T0 + timedelta(days=1),
        battery=BatteryState.OK,
        battery_mv=3020,
        clock=ClockState.SYNCED,
        firmware="1.4.2",
    )


def uplink(count: int = 3, *, with_status: bool = True) -> Uplink:
    """An uplink batch with `count` sealed registrations and maybe a status."""
    regs, _ = sealed_registrations(count)
    return Uplink(METER_ID, T0, NONCE, tuple(regs), status() if with_status else None)


def downlink(nonce: bytes = NONCE, *, expires: datetime | None = None) -> Downlink:
    """A downlink answering `nonce` with an enable code valid for a day."""
    code = EnableCode(
        METER_ID,
        3,
        nonce,
        expires or T0 + timedelta(days=1),
        CreditFrame(timedelta(days=30), Decimal("50.00")),
    )
    return Downlink(METER_ID, T0, nonce, code)
