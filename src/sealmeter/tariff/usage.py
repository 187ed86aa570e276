"""Usage as the tariff engine takes it: intervals (start, end, energy) or unit events.

`UsageSeries` holds three parallel NumPy arrays (UTC epoch seconds and whole milliwatt-hours,
all int64), so a year of 15-minute data bills in a few vectorised passes. Build it from
`Interval` values, from unit events (an instant each; zero-length intervals), or from the
CSV form `start,end,energy_wh` with `parse_usage_csv`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import numpy as np
import numpy.typing as npt

from sealmeter.tariff.errors import UsageDataError

__all__ = ["Interval", "UsageSeries", "parse_usage_csv"]

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Interval:
    """Energy `energy_wh` (>= 0, at most 3 decimals) used from `start` to `end` (aware)."""

    start: datetime
    end: datetime
    energy_wh: int | Decimal


def _seconds(when: datetime, what: str) -> int:
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        raise UsageDataError(f"{what} {when!r} must be an aware datetime (UTC or with offset)")
    if when.microsecond:
        raise UsageDataError(f"{what} {when.isoformat()} has fractions of a second; use whole s")
    try:
        return int(when.astimezone(UTC).timestamp())
    except (OverflowError, ValueError) as exc:
        raise UsageDataError(f"{what} {when.isoformat()} is out of range") from exc


def _mwh(value: int | Decimal | str, what: str) -> int:
    if isinstance(value, (bool, float)):
        raise UsageDataError(f"{what} {value!r}: give energy as int or Decimal, never float")
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise UsageDataError(f"{what} {value!r} is not a number") from exc
    if not amount.is_finite() or amount < 0:
        raise UsageDataError(f"{what} {value!r} must be a finite number >= 0")
    scaled = amount * 1000
    if scaled != scaled.to_integral_value():
        raise UsageDataError(f"{what} {value!r} has more than 3 decimals (whole mWh only)")
    return int(scaled)


class UsageSeries:
    """Sorted, non-overlapping usage intervals as int64 arrays (seconds, seconds, mWh)."""

    __slots__ = ("end_s", "energy_mwh", "start_s")

    def __init__(self, start_s: Int64Array, end_s: Int64Array, energy_mwh: Int64Array) -> None:
        """Validate and hold the arrays; `UsageDataError` names the first bad row (0-based)."""
        arrays = [np.asarray(a) for a in (start_s, end_s, energy_mwh)]
        for name, arr in zip(("start_s", "end_s", "energy_mwh"), arrays, strict=True):
            if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
                raise UsageDataError(f"{name} must be a 1-d integer array")
        if not len(arrays[0]) == len(arrays[1]) == len(arrays[2]):
            raise UsageDataError("start_s, end_s and energy_mwh must have the same length")
        start, end, energy = (a.astype(np.int64, copy=False) for a in arrays)
        self._check(start, end, energy)
        self.start_s: Int64Array = start
        self.end_s: Int64Array = end
        self.energy_mwh: Int64Array = energy

    @staticmethod
    def _check(start: Int64Array, end: Int64Array, energy: Int64Array) -> None:
        bad = np.flatnonzero(end < start)
        if bad.size:
            raise UsageDataError(f"interval {bad[0]} ends before it starts")
        bad = np.flatnonzero(energy < 0)
        if bad.size:
            raise UsageDataError(f"interval {bad[0]} has negative energy")
        if len(start) > 1:
            bad = np.flatnonzero(start[1:] < end[:-1])
            if bad.size:
                raise UsageDataError(
                    f"interval {bad[0] + 1} starts before interval {bad[0]} ends; intervals "
                    "must be sorted by time and must not overlap (usage would count twice)"
                )

    def __len__(self) -> int:
        """Number of intervals."""
        return len(self.start_s)

    @classmethod
    def from_intervals(cls, intervals: Iterable[Interval]) -> UsageSeries:
        """Build from `Interval` values (sorted, non-overlapping)."""
        rows = [
            (
                _seconds(iv.start, f"interval {i} start"),
                _seconds(iv.end, f"interval {i} end"),
                _mwh(iv.energy_wh, f"interval {i} energy_wh"),
            )
            for i, iv in enumerate(intervals)
        ]
        return cls._from_rows(rows)

    @classmethod
    def from_events(cls, times: Sequence[datetime], wh_per_event: int | Decimal = 1) -> UsageSeries:
        """Build from unit events: each instant adds `wh_per_event` in the band at that instant."""
        per = _mwh(wh_per_event, "wh_per_event")
        rows = [(t, t, per) for t in (_seconds(x, f"event {i}") for i, x in enumerate(times))]
        return cls._from_rows(rows)

    @classmethod
    def _from_rows(cls, rows: list[tuple[int, int, int]]) -> UsageSeries:
        if not rows:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty.copy(), empty.copy())
        table = np.array(rows, dtype=np.int64)
        return cls(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())

    def intervals(self) -> list[Interval]:
        """The usage back as `Interval` values (for display and tests; slow for big series)."""
        return [
            Interval(
                datetime.fromtimestamp(int(a), UTC),
                datetime.fromtimestamp(int(b), UTC),
                Decimal(int(e)).scaleb(-3),
            )
            for a, b, e in zip(self.start_s, self.end_s, self.energy_mwh, strict=True)
        ]


def parse_usage_csv(text: str) -> UsageSeries:
    """Parse CSV with header `start,end,energy_wh` (ISO 8601 with offsets); errors name the line.

    A leading byte-order mark (as spreadsheet programs write) is skipped.
    """
    text = text.removeprefix("\ufeff")
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise UsageDataError(f"usage CSV is malformed: {exc}") from exc
    if not table:
        raise UsageDataError("usage CSV is empty; expected header start,end,energy_wh")
    header, body = table[0], table[1:]
    if [h.strip().lower() for h in header] != ["start", "end", "energy_wh"]:
        raise UsageDataError(f"usage CSV header is {header!r}; expected start,end,energy_wh")
    rows: list[tuple[int, int, int]] = []
    for line, row in enumerate(body, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 3:
            raise UsageDataError(f"usage CSV line {line}: expected 3 fields, got {len(row)}")
        try:
            start = datetime.fromisoformat(row[0].strip())
            end = datetime.fromisoformat(row[1].strip())
        except ValueError as exc:
            raise UsageDataError(
                f"usage CSV line {line}: {exc}; write ISO 8601 like 2026-03-29T01:00:00+01:00"
            ) from exc
        try:
            rows.append(
                (
                    _seconds(start, "start"),
                    _seconds(end, "end"),
                    _mwh(row[2].strip(), "energy_wh"),
                )
            )
        except UsageDataError as exc:
            raise UsageDataError(f"usage CSV line {line}: {exc}") from exc
    try:
        return UsageSeries._from_rows(rows)
    except UsageDataError as exc:
        raise UsageDataError(f"usage CSV (data rows from line 2): {exc}") from exc
