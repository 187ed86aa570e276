"""Import a tariff from the OpenEI Utility Rate Database (URDB) JSON form.

URDB gives `energyweekdayschedule` / `energyweekendschedule` as 12x24 grids (months x local
hours) of 0-based indices into `energyratestructure`, a list of periods, each a list of tiers
`{rate, adj, max, unit}` (price = rate + adj; no `max`: unbounded; `max` counts kWh per
billing month), and a fixed charge `fixedchargefirstmeter` in `fixedchargeunits` ($/day or
$/month), or the older API's `fixedmonthlycharge`. URDB carries no time zone,
so the caller names one. Each period becomes a band `period<N>` on register 1.8.<N+1>; months
with the same pair of day grids become a season; weekends and holidays use the weekend grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sealmeter.tariff.errors import ScheduleError
from sealmeter.tariff.model import (
    Band,
    DayRule,
    DayType,
    RateSchedule,
    Season,
    Slot,
    StandingCharge,
    Tier,
)
from sealmeter.tariff.schema import _decimal

__all__ = ["schedule_from_urdb"]

_MONTH_END = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_FIXED_UNITS = {"$/day": "day", "$/month": "month"}


def _grid(record: Mapping[str, Any], key: str, periods: int) -> list[tuple[int, ...]]:
    grid = record.get(key)
    if not isinstance(grid, list) or len(grid) != 12:
        raise ScheduleError(key, "must be a list of 12 months, each of 24 period indices")
    rows: list[tuple[int, ...]] = []
    for m, row in enumerate(grid):
        if not isinstance(row, list) or len(row) != 24:
            raise ScheduleError(f"{key}[{m}]", "must list 24 hourly period indices")
        indices: list[int] = []
        for h, value in enumerate(row):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # some tools write the indices as 0.0, 1.0, ...
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < periods:
                raise ScheduleError(
                    f"{key}[{m}][{h}]",
                    f"{value!r} is not a period index 0..{periods - 1} of energyratestructure",
                )
            indices.append(value)
        rows.append(tuple(indices))
    return rows


def _tiers(period: Any, where: str) -> tuple[Tier, ...]:
    if not isinstance(period, list) or not period:
        raise ScheduleError(where, "a period must be a non-empty list of tiers")
    tiers: list[Tier] = []
    for j, raw in enumerate(period):
        tw = f"{where}[{j}]"
        if not isinstance(raw, Mapping):
            raise ScheduleError(tw, "a tier must be an object {rate, adj, max, unit}")
        if "rate" not in raw:
            raise ScheduleError(f"{tw}.rate", "is missing; a band with no price cannot bill")
        unit = raw.get("unit", "kWh")
        if unit != "kWh":
            raise ScheduleError(
                f"{tw}.unit", f"{unit!r} is not supported; only tiers in kWh per billing month"
            )
        adj = raw.get("adj")  # absent or null: no adjustment
        price = _decimal(raw["rate"], f"{tw}.rate") + _decimal(
            0 if adj is None else adj, f"{tw}.adj"
        )
        limit = raw.get("max")
        tiers.append(Tier(price, None if limit is None else _decimal(limit, f"{tw}.max")))
    if tiers[-1].up_to_kwh is not None:
        tiers[-1] = Tier(tiers[-1].price, None)  # the last block is open-ended in practice
    return tuple(tiers)


def _slots(row: tuple[int, ...]) -> tuple[Slot, ...]:
    slots: list[Slot] = []
    start = 0
    for h in range(1, 25):
        if h == 24 or row[h] != row[start]:
            slots.append(Slot(start * 3600, h * 3600, f"period{row[start]}"))
            start = h
    return tuple(slots)


def _instant(value: Any, where: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise ScheduleError(where, f"{value!r} is not a Unix time in seconds")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ScheduleError(where, f"{value!r} is not a Unix time in range") from exc


def schedule_from_urdb(
    record: Mapping[str, Any],
    *,
    tz: str | None = None,
    version: int | None = None,
    valid_from: datetime | None = None,
    currency: str = "USD",
) -> RateSchedule:
    """Build a schedule from one URDB rate (or an API answer `{"items": [one]}`).

    `tz` is required (URDB has no zone) unless the record carries `_sealmeter.timezone`.
    """
    if isinstance(record, Mapping) and isinstance(record.get("items"), list):
        items = record["items"]
        if len(items) != 1:
            raise ScheduleError("items", f"holds {len(items)} rates; pass exactly one")
        record = items[0]
    if not isinstance(record, Mapping):
        raise ScheduleError("(urdb)", "a URDB rate must be a JSON object")
    note = record.get("_sealmeter", {})
    note = note if isinstance(note, Mapping) else {}
    zone = tz or note.get("timezone")
    if not zone:
        raise ScheduleError("timezone", "URDB carries no time zone; pass --tz ZONE")
    structure = record.get("energyratestructure")
    if not isinstance(structure, list) or not structure:
        raise ScheduleError("energyratestructure", "is missing or empty")
    for key in ("minmonthlycharge", "annualmincharge"):
        if record.get(key):
            raise ScheduleError(
                key,
                "a minimum charge is not supported: bills of small months would be too low; "
                "remove it to bill without one",
            )
    if record.get("demandratestructure"):
        raise ScheduleError(
            "demandratestructure", "time-of-use demand charges are not supported; remove them"
        )
    bands = tuple(
        Band(f"period{k}", f"1.8.{k + 1}", _tiers(p, f"energyratestructure[{k}]"))
        for k, p in enumerate(structure)
    )
    weekday = _grid(record, "energyweekdayschedule", len(bands))
    weekend = _grid(record, "energyweekendschedule", len(bands))
    seasons: list[Season] = []
    rules: list[DayRule] = []
    month = 0
    while month < 12:
        last = month
        while last + 1 < 12 and (weekday[last + 1], weekend[last + 1]) == (
            weekday[month],
            weekend[month],
        ):
            last += 1
        name = f"m{month + 1:02d}-m{last + 1:02d}"
        seasons.append(Season(name, (month + 1, 1), (last + 1, _MONTH_END[last])))
        rules.append(DayRule((name,), (DayType.WORKDAY,), _slots(weekday[month])))
        rules.append(
            DayRule(
                (name,), (DayType.SATURDAY, DayType.SUNDAY, DayType.HOLIDAY), _slots(weekend[month])
            )
        )
        month = last + 1
    used = {f"period{i}" for row in weekday + weekend for i in row}
    bands = tuple(b for b in bands if b.name in used)
    standing = StandingCharge()
    fixed = record.get("fixedchargefirstmeter")
    if fixed is not None:
        units = record.get("fixedchargeunits", "$/month")
        if not isinstance(units, str) or units not in _FIXED_UNITS:
            raise ScheduleError("fixedchargeunits", f"{units!r}: use $/day or $/month")
        standing = StandingCharge(_decimal(fixed, "fixedchargefirstmeter"), _FIXED_UNITS[units])
    elif record.get("fixedmonthlycharge") is not None:
        # the older URDB API's name for a fixed charge per month (still in many saved rates)
        standing = StandingCharge(
            _decimal(record["fixedmonthlycharge"], "fixedmonthlycharge"), "month"
        )
    demand = None
    flat = record.get("flatdemandstructure")
    if flat:
        try:
            (only,) = flat
            (tier,) = only
            demand = _decimal(tier["rate"], "flatdemandstructure[0][0].rate") + _decimal(
                tier.get("adj", 0), "flatdemandstructure[0][0].adj"
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ScheduleError(
                "flatdemandstructure", "only one flat demand rate (one period, one tier) works"
            ) from exc
    start = valid_from or (
        _instant(record["startdate"], "startdate")
        if "startdate" in record
        else datetime.combine(date(1970, 1, 1), datetime.min.time(), UTC)
    )
    end = _instant(record["enddate"], "enddate") if record.get("enddate") else None
    label = str(record.get("label") or record.get("name") or "urdb")
    if version is None:
        version = note.get("version", 1)
        if isinstance(version, bool) or not isinstance(version, int):
            raise ScheduleError("_sealmeter.version", f"{version!r} is not an integer")
    return RateSchedule(
        id=f"urdb:{label}",
        version=version,
        valid_from=start,
        valid_to=end,
        timezone=str(zone),
        currency=currency,
        bands=bands,
        rules=tuple(rules),
        seasons=tuple(seasons),
        standing_charge=standing,
        demand_charge_per_kw=demand,
        name=str(record.get("name", "")),
        source=str(record.get("uri") or record.get("source") or ""),
    )
