"""Driving a module with consumption: a load profile, a constant load, or a recorded capture.

These are the module's "transducer side" for the CLI and the simulator: they turn a source of
energy into `Meter.feed_interval` calls in time order.

- `feed_profile`: 15-minute interval energies from the metering core's standard load
  profiles (BDEW H25, G25, ... shipped offline by demandlib; "synthetic" otherwise), scaled to
  an annual consumption. Profile time is civil time; it is applied as UTC here.
- `feed_constant`: a constant power, in intervals of a given length.
- `feed_samples`: a recorded `t,u,i` capture (.csv/.npy) measured by the metering core's
  chain (signed method, half-period sums), fed chunk by chunk at the capture's own instants.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np

from sealmeter.clock import ensure_utc
from sealmeter.errors import UsageError
from sealmeter.meter.module import Meter
from sealmeter.metering import MeasurementChain, iter_samples, standard_profile
from sealmeter.metering.chain import recording_adc

__all__ = ["FeedSummary", "feed_constant", "feed_profile", "feed_samples", "profile_intervals"]

QUARTER = timedelta(minutes=15)


@dataclass(frozen=True)
class FeedSummary:
    """What a feed did: span, intervals, energy offered and delivered (Wh)."""

    start: datetime
    end: datetime
    intervals: int
    offered_wh: float
    delivered_wh: float

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "intervals": self.intervals,
            "offered_wh": round(self.offered_wh, 6),
            "delivered_wh": round(self.delivered_wh, 6),
        }


def profile_intervals(
    kind: str, start: datetime, end: datetime, annual_kwh: float
) -> Iterator[tuple[datetime, datetime, float]]:
    """15-minute intervals `(start, end, Wh)` of a standard profile over `[start, end)`."""
    start, end = ensure_utc(start), ensure_utc(end)
    if start.minute % 15 or start.second or start.microsecond:
        raise UsageError(f"a profile feed starts on a quarter hour, not {start.isoformat()}")
    if annual_kwh < 0:
        raise UsageError(f"annual consumption {annual_kwh} kWh must not be negative")
    t = start
    year_fractions: dict[int, np.ndarray] = {}
    while t < end:
        year = t.year
        if year not in year_fractions:
            year_fractions[year] = standard_profile(kind, year)
        index = int((t - datetime(year, 1, 1, tzinfo=UTC)) / QUARTER)
        fractions = year_fractions[year]
        energy = float(fractions[min(index, len(fractions) - 1)]) * annual_kwh * 1000.0
        stop = min(t + QUARTER, end)
        yield t, stop, energy * ((stop - t) / QUARTER)
        t = stop


def _run(
    meter: Meter,
    intervals: Iterator[tuple[datetime, datetime, float | Fraction]],
    progress: Callable[[datetime], None] | None,
) -> FeedSummary:
    first: datetime | None = None
    last: datetime | None = None
    count = 0
    offered = delivered = 0.0
    for a, b, energy in intervals:
        first = a if first is None else first
        delivered += meter.feed_interval(a, b, energy)
        offered += float(energy)
        count += 1
        last = b
        if progress is not None and count % 2880 == 0:
            progress(b)
    meter.checkpoint()
    if first is None or last is None:
        raise UsageError("nothing to feed: the span is empty")
    return FeedSummary(first, last, count, offered, delivered)


def feed_profile(
    meter: Meter,
    kind: str,
    start: datetime,
    end: datetime,
    annual_kwh: float,
    progress: Callable[[datetime], None] | None = None,
) -> FeedSummary:
    """Feed a standard load profile scaled to `annual_kwh` over `[start, end)`."""
    return _run(meter, profile_intervals(kind, start, end, annual_kwh), progress)


def feed_constant(
    meter: Meter,
    watts: float,
    start: datetime,
    end: datetime,
    step: timedelta = QUARTER,
    progress: Callable[[datetime], None] | None = None,
) -> FeedSummary:
    """Feed a constant load of `watts` over `[start, end)` in intervals of `step`."""
    start, end = ensure_utc(start), ensure_utc(end)
    if watts < 0 or step <= timedelta(0):
        raise UsageError("watts must be >= 0 and the step positive")

    def intervals() -> Iterator[tuple[datetime, datetime, float]]:
        t = start
        while t < end:
            stop = min(t + step, end)
            yield t, stop, watts * (stop - t).total_seconds() / 3600
            t = stop

    return _run(meter, intervals(), progress)


def feed_samples(
    meter: Meter, path: str | Path, start: datetime, chunk_rows: int = 1 << 16
) -> FeedSummary:
    """Measure a recorded capture and feed it at `start` plus each chunk's time offset."""
    start = ensure_utc(start)
    u_peak = i_peak = 0.0
    rate = 0.0
    for chunk in iter_samples(path, chunk_rows):
        u_peak = max(u_peak, float(np.abs(chunk.u).max()))
        i_peak = max(i_peak, float(np.abs(chunk.i).max()))
        rate = rate or chunk.rate_hz
    chain = MeasurementChain(recording_adc(u_peak, i_peak, rate))

    def intervals() -> Iterator[tuple[datetime, datetime, Fraction]]:
        previous = start
        for chunk in iter_samples(path, chunk_rows):
            chain.feed(chunk)
            reading = chain.take()
            a = max(start + timedelta(seconds=chunk.t0), previous)
            b = max(a + timedelta(seconds=chunk.duration_s), a + timedelta(microseconds=1))
            previous = b
            yield a, b, max(reading.active_wh, Fraction(0))

    return _run(meter, intervals(), None)
