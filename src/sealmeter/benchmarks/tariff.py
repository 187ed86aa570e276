"""Billing throughput: a year of 15-minute data (35,040 intervals) per meter.

Times `bill()` on each shipped tariff (warm: schedule lookup tables cached, and cold: a fresh
schedule object, so its calendar is rebuilt) beside the time NumPy needs just to sum the
same energy array, measured in the same run. Best of `repeat` runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

__all__ = ["run", "year_of_quarter_hours"]

INTERVALS = 35_040


def year_of_quarter_hours(year: int = 2023, seed: int = 7) -> tuple[Any, Any, Any]:
    """Start/end seconds and random energy (0..500 Wh in mWh) of a year of 15-minute data."""
    first = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    start = first + np.arange(INTERVALS, dtype=np.int64) * 900
    energy = np.random.default_rng(seed).integers(0, 500_000, INTERVALS, dtype=np.int64)
    return start, start + 900, energy


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(repeat: int = 20) -> dict[str, Any]:
    """Run the benchmark; return a JSON-ready dict of figures."""
    from sealmeter.tariff import RateSchedule, UsageSeries, bill, load_shipped, shipped_names

    start, end, energy = year_of_quarter_hours()
    usage = UsageSeries(start, end, energy)
    numpy_sum = _best(lambda: energy.sum(), max(repeat, 50))
    tariffs: dict[str, Any] = {}
    for name in shipped_names():
        schedule = load_shipped(name)

        def warm_run(s: RateSchedule = schedule) -> object:
            return bill(s, usage)

        def decode(s: RateSchedule = schedule) -> object:
            return RateSchedule.from_bytes(s.to_bytes())

        warm = _best(warm_run, repeat)

        def cold(s: RateSchedule = schedule) -> object:
            return bill(RateSchedule.from_bytes(s.to_bytes()), usage)

        cold_s = _best(cold, max(3, repeat // 4))
        decode_s = _best(decode, 5)
        tariffs[name] = {
            "bill_ms": round(warm * 1e3, 3),
            "intervals_per_s": round(INTERVALS / warm),
            "bill_cold_ms": round((cold_s - decode_s) * 1e3, 3),
            "ratio_to_numpy_sum": round(warm / numpy_sum, 1),
            "goal_met": warm < 0.050,
        }
    return {
        "benchmark": "tariff.bill",
        "intervals": INTERVALS,
        "repeat": repeat,
        "numpy_sum_ms": round(numpy_sum * 1e3, 4),
        "goal": "a year of 15-minute data billed in < 50 ms (>= 700,000 intervals/s)",
        "tariffs": tariffs,
    }
