"""Tear-safe records in NVM: each record rotates over several copies with a generation number.

A record (the relay and credit state, the tamper latches, the chain state, the installed
schedules, the keys...) is written as

    magic "SR" | generation u32 | length u16 | payload | code (first 8 bytes of SHA-256)

into the next of its `copies` slots (round robin: wear spreads over the copies). Reading takes
the valid copy with the highest generation. A write torn by a power cut leaves at most the
copy being written invalid, so the previous generation is read instead: a record is either the
old or the new value, never a mixture. `settle()` (run at every boot) copies the newest valid
payload into a fresh generation, so a copy left with weak bits by a torn write (which may read
valid once and invalid later) is replaced by a definite one before anything is acted on. With
at least three copies, a cut during that copy still leaves the generation before the torn one
intact, so a record is never lost; nothing was acted on since, so either value is legitimate.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from sealmeter.meter.errors import MeterConfigError, MeterStorageFault
from sealmeter.meter.memory import Storage

__all__ = ["RecordSlot", "RecordStore"]

_MAGIC = b"SR"
_HEADER = struct.Struct(">2sIH")
_CODE = 8
OVERHEAD = _HEADER.size + _CODE


def _code(header: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(header + payload).digest()[:_CODE]


@dataclass(frozen=True)
class RecordSlot:
    """Where one record lives: its first byte, copies, and payload capacity per copy."""

    name: str
    start: int
    copies: int
    capacity: int

    @property
    def copy_size(self) -> int:
        """Bytes one copy occupies."""
        return OVERHEAD + self.capacity

    @property
    def size(self) -> int:
        """Bytes the record occupies over all its copies."""
        return self.copies * self.copy_size


class RecordStore:
    """Named, generation-numbered, multi-copy records in one region of NVM."""

    def __init__(self, region: Storage, layout: dict[str, tuple[int, int]]) -> None:
        """Lay out records `name -> (copies, capacity)` one after another in `region`."""
        self.region = region
        self.slots: dict[str, RecordSlot] = {}
        at = 0
        for name, (copies, capacity) in layout.items():
            if copies < 3:
                raise MeterConfigError(f"record {name!r} needs at least 3 copies to be tear-safe")
            slot = RecordSlot(name, at, copies, capacity)
            self.slots[name] = slot
            at += slot.size
        if at > region.length:
            raise MeterConfigError(
                f"records need {at} bytes but the region has {region.length}; enlarge the NVM"
            )
        self.used = at
        self._generation: dict[str, int] = {}

    def _slot(self, name: str) -> RecordSlot:
        try:
            return self.slots[name]
        except KeyError:
            raise MeterConfigError(f"no record named {name!r} in this layout") from None

    def _read_copy(self, slot: RecordSlot, index: int) -> tuple[int, bytes] | None:
        at = slot.start + index * slot.copy_size
        header = self.region.read(at, _HEADER.size)
        magic, generation, length = _HEADER.unpack(header)
        if magic != _MAGIC or length > slot.capacity:
            return None
        rest = self.region.read(at + _HEADER.size, length + _CODE)
        payload, code = rest[:length], rest[length:]
        if code != _code(header, payload):
            return None
        return generation, payload

    def _newest(self, slot: RecordSlot) -> tuple[int, int, bytes] | None:
        best: tuple[int, int, bytes] | None = None
        for index in range(slot.copies):
            found = self._read_copy(slot, index)
            if found is not None and (best is None or found[0] > best[0]):
                best = (found[0], index, found[1])
        return best

    def read(self, name: str) -> bytes | None:
        """The newest valid payload of record `name`, or None if it was never written."""
        newest = self._newest(self._slot(name))
        if newest is None:
            self._generation[name] = 0
            return None
        self._generation[name] = newest[0]
        return newest[2]

    def write(self, name: str, payload: bytes) -> None:
        """Write a new generation of record `name` into its next copy."""
        slot = self._slot(name)
        if len(payload) > slot.capacity:
            raise MeterConfigError(
                f"record {name!r} payload of {len(payload)} bytes exceeds its capacity "
                f"{slot.capacity}; enlarge the layout"
            )
        if name not in self._generation:
            self.read(name)
        generation = self._generation[name] + 1
        index = generation % slot.copies
        body = _HEADER.pack(_MAGIC, generation, len(payload)) + payload
        data = body + hashlib.sha256(body).digest()[:_CODE]  # = header | payload | _code(...)
        self.region.store(slot.start + index * slot.copy_size, data)
        self._generation[name] = generation

    def settle(self) -> dict[str, bytes | None]:
        """At boot: read every record and copy its newest payload into a fresh generation."""
        found: dict[str, bytes | None] = {}
        for name in self.slots:
            payload = self.read(name)
            if payload is not None:
                self.write(name, payload)
            found[name] = payload
        return found

    def require(self, name: str) -> bytes:
        """The payload of a record that must exist (after provisioning)."""
        payload = self.read(name)
        if payload is None:
            raise MeterStorageFault(
                f"record {name!r} has no valid copy in NVM; the memory is damaged beyond "
                "repair by its redundancy codes: replace the module"
            )
        return payload
