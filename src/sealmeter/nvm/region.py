"""Regions: non-overlapping, bounds-checked views of one part, handed to different users.

The meter keeps its unit counter, registration log, flags and keys on the same part; each gets
a `Region` (from `device.region(name, length)`), whose offsets start at zero and which refuses
any access outside its own bytes. Regions are aligned to whole cell groups, so wear and erases
of one user never touch another's cells.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sealmeter.nvm.errors import NvmUsageError, OutOfBounds

if TYPE_CHECKING:
    from sealmeter.nvm.device import Geometry, _Part

from sealmeter.nvm.technology import Technology

__all__ = ["Region"]


class Region:
    """A window `[offset, offset + length)` of a part, addressed from zero."""

    def __init__(self, device: _Part, offset: int, length: int, name: str = "") -> None:
        """View `length` bytes of `device` starting at `offset` (both group aligned)."""
        gs = device.geometry.group_size
        if offset < 0 or length < 1 or offset % gs or length % gs:
            raise NvmUsageError(
                f"region {name!r} at {offset}+{length} must be a non-empty run of whole cell "
                f"groups of {gs} bytes"
            )
        if offset + length > device.geometry.size:
            raise OutOfBounds(
                f"region {name!r} at {offset}+{length} exceeds the part of "
                f"{device.geometry.size} bytes"
            )
        self.device = device
        self.offset = offset
        self.length = length
        self.name = name
        self._geometry = replace(device.geometry, size=length)

    def __repr__(self) -> str:
        """Name, place and technology, for logs and test failures."""
        return (
            f"Region({self.name!r}, {self._geometry.technology.value}, "
            f"offset={self.offset}, length={self.length})"
        )

    @property
    def geometry(self) -> Geometry:
        """The part's geometry with `size` set to this region's length."""
        return self._geometry

    def _at(self, offset: int, length: int) -> int:
        if offset < 0 or length < 0 or offset + length > self.length:
            raise OutOfBounds(
                f"range {offset}+{length} is outside region {self.name!r} of {self.length} bytes"
            )
        return self.offset + offset

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes at `offset` of this region."""
        # `_at` inlined: the module reads and writes its records through here all the time
        if offset < 0 or length < 0 or offset + length > self.length:
            self._at(offset, length)  # raises OutOfBounds, naming the range
        return self.device.read(self.offset + offset, length)

    def store(self, offset: int, data: bytes) -> None:
        """Native write (EEPROM write / flash program) at `offset` of this region."""
        if offset < 0 or offset + len(data) > self.length:
            self._at(offset, len(data))  # raises OutOfBounds, naming the range
        self.device.store(self.offset + offset, data)

    def write(self, offset: int, data: bytes) -> None:
        """EEPROM write at `offset` (raises on flash, which can only program or erase)."""
        self._require(Technology.EEPROM, "write")
        self.store(offset, data)

    def program(self, offset: int, data: bytes) -> None:
        """Flash program at `offset` (raises on EEPROM, which writes instead)."""
        self._require(Technology.NOR_FLASH, "program")
        self.store(offset, data)

    def _require(self, technology: Technology, op: str) -> None:
        if self._geometry.technology is not technology:
            raise NvmUsageError(
                f"region {self.name!r} is {self._geometry.technology.value}, which has no "
                f"{op}; use store() for the native write of either technology"
            )

    def erase(self, offset: int, length: int) -> None:
        """Erase `length` bytes at `offset` (flash: whole pages)."""
        self.device.erase(self._at(offset, length), length)

    def cycles(self) -> list[int]:
        """Cycles spent by each cell group of this region."""
        gs = self._geometry.group_size
        first = self.offset // gs
        return self.device.cycles()[first : first + self.length // gs]

    @property
    def powered(self) -> bool:
        """Whether the underlying part has power."""
        return self.device.powered

    def power_on(self) -> None:
        """Restore power to the underlying part."""
        self.device.power_on()
