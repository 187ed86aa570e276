"""Bulk billing: a usage series against one or more schedules, to the cent.

`bill(schedules, usage)` splits usage at every band, day-type, season, DST and schedule
boundary and returns a `Bill`: usage and charge per register, the prorated standing charge,
the demand charge on the peak interval power, and the total. Intervals that lie inside one
constant-price segment (nearly all of them) are summed with NumPy; the few that cross a
boundary are split in proportion to time, exactly (rational arithmetic), so splitting or
merging intervals never changes a bill. Charges use `money.tiered_charge` (the same function
behind `segment_charge`), and each line is rounded once with `money.round_money`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from sealmeter.tariff.book import ScheduleBook, in_force, schedule_pieces
from sealmeter.tariff.calendar import local_midnight, timeline
from sealmeter.tariff.errors import TariffError, UsageDataError
from sealmeter.tariff.model import RateSchedule
from sealmeter.tariff.money import round_money, tiered_charge
from sealmeter.tariff.usage import UsageSeries

__all__ = ["Bill", "Peak", "RegisterLine", "bill"]

_FAR = np.int64(1 << 62)


@dataclass(frozen=True)
class RegisterLine:
    """One register of a bill: OBIS code, band, exact usage, exact and rounded charge."""

    obis: str
    band: str
    energy_wh: Fraction
    exact_charge: Fraction
    charge: Decimal


@dataclass(frozen=True)
class Peak:
    """The interval with the highest mean power: power in W (exact) and when it was."""

    power_w: Fraction
    at: datetime
    until: datetime


@dataclass(frozen=True)
class Bill:
    """A bill for one period: registers, standing and demand charges, total, peak."""

    currency: str
    start: datetime
    end: datetime
    registers: tuple[RegisterLine, ...]
    standing_charge: Decimal
    exact_standing_charge: Fraction
    demand_charge: Decimal
    total: Decimal
    peak: Peak | None
    energy_wh: Fraction
    schedules: tuple[tuple[str, int, datetime, datetime], ...]
    intervals: int

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON form printed by `sealmeter bill --json` (money as strings)."""
        return {
            "currency": self.currency,
            "period": {"start": _iso(self.start), "end": _iso(self.end)},
            "intervals": self.intervals,
            "energy_wh": _number(self.energy_wh),
            "registers": [
                {
                    "obis": r.obis,
                    "band": r.band,
                    "energy_wh": _number(r.energy_wh),
                    "charge": str(r.charge),
                }
                for r in self.registers
            ],
            "standing_charge": str(self.standing_charge),
            "demand_charge": str(self.demand_charge),
            "total": str(self.total),
            "peak": None
            if self.peak is None
            else {
                "power_w": _number(self.peak.power_w),
                "at": _iso(self.peak.at),
                "until": _iso(self.peak.until),
            },
            "schedules": [
                {"id": sid, "version": ver, "from": _iso(a), "to": _iso(b)}
                for sid, ver, a, b in self.schedules
            ],
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: Fraction) -> int | float:
    """A quantity for JSON: exact int if whole, else rounded to 3 decimals (display only)."""
    if value.denominator == 1:
        return int(value)
    return round(float(value), 3)


def _dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _schedules(source: RateSchedule | ScheduleBook | Sequence[RateSchedule]) -> list[RateSchedule]:
    if isinstance(source, RateSchedule):
        return [source]
    if isinstance(source, ScheduleBook):
        return list(source.schedules)
    found = list(source)
    if not found:
        raise TariffError("no rate schedule given; pass at least one")
    return found


def _standing(schedule: RateSchedule, a: int, b: int) -> Fraction:
    """Exact standing charge of `schedule` for UTC seconds [a, b), prorated per local day or
    month by the share of that day/month covered (a 23-hour day counts as one day)."""
    amount = Fraction(schedule.standing_charge.amount)
    if amount == 0 or b <= a:
        return Fraction(0)
    zone = schedule.zone
    day = datetime.fromtimestamp(a, UTC).astimezone(zone).date()
    if schedule.standing_charge.per == "month":
        day = day.replace(day=1)
    total = Fraction(0)
    start = local_midnight(schedule, day)
    while start < b:
        if schedule.standing_charge.per == "month":
            nxt = _next_month(day)
        else:
            nxt = day + timedelta(days=1)
        end = local_midnight(schedule, nxt)
        overlap = min(b, end) - max(a, start)
        if overlap > 0:
            total += Fraction(overlap, end - start)
        day, start = nxt, end
    return total * amount


