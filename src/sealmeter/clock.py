"""Explicit time: a `Clock` is passed to everything that needs "now".

Meters, the head-end and the simulator never call `datetime.now()` themselves; they ask the
clock they were given, so a simulation can run far faster than real time and tests are exact.
All instants are timezone-aware UTC `datetime`s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from sealmeter.errors import UsageError

__all__ = ["Clock", "SimClock", "SystemClock", "ensure_utc"]


def ensure_utc(when: datetime) -> datetime:
    """Return `when` as an aware UTC datetime; reject naive datetimes, which are ambiguous."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise UsageError(
            f"naive datetime {when.isoformat()} has no time zone; pass an aware datetime "
            "(e.g. with tzinfo=datetime.UTC or an explicit offset)"
        )
    return when.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """A source of the current instant."""

    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


class SystemClock:
    """The wall clock of this machine, in UTC."""

    def now(self) -> datetime:
        """Return the machine's current time in UTC."""
        return datetime.now(UTC)


class SimClock:
    """A simulated clock that only moves when told to; never goes backwards unless forced."""

    def __init__(self, start: datetime) -> None:
        """Start the clock at `start` (an aware datetime)."""
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        """Return the simulated current instant."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` (must not be negative) and return the new instant."""
        if delta < timedelta(0):
            raise UsageError(f"cannot advance a clock by a negative span ({delta}); use set()")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when`, forwards or backwards (used to simulate a clock-rollback attack)."""
        self._now = ensure_utc(when)
        return self._now
