"""The rate schedules installed in the module, seen through the tariff core's `ScheduleBook`.

The module holds a `ScheduleBook` (the schedule in force and the ones that follow, each with
its version and validity): a newer schedule takes over exactly at its `valid_from`, and a
schedule whose version is not above every held one is refused (never downgraded). The band at
an instant and the instant it next changes come from the tariff core's `band_at`, computed in
the schedule's local time across DST changes; the charge of a segment is its `segment_charge`,
so the head-end recomputes the very same `Decimal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property

from sealmeter.meter.errors import DownlinkRejected
from sealmeter.tariff import (
    NoScheduleInForce,
    RateSchedule,
    ScheduleBook,
    StaleSchedule,
    band_at,
    segment_charge,
)
from sealmeter.tariff.calendar import local_midnight

__all__ = ["NO_SCHEDULE_OBIS", "Rate", "Schedules"]

NO_SCHEDULE_OBIS = "1.8.0"
"""The total-import register, charged at zero while no schedule is in force."""


@dataclass(frozen=True)
class Rate:
    """What applies at an instant: the schedule (or None) and the band's register."""

    schedule: RateSchedule | None
    obis: str

    @property
    def schedule_id(self) -> str:
        """Id of the schedule in force ('' when none)."""
        return "" if self.schedule is None else self.schedule.id

    @property
    def version(self) -> int:
        """Version of the schedule in force (0 when none)."""
        return 0 if self.schedule is None else self.schedule.version

    @property
    def key(self) -> tuple[str, int, str]:
        """What identifies a constant-price segment: schedule id, version and register."""
        return (self.schedule_id, self.version, self.obis)

    def registers(self) -> list[str]:
        """OBIS codes of every register of the schedule in force (the seed's V1/F1, V2/F2...)."""
        if self.schedule is None:
            return [NO_SCHEDULE_OBIS]
        return [band.obis for band in self.schedule.bands]

    @cached_property
    def monotone(self) -> bool:
        """Whether the charge never falls as usage grows (no negative price in the band)."""
        if self.schedule is None:
            return True
        return all(t.price >= 0 for t in self.schedule.register(self.obis).tiers)

    def charge(self, usage_wh: int, used_before_wh: int) -> Decimal:
        """Exact charge of `usage_wh` in this band (tier position from `used_before_wh`)."""
        if self.schedule is None or usage_wh == 0:
            return Decimal(0)
        return segment_charge(self.schedule, self.obis, usage_wh, used_before_wh)


_Span = tuple[int, str, datetime | None]
"""A cached `rate_span` answer: index of the schedule in the book (-1: none), OBIS, until."""

_SPANS: dict[tuple[tuple[bytes, ...], datetime], _Span] = {}
_SPANS_LIMIT = 100_000
_DAYS: dict[tuple[tuple[bytes, ...], datetime], tuple[str, datetime | None]] = {}


