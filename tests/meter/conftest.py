"""Fixtures of the meter tests: a blank EEPROM, keys, schedules, and a head-end on the wire.

`WireHeadEnd` is the head-end's half of the protocol, built on the real `sealmeter.protocol`
(open the uplink, walk the MAC chain, seal a downlink with an enable code); it lets the meter be
tested back to back in memory, independently of the head-end part.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sealmeter.meter import Meter, MeterConfig
from sealmeter.nvm import Eeprom
from sealmeter.protocol import (
    Command,
    CreditFrame,
    Downlink,
    EnableCode,
    HeadEndChain,
    PrivateKeys,
    Registration,
    ScheduleUpdate,
    Suite,
    Uplink,
    generate_keys,
    open_uplink,
    seal_downlink,
)
from sealmeter.tariff import RateSchedule, schedule_from_dict

DATA = Path(__file__).parent / "data"
DEVICE_KEY = bytes(range(32))


def schedule_dict(name: str = "day-night") -> dict[str, Any]:
    """A schedule file of tests/meter/data as a dict (tests edit versions and validity)."""
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def schedule(name: str = "day-night", **changes: Any) -> RateSchedule:
    """A schedule from tests/meter/data with some fields changed."""
    return schedule_from_dict({**schedule_dict(name), **changes})


def seeded(seed: int) -> Callable[[int], bytes]:
    """A deterministic entropy source (tests only; a real module uses os.urandom)."""
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


@dataclass
class WireHeadEnd:
    """The head-end's side of the protocol for one meter, on the real protocol core."""

    keys: PrivateKeys
    meter_public: Any = None
    meter_id: str = ""
    chain: HeadEndChain | None = None
    last_time: Any = None
    accepted: list[Registration] = field(default_factory=list)
    uplinks: list[Uplink] = field(default_factory=list)
    credit: CreditFrame = field(default_factory=lambda: CreditFrame(timedelta(days=7), Decimal(0)))

    def enrol(self, export: Any) -> None:
        """Take the meter's provisioning export (public keys, suite, K_0)."""
        self.meter_public = export.public()
        self.meter_id = export.meter_id
        self.chain = HeadEndChain.start(export.chain_key)

    def answer(
        self,
        data: bytes,
        *,
        enable: bool = True,
        schedules: tuple[RateSchedule, ...] = (),
        commands: tuple[Command, ...] = (),
        expires: timedelta = timedelta(hours=1),
        seed: int = 0,
    ) -> bytes:
        """Open an uplink, accept its registrations, and seal the downlink answering it."""
        assert self.chain is not None
        opened = open_uplink(
            data,
            headend=self.keys,
            meter=self.meter_public,
            meter_id=self.meter_id,
            chain=self.chain,
            not_before=self.last_time,
        )
        self.chain = opened.chain
        self.last_time = opened.uplink.time
        self.accepted.extend(opened.accepted)
        self.uplinks.append(opened.uplink)
        up = opened.uplink
        code = (
            EnableCode(self.meter_id, self.chain.last_seq, up.nonce, up.time + expires, self.credit)
            if enable
            else None
        )
        down = Downlink(
            self.meter_id,
            up.time,
            up.nonce,
            code,
            tuple(
                ScheduleUpdate(s.id, s.version, s.valid_from, s.valid_to, s.to_bytes())
                for s in schedules
            ),
            commands,
        )
        return seal_downlink(
            down,
            headend=self.keys,
            meter=self.meter_public,
            seed=random.Random(seed).randbytes(32),
        )


_KEYS: dict[Suite, PrivateKeys] = {}


def headend_keys(suite: Suite = Suite.EC_MODERN) -> PrivateKeys:
    """Head-end keys, generated once per test process."""
    if suite not in _KEYS:
        _KEYS[suite] = generate_keys(suite)
    return _KEYS[suite]


def make_meter(
    start: Any,
    *,
    meter_id: str = "meter-0001",
    config: MeterConfig | None = None,
    schedules: tuple[RateSchedule, ...] = (),
    seed: int = 1,
    size: int = 128 * 1024,
) -> tuple[Meter, WireHeadEnd, Eeprom]:
    """A manufactured, provisioned meter with `schedules` installed, and its head-end."""
    device = Eeprom(size)
    cfg = config or MeterConfig(meter_id)
    meter = Meter.manufacture(device, DEVICE_KEY, cfg, start, entropy=seeded(seed))
    headend = WireHeadEnd(headend_keys())
    headend.enrol(meter.provision(headend.keys.public(), start))
    if schedules:
        meter.install_schedules(schedules, start)
    return meter, headend, device


@pytest.fixture
def day_night() -> RateSchedule:
    """The day/night test schedule (UTC; night 22:00-06:00)."""
    return schedule()
