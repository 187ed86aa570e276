"""Where a UTC instant falls in a schedule: local day, season, day type, time slot, band.

`band_index_at` answers for one instant; `timeline` gives, for a span of UTC seconds, the
sorted instants at which the band changes, built day by day in the schedule's local time.
An ordinary day's boundaries are local midnight plus the slot starts; a day with a UTC-offset
change (23 or 25 hours) is resolved instant by instant, so a repeated hour is billed in the
band its wall-clock time belongs to, each time it occurs.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sealmeter.tariff.model import DAY_SECONDS, DayType, RateSchedule

__all__ = ["Compiled", "band_index_at", "compiled", "day_type", "local_midnight", "timeline"]

_WEEKDAY_TYPES = (DayType.WORKDAY,) * 5 + (DayType.SATURDAY, DayType.SUNDAY)
_CACHE: dict[int, tuple[RateSchedule, Compiled]] = {}
_CACHE_LIMIT = 16_384  # schedules: a fleet's meters each hold their own copies
_DAY_CACHE: dict[tuple[int, date], tuple[RateSchedule, int, int, tuple[list[int], list[int]]]] = {}
_DAY_CACHE_LIMIT = 200_000
_MIDNIGHTS: dict[tuple[str, date], int] = {}


@dataclass(frozen=True)
class Compiled:
    """A schedule's lookup tables: season per (month, day), slots per (season, day type)."""

    season_of: dict[tuple[int, int], int]
    starts: dict[tuple[int, DayType], tuple[list[int], list[int]]]
    holidays: frozenset[date]


def compiled(schedule: RateSchedule) -> Compiled:
    """The (cached) lookup tables of `schedule`."""
    hit = _CACHE.get(id(schedule))
    if hit is not None and hit[0] is schedule:
        return hit[1]
    season_index = {s.name: k for k, s in enumerate(schedule.seasons)}
    band_index = {b.name: k for k, b in enumerate(schedule.bands)}
    season_of: dict[tuple[int, int], int] = {}
    for k, season in enumerate(schedule.seasons):
        day = date(2024, *season.start)
        while True:
            season_of[day.month, day.day] = k
            if (day.month, day.day) == season.end:
                break
            day = day + timedelta(days=1) if day != date(2024, 12, 31) else date(2024, 1, 1)
    starts: dict[tuple[int, DayType], tuple[list[int], list[int]]] = {}
    for rule in schedule.rules:
        ordered = sorted(rule.slots, key=lambda sl: sl.start_s)
        table = ([sl.start_s for sl in ordered], [band_index[sl.band] for sl in ordered])
        for name in rule.seasons or tuple(season_index):
            for day_kind in rule.days:
                starts[season_index[name], day_kind] = table
    result = Compiled(season_of, starts, frozenset(schedule.holidays))
    if len(_CACHE) > _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[id(schedule)] = (schedule, result)
    return result


def day_type(schedule: RateSchedule, day: date) -> DayType:
    """The day type of local date `day`: a listed holiday, else by weekday."""
    if day in compiled(schedule).holidays:
        return DayType.HOLIDAY
    return _WEEKDAY_TYPES[day.weekday()]


def _slots(schedule: RateSchedule, day: date) -> tuple[list[int], list[int]]:
    table = compiled(schedule)
    kind = DayType.HOLIDAY if day in table.holidays else _WEEKDAY_TYPES[day.weekday()]
    return table.starts[table.season_of[day.month, day.day], kind]


def band_index_at(schedule: RateSchedule, instant_s: int) -> int:
    """Index into `schedule.bands` of the band at UTC epoch second `instant_s`."""
    local = datetime.fromtimestamp(instant_s, UTC).astimezone(schedule.zone)
    starts, bands = _slots(schedule, local.date())
    second = local.hour * 3600 + local.minute * 60 + local.second
    return bands[bisect.bisect_right(starts, second) - 1]


def local_midnight(schedule: RateSchedule, day: date) -> int:
    """UTC epoch second of the start of local date `day` (the first instant of that date)."""
    key = (schedule.timezone, day)  # depends on the zone (by its IANA name) only
    hit = _MIDNIGHTS.get(key)
    if hit is not None:
        return hit
    found = _local_midnight(schedule, day)
    if len(_MIDNIGHTS) > _DAY_CACHE_LIMIT:
        _MIDNIGHTS.clear()
    _MIDNIGHTS[key] = found
    return found


