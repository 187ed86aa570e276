"""Fast path for fleets: 15-minute interval energy from standard load profiles, no samples.

`standard_profile` gives the shape of a year as fractions of the annual energy per 15-minute
interval (summing to exactly 1 after renormalisation). `"H25"`, `"G25"`, `"L25"`, `"P25"`,
`"S25"` (BDEW 2025) and `"H0"`, `"G0"`, `"L0"` (BDEW 1999, `H0` dynamised) come from
demandlib 0.2.2, which ships them in its wheel and needs no network; it is imported lazily
(pandas too) and run inside `warnings.catch_warnings()`, because it turns every warning into
an error for the whole process. `"synthetic"` is a built-in shape with daily, weekly and
seasonal variation, for use without demandlib. Profiles use the profile's local civil time,
interval k starting at 00:00 on 1 January plus k * 15 min; no public holidays unless given.

`fleet_interval_energy` turns a profile into interval energy (Wh) for N meters, each with its
own annual consumption, time shift and interval noise, deterministic for a seed and the same
for a meter whatever the batch it is generated in.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering.errors import MeteringError

__all__ = [
    "PROFILE_KINDS",
    "FleetVariation",
    "fleet_interval_energy",
    "interval_starts",
    "iter_fleet_interval_energy",
    "standard_profile",
]

INTERVALS_PER_DAY = 96
_BDEW25 = ("H25", "G25", "L25", "P25", "S25")
_BDEW99 = {"H0": "h0_dyn", "G0": "g0", "L0": "l0"}
PROFILE_KINDS = (*_BDEW25, *_BDEW99, "synthetic")


def interval_starts(year: int) -> NDArray[np.datetime64]:
    """Local start times of the 15-minute intervals of `year` (naive, profile civil time)."""
    n = _intervals(year)
    start = np.datetime64(f"{year:04d}-01-01T00:00")
    return start + np.arange(n) * np.timedelta64(15, "m")


def _intervals(year: int) -> int:
    if not 1900 <= year <= 2200:
        raise MeteringError(f"year must lie in 1900..2200, got {year}")
    return (366 if calendar.isleap(year) else 365) * INTERVALS_PER_DAY


def standard_profile(
    kind: str = "H25", year: int = 2025, holidays: Sequence[dt.date] = ()
) -> NDArray[np.float64]:
    """Fractions of the annual energy per 15-minute interval of `year` (they sum to 1).

    Raises `MeteringError` for an unknown kind or year. The result is cached; a copy is
    returned, so callers may modify it.
    """
    if kind not in PROFILE_KINDS:
        raise MeteringError(f"unknown load profile {kind!r}; choose one of {PROFILE_KINDS}")
    _intervals(year)
    return _profile(kind, year, tuple(sorted(set(holidays)))).copy()


@functools.lru_cache(maxsize=16)
def _profile(kind: str, year: int, holidays: tuple[dt.date, ...]) -> NDArray[np.float64]:
    raw = _synthetic(year, holidays) if kind == "synthetic" else _demandlib(kind, year, holidays)
    if raw.shape != (_intervals(year),) or not np.isfinite(raw).all() or (raw < 0).any():
        raise MeteringError(f"profile {kind} for {year} came out malformed; report this")
    total = math.fsum(raw.tolist())
    profile: NDArray[np.float64] = raw / total
    return profile


def _demandlib(kind: str, year: int, holidays: tuple[dt.date, ...]) -> NDArray[np.float64]:
    """Run demandlib with its process-wide warning filters contained."""
    hol = [dt.datetime(d.year, d.month, d.day) for d in holidays] or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pandas as pd
        from demandlib import bdew

        if kind in _BDEW25:
            index = pd.date_range(dt.datetime(year, 1, 1), periods=_intervals(year), freq="15min")
            series = getattr(bdew, kind)(index, holidays=hol)
            values = series.to_numpy(dtype=np.float64)
        else:
            slp = bdew.ElecSlp(year, holidays=hol)
            values = slp.get_profiles(_BDEW99[kind])[_BDEW99[kind]].to_numpy(dtype=np.float64)
    return np.ascontiguousarray(values)


def _synthetic(year: int, holidays: tuple[dt.date, ...]) -> NDArray[np.float64]:
    """A household-like shape: morning and evening peaks, weekends, winter above summer."""
    n = _intervals(year)
    k = np.arange(n)
    hour = (k % INTERVALS_PER_DAY) / 4.0
    day = k // INTERVALS_PER_DAY
    weekday = (dt.date(year, 1, 1).weekday() + day) % 7  # 0 = Monday
    weekend = weekday >= 5
    if holidays:
        offsets = [(d - dt.date(year, 1, 1)).days for d in holidays if d.year == year]
        weekend |= np.isin(day, offsets)
    base = 0.35
    morning = 0.55 * np.exp(-0.5 * ((hour - np.where(weekend, 9.0, 7.0)) / 1.2) ** 2)
    noon = 0.35 * np.exp(-0.5 * ((hour - 12.5) / 1.5) ** 2) * np.where(weekend, 1.4, 1.0)
    evening = 0.9 * np.exp(-0.5 * ((hour - 19.0) / 2.0) ** 2)
    season = 1.0 + 0.22 * np.cos(2 * np.pi * (day + 10) / (n / INTERVALS_PER_DAY))
    result: NDArray[np.float64] = (base + morning + noon + evening) * season
    return result


@dataclass(frozen=True)
class FleetVariation:
    """How meters of a fleet differ from the profile.

    `annual_sigma`: log-normal spread of annual consumption; `shift_intervals`: each meter's
    habits shifted by up to this many intervals either way; `noise_sigma`: log-normal
    interval-to-interval noise. After shift and noise each meter is renormalised to its own
    annual energy, so the fleet total is exactly the sum of the meters' annual energies.
    """

    annual_sigma: float = 0.3
    shift_intervals: int = 4
    noise_sigma: float = 0.35

    def __post_init__(self) -> None:
        """Reject negative spreads."""
        if self.annual_sigma < 0 or self.noise_sigma < 0 or self.shift_intervals < 0:
            raise MeteringError("fleet variation parameters must not be negative")


def iter_fleet_interval_energy(
    n_meters: int,
    annual_kwh: float = 3500.0,
    *,
    kind: str = "H25",
    year: int = 2025,
    seed: int = 0,
    variation: FleetVariation | None = None,
    batch: int = 256,
    dtype: type[np.floating] = np.float64,
) -> Iterator[tuple[int, NDArray[np.floating]]]:
    """Yield (first meter index, array (meters, intervals) of Wh) in batches of `batch`.

    Each meter's values depend only on (seed, meter index), not on the batch size.
    """
    if n_meters < 0 or batch < 1:
        raise MeteringError(f"need n_meters >= 0 and batch >= 1, got {n_meters}, {batch}")
    if not (annual_kwh >= 0 and math.isfinite(annual_kwh)):
        raise MeteringError(f"annual_kwh must be finite and >= 0, got {annual_kwh}")
    var = variation or FleetVariation()
    shape = _profile(kind, year, ()) if kind in PROFILE_KINDS else standard_profile(kind, year)
    for first in range(0, n_meters, batch):
        count = min(batch, n_meters - first)
        out = np.empty((count, shape.size), dtype=dtype)
        for row in range(count):
            out[row] = _meter_row(shape, annual_kwh, seed, first + row, var)
        yield first, out


def fleet_interval_energy(
    n_meters: int,
    annual_kwh: float = 3500.0,
    *,
    kind: str = "H25",
    year: int = 2025,
    seed: int = 0,
    variation: FleetVariation | None = None,
    dtype: type[np.floating] = np.float64,
) -> NDArray[np.floating]:
    """Interval energy (Wh per 15 min) for `n_meters` over `year`: shape (meters, intervals).

    Use `iter_fleet_interval_energy` for fleets too big to hold at once (35,040 values a meter).
    """
    parts = [
        block
        for _, block in iter_fleet_interval_energy(
            n_meters, annual_kwh, kind=kind, year=year, seed=seed, variation=variation, dtype=dtype
        )
    ]
    if not parts:
        return np.empty((0, _intervals(year)), dtype=dtype)
    return np.concatenate(parts)


def _meter_row(
    shape: NDArray[np.float64], annual_kwh: float, seed: int, meter: int, var: FleetVariation
) -> NDArray[np.float64]:
    rng = np.random.default_rng(np.random.SeedSequence([seed, meter]))
    annual_wh = annual_kwh * 1000.0 * math.exp(var.annual_sigma * rng.standard_normal())
    shift = int(rng.integers(-var.shift_intervals, var.shift_intervals + 1))
    row = np.roll(shape, shift)
    if var.noise_sigma:
        row = row * np.exp(var.noise_sigma * rng.standard_normal(row.size))
    total = float(row.sum())
    result: NDArray[np.float64] = row * (annual_wh / total) if total > 0 else row
    return result
