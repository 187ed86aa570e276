"""What every unit counter offers, so the meter and the mirror can use any design."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sealmeter.counter.errors import CounterUsageError

__all__ = ["UnitCounter", "check_units"]


@runtime_checkable
class UnitCounter(Protocol):
    """A tear-safe counter of consumed units over a region of non-volatile memory.

    After a power cut at any primitive and `recover()` (which `open` also runs), the value never
    decreases, never exceeds the value before the interrupted call plus its n, and counts every
    call that returned exactly.
    """

    @property
    def value(self) -> int:
        """Total units recorded."""
        ...

    def record(self, n: int) -> int:
        """Record `n` more consumed units; return the new total."""
        ...

    def recover(self) -> None:
        """Re-read the memory after a power cut, finish or roll back what was interrupted."""
        ...


def check_units(n: int) -> None:
    """Reject a unit count that is not a non-negative int."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise CounterUsageError(f"units to record must be an int >= 0, got {n!r}")