def _local_midnight(schedule: RateSchedule, day: date) -> int:
    zone = schedule.zone
    at = int(datetime.combine(day, time(0), zone).astimezone(UTC).timestamp())

    def local_day(t: int) -> date:
        return datetime.fromtimestamp(t, UTC).astimezone(zone).date()

    if local_day(at) == day and local_day(at - 1) < day:
        return at
    # Midnight skipped or repeated in this zone: search the first instant of `day`.
    lo, hi = at - 2 * DAY_SECONDS, at + 2 * DAY_SECONDS
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if local_day(mid) >= day:
            hi = mid
        else:
            lo = mid
    return hi


def _offset_changes(schedule: RateSchedule, lo: int, hi: int) -> list[int]:
    """UTC seconds in (lo, hi] at which the zone's UTC offset changes (bisection)."""
    zone = schedule.zone

    def offset(t: int) -> timedelta | None:
        return datetime.fromtimestamp(t, UTC).astimezone(zone).utcoffset()

    found: list[int] = []
    stack = [(lo, hi)]
    while stack:
        a, b = stack.pop()
        if offset(a) == offset(b):
            if b - a > 6 * 3600:  # two changes within one span would cancel; split long spans
                mid = (a + b) // 2
                stack += [(a, mid), (mid, b)]
            continue
        if b - a == 1:
            found.append(b)
            continue
        mid = (a + b) // 2
        stack += [(a, mid), (mid, b)]
    return sorted(found)


def _day_boundaries(
    schedule: RateSchedule, day: date, start: int, end: int
) -> tuple[list[int], list[int]]:
    """Band change instants in [start, end), the UTC span of local date `day`, with bands
    (cached per schedule and day: a meter looks up the same few days again and again)."""
    key = (id(schedule), day)
    hit = _DAY_CACHE.get(key)
    if hit is not None and hit[0] is schedule and hit[1] == start and hit[2] == end:
        return hit[3]
    found = _compute_day_boundaries(schedule, day, start, end)
    if len(_DAY_CACHE) > _DAY_CACHE_LIMIT:
        _DAY_CACHE.clear()
    _DAY_CACHE[key] = (schedule, start, end, found)
    return found


def _compute_day_boundaries(
    schedule: RateSchedule, day: date, start: int, end: int
) -> tuple[list[int], list[int]]:
    starts, bands = _slots(schedule, day)
    zone = schedule.zone
    if end - start == DAY_SECONDS:
        before = datetime.fromtimestamp(start, UTC).astimezone(zone).utcoffset()
        after = datetime.fromtimestamp(end - 1, UTC).astimezone(zone).utcoffset()
        if before == after:
            return [start + s for s in starts], bands
    cands = {start}
    base = datetime.combine(day, time(0))
    for s in starts:
        wall = base + timedelta(seconds=s)
        for fold in (0, 1):
            t = int(wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).timestamp())
            if start <= t < end:
                cands.add(t)
    cands.update(t for t in _offset_changes(schedule, start, end - 1) if start <= t < end)
    ordered = sorted(cands)
    return ordered, [band_index_at(schedule, t) for t in ordered]


def timeline(schedule: RateSchedule, lo: int, hi: int) -> tuple[list[int], list[int]]:
    """Band changes covering UTC seconds [lo, hi): `(instants, bands)`, merged.

    `instants[0] <= lo`; band `bands[i]` applies on [instants[i], instants[i+1]) and the last
    one up to at least `hi`. Validity of the schedule is not considered here.
    """
    zone = schedule.zone
    first = datetime.fromtimestamp(lo, UTC).astimezone(zone).date()
    last = datetime.fromtimestamp(max(lo, hi - 1), UTC).astimezone(zone).date()
    instants: list[int] = []
    bands: list[int] = []
    day = first
    day_start = local_midnight(schedule, day)
    while day <= last:
        nxt = day + timedelta(days=1)
        day_end = local_midnight(schedule, nxt)
        times, kinds = _day_boundaries(schedule, day, day_start, day_end)
        for t, b in zip(times, kinds, strict=True):
            if bands and bands[-1] == b:
                continue
            instants.append(t)
            bands.append(b)
        day, day_start = nxt, day_end
    return instants, bands
