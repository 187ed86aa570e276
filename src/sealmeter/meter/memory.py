"""The narrow view of non-volatile memory the module's records and log are written through.

The security module only needs to read and write byte ranges of one memory device. `Memory`
is that seam; `sealmeter.nvm` devices (EEPROM with power-cut and torn-write injection) are
adapted to it in `sealmeter.meter.nvm_adapter`, so the pure layout code here does not depend on
a particular simulator.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Memory", "Region"]


class Memory(Protocol):
    """A byte-addressed non-volatile memory (EEPROM-like: a write replaces the bytes)."""

    @property
    def size(self) -> int:
        """Number of bytes."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes at `offset`."""
        ...

    def write(self, offset: int, data: bytes) -> None:
        """Write `data` at `offset`; a power cut may leave the range torn."""
        ...


class Region:
    """A window `[start, start + length)` of a `Memory`, addressed from 0."""

    def __init__(self, memory: Memory, start: int, length: int) -> None:
        """Bind the window; it must lie inside the memory."""
        if start < 0 or length <= 0 or start + length > memory.size:
            raise ValueError(
                f"region [{start}, {start + length}) does not fit a memory of {memory.size} bytes"
            )
        self.memory = memory
        self.start = start
        self.length = length

    def read(self, offset: int, length: int) -> bytes:
        """Read inside the window."""
        self._check(offset, length)
        return self.memory.read(self.start + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        """Write inside the window."""
        self._check(offset, len(data))
        self.memory.write(self.start + offset, data)

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or offset + length > self.length:
            raise ValueError(
                f"access [{offset}, {offset + length}) outside a region of {self.length} bytes"
            )
