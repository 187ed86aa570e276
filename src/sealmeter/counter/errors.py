"""Errors of the unit counters, split by whose fault they are."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = [
    "AreaFailed",
    "CounterCorrupted",
    "CounterError",
    "CounterFull",
    "CounterUsageError",
    "MirrorDivergence",
    "NotFormatted",
]


class CounterError(EnvironmentFault):
    """The counter's memory is in a state it cannot count from; the counter has stopped."""


class CounterCorrupted(CounterError):
    """A redundancy code or a cross-check failed (claim 7): the counter stops rather than guess.

    The stored value cannot be trusted; read the memory image for forensics and restore the
    counter from the head-end's last confirmed reading.
    """


class AreaFailed(CounterError):
    """A write to a counter area did not read back as written and no fallback exists."""


class MirrorDivergence(CounterError):
    """The two memories of a mirrored counter disagree by more than one interrupted call."""


class CounterUsageError(UsageError):
    """The counter was called wrongly (negative units, sizes that do not fit the region)."""


class NotFormatted(CounterUsageError):
    """The region holds no counter (it is blank); call `format` once before `open`."""


class CounterFull(CounterUsageError):
    """The total would exceed the largest value a coded record holds (2**32 - 1 units)."""