_LAST_BILLABLE_S = int(datetime(9998, 1, 1, tzinfo=UTC).timestamp())
"""No bill reaches this instant: its days, months and local zones would run past year 9999."""


def _next_month(day: date) -> date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _by_billing_month(
    pieces: list[tuple[int, int, RateSchedule]],
) -> list[tuple[int, int, RateSchedule, tuple[int, int] | None]]:
    """`pieces` cut at each local month start of a schedule with block (tiered) prices.

    Each comes with its billing month, (year, month) in its schedule's zone, or None for a
    schedule without tiers (nothing depends on it). A block price counts what the register
    used earlier in the same billing month, across schedule versions, as the meter and the
    head-end do (`headend/_tiers.py`); a bill over several months starts each month afresh.
    """
    out: list[tuple[int, int, RateSchedule, tuple[int, int] | None]] = []
    for a, b, schedule in pieces:
        if not any(band.tiered for band in schedule.bands):
            out.append((a, b, schedule, None))
            continue
        while True:
            first = datetime.fromtimestamp(a, UTC).astimezone(schedule.zone).date().replace(day=1)
            cut = local_midnight(schedule, _next_month(first))
            if cut >= b:
                out.append((a, b, schedule, (first.year, first.month)))
                break
            out.append((a, cut, schedule, (first.year, first.month)))
            a = cut
    return out


def _peak(usage: UsageSeries) -> tuple[Peak, int] | None:
    duration = usage.end_s - usage.start_s
    timed = np.flatnonzero(duration > 0)
    if timed.size == 0:
        return None
    power = usage.energy_mwh[timed] / duration[timed]
    top = float(power.max())
    near = timed[power >= top * (1 - 1e-9)]
    # Exact choice among near-ties: the best (earliest) per distinct duration, then compare.
    best_per_duration = []
    for d in np.unique(duration[near]):
        group = near[duration[near] == d]
        best_per_duration.append(int(group[int(np.argmax(usage.energy_mwh[group]))]))
    best = max(
        best_per_duration,
        key=lambda i: (Fraction(int(usage.energy_mwh[i]), int(duration[i])), -i),
    )
    watts = Fraction(int(usage.energy_mwh[best]) * 36, int(duration[best]) * 10)
    start = int(usage.start_s[best])
    return Peak(watts, _dt(start), _dt(int(usage.end_s[best]))), start


