"""Energy to counter units, exactly: whole units out, the fractional remainder carried.

A `UnitConverter` turns energy increments (exact `Fraction`, `int`, decimal string or float
watt-hours) into whole units for the unit counter (`record(n)`), carrying the remainder as
an exact fraction, so a year of tiny increments counts the same units as one big one.
`units_per_interval` does the same for whole arrays of integer micro-watt-hours at NumPy
speed (the fleet simulator's path). A `DemandRegister` tracks energy per fixed interval
(e.g. 15 min) and the peak interval power.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from sealmeter.metering.errors import MeteringError

__all__ = [
    "DemandRegister",
    "Energy",
    "IntervalDemand",
    "UnitConverter",
    "exact_energy",
    "units_per_interval",
]

#: Energy as the converters accept it (watt-hours).
Energy = Fraction | int | float | Decimal | str


def exact_energy(value: Energy, what: str = "energy") -> Fraction:
    """Convert `value` (Wh) to an exact `Fraction`; floats are taken at their exact value.

    Raises `MeteringError` for NaN, infinity or text that is not a number.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise MeteringError(f"{what} must be finite, got {value}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise MeteringError(f"{what} must be finite, got {value}")
    try:
        return Fraction(value)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        raise MeteringError(f"{what} {value!r} is not a number of watt-hours") from exc


class UnitConverter:
    """Whole counter units from a stream of non-negative energy increments.

    `wh_per_unit` is the energy of one unit (default 1 Wh; `"0.1"` for 0.1 Wh, `1000` for
    1 kWh). `record`, if given, is called with each positive whole number of units, as the unit
    counter's `record(n)` expects. The remainder (always in [0, wh_per_unit)) is kept exactly.
    """

    def __init__(
        self, wh_per_unit: Energy = 1, record: Callable[[int], object] | None = None
    ) -> None:
        """Set the unit size and the optional sink; see the class docstring."""
        self.wh_per_unit = exact_energy(wh_per_unit, "wh_per_unit")
        if self.wh_per_unit <= 0:
            raise MeteringError(f"wh_per_unit must be positive, got {wh_per_unit}")
        self._record = record
        self._remainder = Fraction(0)
        self._units = 0

    @property
    def remainder_wh(self) -> Fraction:
        """Energy received but not yet a whole unit (exact, Wh)."""
        return self._remainder

    @property
    def units(self) -> int:
        """Whole units produced so far."""
        return self._units

    def add(self, energy_wh: Energy) -> int:
        """Add an energy increment; return (and `record`) the whole units it completes."""
        energy = exact_energy(energy_wh)
        if energy < 0:
            raise MeteringError(
                f"energy increment {energy_wh} Wh is negative; count import and export with "
                "separate converters"
            )
        total = self._remainder + energy
        n, rest = divmod(total, self.wh_per_unit)
        self._remainder = rest
        units = int(n)
        if units:
            self._units += units
            if self._record is not None:
                self._record(units)
        return units

    def restore(self, units: int, remainder_wh: Energy) -> None:
        """Resume from saved state (e.g. after a restart): units so far and the remainder."""
        rest = exact_energy(remainder_wh, "remainder_wh")
        if units < 0 or not 0 <= rest < self.wh_per_unit:
            raise MeteringError(
                f"cannot restore units={units}, remainder={rest}: units must be >= 0 and the "
                f"remainder in [0, {self.wh_per_unit})"
            )
        self._units = units
        self._remainder = rest


@dataclass(frozen=True)
class IntervalDemand:
    """One completed demand interval: its index from the start, energy and mean power."""

    index: int
    energy_wh: Fraction
    mean_power_w: float


class DemandRegister:
    """Energy per fixed interval and the peak interval power (maximum demand).

    Feed `(energy_wh, duration_s)` increments in order; an increment that spans an interval
    boundary is split in proportion to time (constant power within an increment). Completed
    intervals are kept up to `keep` (the newest), the peak over all of them always.
    """

    def __init__(self, interval_s: float = 900.0, keep: int = 96 * 400) -> None:
        """Start at the beginning of an interval of `interval_s` seconds."""
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise MeteringError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = Fraction(interval_s)
        self._keep = keep
        self._index = 0
        self._elapsed = Fraction(0)
        self._energy = Fraction(0)
        self._done: list[IntervalDemand] = []
        self._peak: IntervalDemand | None = None

    @property
    def peak(self) -> IntervalDemand | None:
        """The completed interval with the highest mean power, or None before the first."""
        return self._peak

    @property
    def intervals(self) -> list[IntervalDemand]:
        """The most recent completed intervals (oldest first)."""
        return list(self._done)

    def add(self, energy_wh: Energy, duration_s: Energy) -> list[IntervalDemand]:
        """Add energy over a duration; return the intervals this completed."""
        energy = exact_energy(energy_wh)
        duration = exact_energy(duration_s, "duration_s")
        if duration < 0:
            raise MeteringError(f"duration_s must not be negative, got {duration_s}")
        if duration == 0:
            if energy:
                raise MeteringError("energy over a zero duration has no interval to go in")
            return []
        completed: list[IntervalDemand] = []
        left_e, left_t = energy, duration
        while self._elapsed + left_t >= self.interval_s:
            take_t = self.interval_s - self._elapsed
            take_e = left_e * take_t / left_t
            self._energy += take_e
            completed.append(self._close())
            left_e -= take_e
            left_t -= take_t
        self._elapsed += left_t
        self._energy += left_e
        return completed

    def _close(self) -> IntervalDemand:
        power = float(self._energy * 3600 / self.interval_s)
        done = IntervalDemand(self._index, self._energy, power)
        if self._peak is None or done.mean_power_w > self._peak.mean_power_w:
            self._peak = done
        self._done.append(done)
        if len(self._done) > self._keep:
            del self._done[: len(self._done) - self._keep]
        self._index += 1
        self._elapsed = Fraction(0)
        self._energy = Fraction(0)
        return done


def units_per_interval(
    energy_uwh: NDArray[np.integer], uwh_per_unit: int = 1_000_000, carry_uwh: int = 0
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Whole units completed in each interval, vectorised and exact, with the carries.

    `energy_uwh` holds non-negative integer micro-watt-hours per interval along the last
    axis; leading axes are independent meters, each starting with `carry_uwh`. Returns the
    units per interval (same shape) and the carry of each meter after its last interval
    (shape `energy_uwh.shape[:-1]`). Same result as a `UnitConverter` fed the same energies
    one by one.
    """
    values = np.asarray(energy_uwh)
    if values.dtype.kind not in "iu" or values.ndim == 0:
        raise MeteringError(
            f"energy_uwh must be an array of integers (micro-Wh), got dtype {values.dtype} "
            f"and shape {values.shape}; round first"
        )
    if uwh_per_unit <= 0 or not 0 <= carry_uwh < uwh_per_unit:
        raise MeteringError(
            f"need uwh_per_unit > 0 and 0 <= carry_uwh < uwh_per_unit, got {uwh_per_unit}, "
            f"{carry_uwh}"
        )
    if values.size and int(values.min()) < 0:
        raise MeteringError("energy_uwh must not be negative; count export separately")
    running = np.cumsum(values.astype(np.int64), axis=-1)
    if running.size and int(running.max()) > (1 << 62) - carry_uwh:
        raise MeteringError("energy too large for int64 micro-Wh; split the run")
    running += carry_uwh
    whole = running // uwh_per_unit
    start = np.full((*whole.shape[:-1], 1), carry_uwh // uwh_per_unit, dtype=np.int64)
    units: NDArray[np.int64] = np.diff(whole, axis=-1, prepend=start)
    if values.shape[-1] == 0:
        return units, np.full(values.shape[:-1], carry_uwh, dtype=np.int64)
    carries: NDArray[np.int64] = running[..., -1] % uwh_per_unit
    return units, carries
