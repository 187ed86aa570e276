"""Benchmark of the counter part: tear-safety, lifetime against the physical limit, speed.

`run()` returns one JSON-ready dict:

- `tearing`: cuts injected by the exhaustive power-cut harness over every design, both
  technologies and both erased polarities (with torn subsets, weak bits and second cuts during
  recovery), and the invariant violations found;
- `lifetime`: per technology and design, units recorded (one per call) before the first cell
  group exceeded its endurance, and `fraction_of_limit` against the physical limit (see
  `sealmeter.counter.lifetime`);
- `garbage`: how many random byte strings a redundancy code accepted as a valid B/SB;
- `speed`: microseconds per `record(1)` of each design beside the raw one-byte EEPROM write
  it wraps, as a ratio.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from sealmeter.counter import (
    RECORD_SIZE,
    Config,
    Design,
    LevelledConfig,
    RecordTag,
    SeedConfig,
    format_counter,
    try_decode,
)
from sealmeter.counter.harness import TearReport, random_calls, run_tear_harness
from sealmeter.counter.lifetime import measure_lifetime
from sealmeter.nvm import Eeprom, NorFlash, Technology

__all__ = ["run"]

Progress = Callable[[str], None]

# Small areas so the harness goes through many wraps of A / frames and updates of B.
_TEAR_CONFIGS: dict[Design, dict[Technology, Config | None]] = {
    Design.NAIVE: {Technology.EEPROM: None, Technology.NOR_FLASH: None},
    Design.SEED: {
        Technology.EEPROM: SeedConfig(a_bytes=4),
        Technology.NOR_FLASH: SeedConfig(a_bytes=4),
    },
    Design.LEVELLED: {
        Technology.EEPROM: LevelledConfig(frames=2, frame_size=32),
        Technology.NOR_FLASH: LevelledConfig(frames=2, frame_size=64),
    },
}

# Lifetime uses each design's default sizes; on flash the seed's area A fills its page.
_LIFE_CONFIGS: dict[Design, dict[Technology, Config | None]] = {
    Design.NAIVE: {Technology.EEPROM: None, Technology.NOR_FLASH: None},
    Design.SEED: {Technology.EEPROM: None, Technology.NOR_FLASH: SeedConfig(a_bytes=256)},
    Design.LEVELLED: {Technology.EEPROM: None, Technology.NOR_FLASH: None},
}


def _tear_part(technology: Technology, erased: int) -> Callable[[], Eeprom | NorFlash]:
    if technology is Technology.EEPROM:
        return lambda: Eeprom(256, erased=erased, log_limit=64)
    return lambda: NorFlash(1024, page_size=64, erased=erased, log_limit=64)


def tearing(calls: int, seed: int, progress: Progress | None = None) -> dict[str, Any]:
    """Run the harness over every design x technology x polarity; return the figures."""
    total = TearReport()
    by: dict[str, dict[str, dict[str, int]]] = {}
    for design in Design:
        for technology in Technology:
            for erased in (0xFF, 0x00):
                sequence = random_calls(random.Random(seed), calls)
                report = run_tear_harness(
                    _tear_part(technology, erased),
                    design,
                    sequence,
                    config=_TEAR_CONFIGS[design][technology],
                    seed=seed,
                    double_cuts=design is not Design.NAIVE,
                )
                total.add(report)
                key = f"{technology.value}/erased={erased:#04x}"
                by.setdefault(design.value, {})[key] = {
                    "cuts": report.cuts,
                    "violations": report.violations,
                }
                if progress:
                    progress(
                        f"tearing {design.value} {key}: {report.cuts} cuts, "
                        f"{report.violations} violations"
                    )
    return {
        "cuts": total.cuts,
        "violations": total.violations,
        "calls": total.calls,
        "primitives": total.primitives,
        "by_design": by,
        "failures": total.failures[:5],
    }


def lifetime(
    eeprom_endurance: int, flash_endurance: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Lifetime of every design on both technologies with their default sizes."""
    out: dict[str, Any] = {}
    for technology in Technology:
        endurance = eeprom_endurance if technology is Technology.EEPROM else flash_endurance
        for design in Design:
            life = measure_lifetime(
                technology,
                design,
                endurance=endurance,
                config=_LIFE_CONFIGS[design][technology],
            )
            out.setdefault(technology.value, {})[design.value] = {
                "units": life.units,
                "fraction_of_limit": round(life.fraction_of_limit, 4),
                "limit": life.limit,
                "area_bytes": life.area_bytes,
                "endurance": life.endurance,
            }
            if progress:
                progress(
                    f"lifetime {technology.value} {design.value}: {life.units} units, "
                    f"{life.fraction_of_limit:.4f} of the limit"
                )
    return out


def garbage(samples: int, seed: int) -> dict[str, Any]:
    """Count random strings accepted as a valid B record, with and without the right tag."""
    rng = random.Random(seed)
    accepted_any = 0
    accepted_tagged = 0
    for _ in range(samples):
        raw = rng.randbytes(RECORD_SIZE)
        if try_decode(raw, RecordTag.VALUE) is not None:
            accepted_any += 1
        if try_decode(bytes([RecordTag.VALUE]) + raw[1:], RecordTag.VALUE) is not None:
            accepted_tagged += 1
    return {
        "samples": samples,
        "accepted_random": accepted_any,
        "accepted_with_right_tag": accepted_tagged,
        "bound_random": 2.0**-40,
        "bound_with_right_tag": 2.0**-32,
    }


def speed(calls: int) -> dict[str, Any]:
    """Microseconds per record(1) of each design vs a raw one-byte EEPROM write."""
    raw = Eeprom(4096, endurance=10**9)
    t0 = time.perf_counter()
    for i in range(calls):
        raw.write(i % 4096, bytes([i & 0xFF]))
    raw_us = (time.perf_counter() - t0) / calls * 1e6
    out: dict[str, Any] = {"raw_eeprom_write_us": round(raw_us, 3)}
    for design in Design:
        part = Eeprom(4096, endurance=10**9, log_limit=8)
        counter = format_counter(design, part.region("counter", 2048))
        t0 = time.perf_counter()
        for _ in range(calls):
            counter.record(1)
        us = (time.perf_counter() - t0) / calls * 1e6
        out[design.value] = {"record_us": round(us, 3), "ratio_to_raw_write": round(us / raw_us, 2)}
    return out


def run(
    *,
    eeprom_endurance: int = 1000,
    flash_endurance: int = 100,
    tear_calls: int = 100,
    garbage_samples: int = 1_000_000,
    speed_calls: int = 20_000,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run every part of the counter benchmark and return one JSON-ready dict."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "counter",
        "tearing": tearing(tear_calls, seed, progress),
        "lifetime": lifetime(eeprom_endurance, flash_endurance, progress),
        "garbage": garbage(garbage_samples, seed),
        "speed": speed(speed_calls),
        "config": {
            "eeprom_endurance": eeprom_endurance,
            "flash_endurance": flash_endurance,
            "tear_calls": tear_calls,
            "seed": seed,
            "cpu_count": os.cpu_count(),
        },
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result