def bill(
    schedules: RateSchedule | ScheduleBook | Sequence[RateSchedule], usage: UsageSeries
) -> Bill:
    """Bill `usage` under `schedules` (the highest version valid at each instant applies)."""
    held = _schedules(schedules)
    currencies = {s.currency for s in held}
    if len(currencies) != 1:
        raise TariffError(f"schedules mix currencies {sorted(currencies)}; bill them apart")
    currency = currencies.pop()
    if len(usage) == 0:
        raise UsageDataError("no usage to bill; give at least one interval or event")
    lo, hi = int(usage.start_s[0]), int(usage.end_s.max())
    if hi >= _LAST_BILLABLE_S:
        raise UsageDataError(
            f"usage up to {_dt(hi).isoformat()} cannot be billed: the calendar a bill walks "
            "(days, months, zones) ends in 9999; bill periods before 9998"
        )
    # An instant (zero-length interval) at the very end must still find its segment.
    span_end = hi + 1 if int(usage.end_s[-1]) == int(usage.start_s[-1]) else hi
    spans = schedule_pieces(held, lo, max(span_end, lo + 1))
    pieces = _by_billing_month(spans)

    # One timeline over all pieces; each segment carries a key = (piece, band).
    instants: list[int] = []
    keys: list[int] = []
    key_of: dict[tuple[int, int], int] = {}
    for p, (a, b, schedule, _month) in enumerate(pieces):
        times, bands = timeline(schedule, a, b)
        for i, (t, band_ix) in enumerate(zip(times, bands, strict=True)):
            nxt = times[i + 1] if i + 1 < len(times) else b
            if nxt <= a or t >= b:
                continue
            key = key_of.setdefault((p, band_ix), len(key_of))
            t = max(t, a)
            if instants and instants[-1] == t:
                keys[-1] = key
            elif not keys or keys[-1] != key:
                instants.append(t)
                keys.append(key)
    bounds = np.array([*instants, int(_FAR)], dtype=np.int64)
    seg_key = np.array(keys, dtype=np.int64)

    start, end, energy = usage.start_s, usage.end_s, usage.energy_mwh
    seg = np.searchsorted(bounds, start, side="right") - 1
    crossing = bounds[seg + 1] < end
    whole = ~crossing
    per_key = [Fraction(0)] * len(key_of)
    k_whole = seg_key[seg[whole]]
    e_whole = energy[whole]
    if int(e_whole.sum(dtype=np.int64)) < (1 << 53):
        sums = np.bincount(k_whole, weights=e_whole, minlength=len(key_of))
        for k in np.flatnonzero(sums):
            per_key[int(k)] += round(float(sums[k]))
    else:  # pragma: no cover - beyond 9 TWh per bill; exact integer fallback
        for k in np.unique(k_whole):
            per_key[int(k)] += int(e_whole[k_whole == k].sum(dtype=np.int64))
    for row in np.flatnonzero(crossing):
        at, stop_at, e = int(start[row]), int(end[row]), int(energy[row])
        j = int(seg[row])
        while at < stop_at:
            stop = min(stop_at, int(bounds[j + 1]))
            per_key[int(seg_key[j])] += Fraction(e * (stop - at), stop_at - int(start[row]))
            at = stop
            j += 1

    # Charges, piece by piece in time order so block tiers see earlier usage first.
    lines: dict[tuple[str, str], list[Fraction]] = {}
    # block tiers count a register's usage within its billing month (see `_by_billing_month`)
    used_before: dict[tuple[str, tuple[int, int] | None], Fraction] = {}
    for (p, band_index), key_ix in sorted(key_of.items()):
        band = pieces[p][2].bands[band_index]
        wh = per_key[key_ix] / 1000
        month = (band.obis, pieces[p][3])
        before = used_before.get(month, Fraction(0))
        charge = tiered_charge(band, wh, before)
        used_before[month] = before + wh
        acc = lines.setdefault((band.obis, band.name), [Fraction(0), Fraction(0)])
        acc[0] += wh
        acc[1] += charge
    registers = tuple(
        RegisterLine(obis, name, wh, charge, round_money(charge, currency))
        for (obis, name), (wh, charge) in sorted(lines.items(), key=lambda kv: _obis_key(kv[0]))
    )

    standing_exact = sum((_standing(s, a, b) for a, b, s, _m in pieces), Fraction(0))
    standing = round_money(standing_exact, currency)
    found = _peak(usage)
    demand = Decimal(0).quantize(standing)
    peak = None
    if found is not None:
        peak, peak_s = found
        at_peak = in_force(held, peak_s)
        if at_peak is not None and at_peak.demand_charge_per_kw is not None:
            exact = peak.power_w / 1000 * Fraction(at_peak.demand_charge_per_kw)
            demand = round_money(exact, currency)
    total = sum((r.charge for r in registers), Decimal(0)) + standing + demand
    return Bill(
        currency=currency,
        start=_dt(lo),
        end=_dt(hi),
        registers=registers,
        standing_charge=standing,
        exact_standing_charge=standing_exact,
        demand_charge=demand,
        total=total,
        peak=peak,
        energy_wh=sum((r.energy_wh for r in registers), Fraction(0)),
        schedules=tuple((s.id, s.version, _dt(a), _dt(b)) for a, b, s in spans),
        intervals=len(usage),
    )


def _obis_key(key: tuple[str, str]) -> tuple[tuple[int, ...], str]:
    return tuple(int(x) for x in key[0].split(".")), key[1]
