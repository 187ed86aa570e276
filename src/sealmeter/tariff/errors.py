"""Typed errors of the tariff engine: bad schedules, bad usage, stale or foreign schedules."""

from __future__ import annotations

from sealmeter.errors import PeerError, UsageError

__all__ = [
    "MalformedScheduleBytes",
    "NoScheduleInForce",
    "ScheduleError",
    "StaleSchedule",
    "TariffError",
    "UsageDataError",
]


class TariffError(UsageError):
    """Root of the tariff engine's caller-side errors (bad schedule or usage input)."""


class ScheduleError(TariffError):
    """A rate schedule (file, dict or URDB record) is invalid; `field` names the culprit.

    Fix the named field of the schedule and load it again.
    """

    def __init__(self, field: str, problem: str) -> None:
        """Record the dotted path of the bad `field` and a message saying what to change."""
        self.field = field
        self.problem = problem
        super().__init__(f"rate schedule field {field!r}: {problem}")


class UsageDataError(TariffError):
    """Usage intervals or events are malformed (bad timestamps, negative energy, bad CSV row)."""


class NoScheduleInForce(TariffError):
    """Usage falls at an instant that no given rate schedule covers; supply one that does."""


class MalformedScheduleBytes(PeerError):
    """Bytes received as a rate schedule are not a valid canonical schedule; reject the update."""


class StaleSchedule(PeerError):
    """A schedule offered to a `ScheduleBook` is not newer than one it already holds.

    An older (or equal) version never replaces a newer one; the offer changes nothing.
    """
