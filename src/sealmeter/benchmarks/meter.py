"""Benchmark of the security module: what the module costs beside the raw work it wraps.

- `feed`: 15-minute intervals per second through `Meter.feed_interval` (journal, tear-safe
  counter, band and period boundaries, sealed registrations) beside the bare NVM work of the
  same run: the same units recorded into a bare levelled counter plus one journal-sized
  EEPROM write per interval (`ratio_to_raw` = module rate / raw rate).
- `uplink` / `downlink`: `make_uplink` and `accept_downlink` per second beside bare
  `seal_uplink` / `open_downlink` of the same messages (the protocol's crypto alone).
- `wear`: EEPROM write cycles per year of the most written cell group of each region of the
  module, extrapolated from the run, and the years until a 100,000-cycle part wears out.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["run"]

_SCHEDULE: dict[str, Any] = {
    "format": "sealmeter.rate-schedule/1",
    "id": "bench-day-night",
    "version": 1,
    "valid_from": "2026-01-01T00:00:00Z",
    "timezone": "Europe/Berlin",
    "currency": "EUR",
    "bands": [
        {"name": "day", "obis": "1.8.1", "price": "0.30"},
        {"name": "night", "obis": "1.8.2", "price": "0.20"},
    ],
    "rules": [
        {
            "days": ["workday", "saturday", "sunday", "holiday"],
            "slots": [
                {"from": "00:00", "to": "06:00", "band": "night"},
                {"from": "06:00", "to": "22:00", "band": "day"},
                {"from": "22:00", "to": "24:00", "band": "night"},
            ],
        }
    ],
}


def _entropy(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


def run(days: int = 30, calls: int = 100) -> dict[str, Any]:
    """Run the benchmark; `days` of quarter-hour feed, `calls` uplink/downlink exchanges."""
    from sealmeter.counter import LevelledConfig, LevelledCounter
    from sealmeter.meter import NVM_SIZE, Meter, MeterConfig
    from sealmeter.meter import CreditFrame as MeterCredit
    from sealmeter.meter.feeding import profile_intervals
    from sealmeter.nvm import Eeprom
    from sealmeter.protocol import (
        CreditFrame,
        Downlink,
        EnableCode,
        HeadEndChain,
        generate_keys,
        open_downlink,
        open_uplink,
        seal_downlink,
        seal_uplink,
    )
    from sealmeter.tariff import schedule_from_dict

    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=days)
    intervals = list(profile_intervals("synthetic", start, end, 3500.0))
    box = generate_keys()
    schedule = schedule_from_dict(_SCHEDULE)
    per = [0] * len(intervals)
    carried = 0.0
    for n, (_a, _b, energy) in enumerate(intervals):
        carried += energy
        per[n] = int(carried)
        carried -= per[n]
    # Module and raw work alternate day by day, so a busy machine slows both alike.
    device = Eeprom(NVM_SIZE)
    config = MeterConfig("bench-meter", credit=MeterCredit(timedelta(days=3650)))
    meter = Meter.manufacture(device, bytes(32), config, start, _entropy(1))
    export = meter.provision(box.public(), start)
    meter.install_schedules((schedule,), start)
    raw = Eeprom(NVM_SIZE)
    counter = LevelledCounter.format(raw.region("counter", 1024), LevelledConfig(2, 512))
    journal = raw.region("journal", 64)
    feed_s = raw_s = 0.0
    for day in range(0, len(intervals), 96):
        begin = time.perf_counter()
        for a, b, energy in intervals[day : day + 96]:
            meter.feed_interval(a, b, energy)
        feed_s += time.perf_counter() - begin
        begin = time.perf_counter()
        for n in per[day : day + 96]:
            journal.store(0, bytes(40))
            counter.record(n)
        raw_s += time.perf_counter() - begin
    units = meter.counted_units
    registrations = meter.next_seq - 1

    # Wear: cycles of the most written cell group of each region, per year.
    per_year = 365 / days
    wear: dict[str, Any] = {}
    for name, (offset, length) in device.regions.items():
        groups = device.cycles()[offset : offset + length]
        worst = max(groups) * per_year
        wear[name] = {
            "max_cycles_per_year": round(worst),
            "years_to_100k_cycles": round(100_000 / worst, 1) if worst else None,
        }

    # Calls: module vs bare protocol.
    chain = HeadEndChain.start(export.chain_key)
    meter_pub = export.public()
    frame = CreditFrame(timedelta(days=7), Decimal(0))
    up_s = down_s = bare_up_s = bare_down_s = 0.0
    now = end
    last: datetime | None = None
    for k in range(calls):
        now += timedelta(minutes=10)
        t = time.perf_counter()
        data = meter.make_uplink(now)
        up_s += time.perf_counter() - t
        opened = open_uplink(
            data,
            headend=box,
            meter=meter_pub,
            meter_id="bench-meter",
            chain=chain,
            not_before=last,
        )
        chain, last = opened.chain, opened.uplink.time
        uplink = opened.uplink
        code = EnableCode(
            "bench-meter", chain.last_seq, uplink.nonce, now + timedelta(hours=1), frame
        )
        reply = seal_downlink(
            Downlink("bench-meter", now, uplink.nonce, code),
            headend=box,
            meter=meter_pub,
            seed=bytes([k % 256]) * 32,
        )
        t = time.perf_counter()
        meter.accept_downlink(reply, now)
        down_s += time.perf_counter() - t
        keys = meter._private_keys()  # the same keys, for the baseline
        t = time.perf_counter()
        seal_uplink(uplink, meter=keys, headend=box.public(), seed=bytes(32))
        bare_up_s += time.perf_counter() - t
        t = time.perf_counter()
        open_downlink(
            reply,
            meter=keys,
            headend=box.public(),
            meter_id="bench-meter",
            expected_nonce=uplink.nonce,
            now=now,
        )
        bare_down_s += time.perf_counter() - t

    feed_rate = len(intervals) / feed_s
    raw_rate = len(intervals) / raw_s
    return {
        "feed": {
            "days": days,
            "intervals": len(intervals),
            "units": units,
            "raw_units": counter.value,
            "registrations": registrations,
            "intervals_per_s": round(feed_rate, 1),
            "raw_nvm_intervals_per_s": round(raw_rate, 1),
            "ratio_to_raw": round(feed_rate / raw_rate, 3),
            "year_of_quarter_hours_s": round(35040 / feed_rate, 2),
        },
        "uplink": {
            "per_s": round(calls / up_s, 1),
            "bare_seal_per_s": round(calls / bare_up_s, 1),
            "ratio_to_primitives": round(bare_up_s / up_s, 3),
        },
        "downlink": {
            "per_s": round(calls / down_s, 1),
            "bare_open_per_s": round(calls / bare_down_s, 1),
            "ratio_to_primitives": round(bare_down_s / down_s, 3),
        },
        "wear": wear,
    }