class Schedules:
    """The installed schedules (a tariff `ScheduleBook`) with the module's lookups.

    `rate_span` is the meter's hottest tariff lookup (every new registration segment asks
    it), so its answers are kept: the last one per book (an instant inside the span it found
    has the same answer), and a bounded table shared by every book with the same canonical
    bytes (a fleet's meters hold equal schedules and close segments at the same instants).
    """

    def __init__(self, book: ScheduleBook | None = None) -> None:
        """Wrap `book` (empty by default)."""
        self.book = book if book is not None else ScheduleBook()
        self._bytes: tuple[bytes, ...] | None = None
        self._last: tuple[datetime, Rate, datetime] | None = None
        self._rates: dict[tuple[int, str], Rate] = {}

    @classmethod
    def from_bytes(cls, blobs: tuple[bytes, ...]) -> Schedules:
        """Restore from the canonical bytes kept in NVM."""
        made = cls(ScheduleBook(tuple(RateSchedule.from_bytes(b) for b in blobs)))
        made._bytes = tuple(bytes(b) for b in blobs)  # canonical: from_bytes checked that
        return made

    def to_bytes(self) -> tuple[bytes, ...]:
        """Canonical bytes of every installed schedule, for NVM (made once per book)."""
        if self._bytes is None:
            self._bytes = tuple(s.to_bytes() for s in self.book.schedules)
        return self._bytes

    def in_force(self, when: datetime) -> RateSchedule | None:
        """The schedule in force at `when`."""
        return self.book.active(when)

    def local_day(self, at: datetime) -> tuple[str, datetime | None]:
        """The billing month ("YYYY-MM") of instant `at` in the zone of the schedule in force
        (UTC if none), and the local midnight that ends its day (None if no schedule).

        Shared by books with equal bytes, like `rate_span`."""
        key = (self.to_bytes(), at)
        held = _DAYS.get(key)
        if held is None:
            schedule = self.in_force(at)
            if schedule is None:
                held = (at.astimezone(UTC).strftime("%Y-%m"), None)
            else:
                local = at.astimezone(schedule.zone)
                day = local.date() + timedelta(days=1)
                end = datetime.fromtimestamp(local_midnight(schedule, day), UTC)
                held = (local.strftime("%Y-%m"), end)
            if len(_DAYS) >= _SPANS_LIMIT:
                _DAYS.clear()
            _DAYS[key] = held
        return held

    def rate_at(self, when: datetime) -> Rate:
        """The schedule and band (register) that apply at `when`."""
        return self.rate_span(when)[0]

    def rate_span(self, when: datetime) -> tuple[Rate, datetime | None]:
        """The rate at `when` and the instant it next changes (None: not as far as known).

        The same answer as `compute_rate_span` (cached, see the class docstring)."""
        if when.tzinfo is None:
            return self.compute_rate_span(when)  # the tariff core's UsageError, as before
        last = self._last
        if last is not None and last[0] <= when < last[2]:
            # nothing changes in [last[0], until): the same rate, changing at the same instant
            return last[1], last[2]
        key = (self.to_bytes(), when)
        held = _SPANS.get(key)
        if held is None:
            found, until = self.compute_rate_span(when)
            index = next((k for k, s in enumerate(self.book.schedules) if s is found.schedule), -1)
            if len(_SPANS) >= _SPANS_LIMIT:
                _SPANS.clear()
            held = _SPANS[key] = (index, found.obis, until)
        index, obis, until = held
        rate = self._rate(index, obis)
        if index >= 0 and until is not None:
            # band_at works in whole seconds: every instant in [when, until) has this answer
            self._last = (when, rate, until)
        return rate, until

    def _rate(self, index: int, obis: str) -> Rate:
        """The `Rate` of schedule `index` of the book (-1: none) and register `obis` (kept)."""
        rate = self._rates.get((index, obis))
        if rate is None:
            schedule = None if index < 0 else self.book.schedules[index]
            rate = self._rates[index, obis] = Rate(schedule, obis)
        return rate

    def compute_rate_span(self, when: datetime) -> tuple[Rate, datetime | None]:
        """`rate_span` computed afresh from the tariff core (the reference of the cache)."""
        try:
            found = band_at(self.book.schedules, when)
        except NoScheduleInForce:
            starts = [s.valid_from for s in self.book.schedules if when < s.valid_from]
            return Rate(None, NO_SCHEDULE_OBIS), (min(starts) if starts else None)
        return Rate(found.schedule, found.obis), found.until

    def next_change(self, after: datetime, before: datetime) -> datetime | None:
        """The first instant in `(after, before)` where the rate (schedule or band) changes."""
        until = self.rate_span(after)[1]
        if until is not None and after < until < before:
            return until
        return None

    def install(self, schedule: RateSchedule, now: datetime) -> Schedules:
        """Add `schedule`; refuse a version not above every installed one; drop dead ones."""
        try:
            return Schedules(self.book.offer(schedule, now))
        except StaleSchedule as exc:
            raise DownlinkRejected("stale-schedule", str(exc)) from None
