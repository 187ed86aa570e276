"""Which schedule is in force when, and what band applies at an instant until when.

A `ScheduleBook` is what a meter holds: the active schedule and the ones that follow. A
schedule applies from its `valid_from`; where several are valid, the highest version wins;
an offered schedule whose version is not newer than every held one is refused
(`StaleSchedule`), so an older version never replaces a newer one. `band_at` tells the meter
the register, band and price at an instant and the exact instant it next changes, so the meter
closes its registration segment there.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sealmeter.clock import ensure_utc
from sealmeter.tariff.calendar import band_index_at, timeline
from sealmeter.tariff.errors import NoScheduleInForce, StaleSchedule
from sealmeter.tariff.model import DAY_SECONDS, Band, RateSchedule

__all__ = ["BandAt", "ScheduleBook", "band_at", "in_force", "schedule_pieces"]

_FAR = 1 << 62


def _s(when: datetime) -> int:
    return int(ensure_utc(when).timestamp())


def _bounds(schedule: RateSchedule) -> tuple[int, int]:
    end = _FAR if schedule.valid_to is None else _s(schedule.valid_to)
    return _s(schedule.valid_from), end


def in_force(schedules: Iterable[RateSchedule], instant_s: int) -> RateSchedule | None:
    """The schedule in force at UTC second `instant_s`: highest version valid then, or None."""
    best: RateSchedule | None = None
    for schedule in schedules:
        lo, hi = _bounds(schedule)
        if lo <= instant_s < hi and (best is None or schedule.version > best.version):
            best = schedule
    return best


def schedule_pieces(
    schedules: Sequence[RateSchedule], lo: int, hi: int
) -> list[tuple[int, int, RateSchedule]]:
    """Split UTC seconds [lo, hi) into maximal pieces each under one schedule.

    Raises `NoScheduleInForce` naming the first uncovered instant.
    """
    cuts = {lo, hi}
    for schedule in schedules:
        a, b = _bounds(schedule)
        cuts.update(t for t in (a, b) if lo < t < hi)
    ordered = sorted(cuts)
    pieces: list[tuple[int, int, RateSchedule]] = []
    for a, b in itertools.pairwise(ordered):
        found = in_force(schedules, a)
        if found is None:
            at = datetime.fromtimestamp(a, UTC).isoformat()
            raise NoScheduleInForce(
                f"no rate schedule is in force at {at}; supply a schedule valid then"
            )
        if pieces and pieces[-1][2] is found:
            pieces[-1] = (pieces[-1][0], b, found)
        else:
            pieces.append((a, b, found))
    if lo == hi:
        only = in_force(schedules, lo)
        if only is None:
            at = datetime.fromtimestamp(lo, UTC).isoformat()
            raise NoScheduleInForce(f"no rate schedule is in force at {at}")
        pieces.append((lo, hi, only))
    return pieces


@dataclass(frozen=True)
class BandAt:
    """The tariff position at an instant: schedule, register, band, price, and until when.

    `until` is the next instant at which the band, price or schedule changes (None: never,
    as far as the held schedules say). A meter closes its registration segment there.
    """

    schedule: RateSchedule
    band: Band
    until: datetime | None

    @property
    def obis(self) -> str:
        """OBIS code of the register the usage goes to, e.g. "1.8.1"."""
        return self.band.obis

    @property
    def name(self) -> str:
        """Name of the band, e.g. "night"."""
        return self.band.name

    @property
    def unit_price(self) -> Decimal:
        """Price per kWh (first tier if the band is tiered; see `segment_charge`)."""
        return self.band.unit_price

    @property
    def schedule_id(self) -> str:
        """Id of the schedule in force."""
        return self.schedule.id

    @property
    def version(self) -> int:
        """Version of the schedule in force."""
        return self.schedule.version

    @property
    def currency(self) -> str:
        """Currency of the schedule in force."""
        return self.schedule.currency


def _next_band_change(schedule: RateSchedule, t: int, limit: int) -> int | None:
    """First instant in (t, limit) where `schedule`'s band differs from the band at t."""
    used = {slot.band for rule in schedule.rules for slot in rule.slots}
    if len(used) == 1:
        return None  # a single-band schedule never changes band
    current = band_index_at(schedule, t)
    window = 2 * DAY_SECONDS  # most bands change within the day: look there first
    lo = t
    while lo < limit and lo - t < 800 * DAY_SECONDS:
        hi = min(limit, lo + window)
        instants, bands = timeline(schedule, lo, hi)
        for at, band in zip(instants, bands, strict=True):
            if at > t and band != current and at < limit:
                return at
        lo = hi
        window *= 2
    return None


