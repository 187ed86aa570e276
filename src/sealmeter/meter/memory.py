"""The narrow view of non-volatile memory the module's records and log are written through.

The security module reads and writes byte ranges of regions of its NVM part; `Storage` is that
seam. A `sealmeter.nvm` region (of a simulated EEPROM with power-cut and torn-write injection)
satisfies it as it is, so the layout code here depends on no particular simulator.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Storage"]


class Storage(Protocol):
    """A byte-addressed window of non-volatile memory (EEPROM-like: a store replaces bytes)."""

    length: int

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes at `offset`."""
        ...

    def store(self, offset: int, data: bytes) -> None:
        """Write `data` at `offset`; a power cut may leave the range torn."""
        ...