def band_at(schedules: Sequence[RateSchedule], instant: datetime) -> BandAt:
    """The band in force at `instant` among `schedules` and the instant it next changes."""
    t = _s(instant)
    schedule = in_force(schedules, t)
    if schedule is None:
        raise NoScheduleInForce(
            f"no rate schedule is in force at {ensure_utc(instant).isoformat()}"
        )
    # The next schedule change: any boundary after t where another schedule takes over.
    cuts = sorted({b for s in schedules for b in _bounds(s) if t < b < _FAR})
    change_at = next((c for c in cuts if in_force(schedules, c) is not schedule), None)
    limit = _FAR if change_at is None else change_at
    band_index = band_index_at(schedule, t)
    band = schedule.bands[band_index]
    nxt = _next_band_change(schedule, t, limit)
    if nxt is None:
        nxt = change_at  # the schedule itself changes (or its validity ends) there
    until = None if nxt is None else datetime.fromtimestamp(nxt, UTC)
    return BandAt(schedule, band, until)


@dataclass(frozen=True)
class ScheduleBook:
    """The schedules a meter holds: the active one and those that follow (immutable value).

    `offer` returns a new book; it refuses a schedule not newer than every held one.
    """

    schedules: tuple[RateSchedule, ...] = ()

    def offer(self, schedule: RateSchedule, now: datetime | None = None) -> ScheduleBook:
        """A book that also holds `schedule`; with `now`, schedules no longer needed are dropped.

        Raises `StaleSchedule` if a held schedule has the same or a higher version.
        """
        newest = max((s.version for s in self.schedules), default=None)
        if newest is not None and schedule.version <= newest:
            raise StaleSchedule(
                f"schedule {schedule.id!r} version {schedule.version} is not newer than the "
                f"held version {newest}; an older version never replaces a newer one"
            )
        book = ScheduleBook((*self.schedules, schedule))
        return book if now is None else book.pruned(now)

    def pruned(self, now: datetime) -> ScheduleBook:
        """Drop schedules that can no longer be in force at `now` or later."""
        t = _s(now)
        keep: list[RateSchedule] = []
        for s in self.schedules:
            lo, hi = _bounds(s)
            if hi <= t:
                continue
            # Superseded for good: a higher version is valid from <= max(t, lo) to >= hi.
            covered = any(
                o.version > s.version and _bounds(o)[0] <= max(t, lo) and _bounds(o)[1] >= hi
                for o in self.schedules
            )
            if not covered:
                keep.append(s)
        return ScheduleBook(tuple(keep))

    def active(self, now: datetime) -> RateSchedule | None:
        """The schedule in force at `now`, if any."""
        return in_force(self.schedules, _s(now))

    def upcoming(self, now: datetime) -> RateSchedule | None:
        """The schedule that takes over at the next schedule change after `now`, if any."""
        t = _s(now)
        current = in_force(self.schedules, t)
        for cut in sorted({b for s in self.schedules for b in _bounds(s) if t < b < _FAR}):
            following = in_force(self.schedules, cut)
            if following is not current:
                return following
        return None

    def band_at(self, instant: datetime) -> BandAt:
        """The band in force at `instant` and the instant it next changes."""
        return band_at(self.schedules, instant)

    def newest_version(self) -> int | None:
        """The highest version held (what a meter reports in its status message)."""
        return max((s.version for s in self.schedules), default=None)
