"""The registration log: a bounded ring of sealed registrations in NVM, freed once acknowledged.

Registrations wait here until the head-end's enable code acknowledges them. The log is a ring
of `entries` fixed-size slots; registration `seq` always goes to slot `(seq - 1) % entries`, so
every slot is written once per trip round the ring (wear spreads evenly: wear-aware by
construction, no hot slot). Each entry is

    magic "RL" | seq u64 | length u16 | payload | code (first 8 bytes of SHA-256)

written in one go. A power cut that tears an append leaves an entry whose code fails: it is
discarded on the next scan, never half-accepted, and the same sequence number is written
again later. The log does not store its own head: the caller passes the highest acknowledged
sequence number (kept in the module's chain record), and a slot whose entry is at or below it
is free. An append that would overwrite an unacknowledged entry raises `RegistrationLogFull`.
"""

from __future__ import annotations

import hashlib
import struct

from sealmeter.meter.errors import MeterConfigError, RegistrationLogFull
from sealmeter.meter.memory import Storage

__all__ = ["RegistrationLog"]

_MAGIC = b"RL"
_HEADER = struct.Struct(">2sQH")
_CODE = 8
OVERHEAD = _HEADER.size + _CODE


def _code(header: bytes, payload: bytes) -> bytes:
    return hashlib.sha256(header + payload).digest()[:_CODE]


class RegistrationLog:
    """A ring of tear-safe registration entries in one region of NVM."""

    def __init__(self, region: Storage, entry_size: int) -> None:
        """Divide `region` into entries of `entry_size` bytes (header and code included)."""
        if entry_size <= OVERHEAD:
            raise MeterConfigError(f"log entries of {entry_size} bytes leave no room for data")
        self.region = region
        self.entry_size = entry_size
        self.entries = region.length // entry_size
        if self.entries < 2:
            raise MeterConfigError("the registration log region holds fewer than 2 entries")

    @property
    def capacity(self) -> int:
        """Largest payload an entry can hold."""
        return self.entry_size - OVERHEAD

    def _offset(self, seq: int) -> int:
        return ((seq - 1) % self.entries) * self.entry_size

    def read_entry(self, seq: int) -> bytes | None:
        """The payload of registration `seq` if its slot holds a valid entry for it."""
        at = self._offset(seq)
        header = self.region.read(at, _HEADER.size)
        magic, found, length = _HEADER.unpack(header)
        if magic != _MAGIC or found != seq or length > self.capacity:
            return None
        rest = self.region.read(at + _HEADER.size, length + _CODE)
        payload, code = rest[:length], rest[length:]
        if code != _code(header, payload):
            return None
        return payload

    def append(self, seq: int, payload: bytes, acked: int) -> None:
        """Write registration `seq`; `acked` is the highest acknowledged sequence number."""
        if len(payload) > self.capacity:
            raise MeterConfigError(
                f"registration of {len(payload)} bytes exceeds the log entry capacity "
                f"{self.capacity}; configure larger entries"
            )
        if seq - acked > self.entries:
            raise RegistrationLogFull(
                f"the registration log holds {self.entries} unacknowledged registrations "
                f"({acked + 1}..{seq - 1}); registration {seq} waits until the head-end "
                "acknowledges some (units keep being counted)"
            )
        body = _HEADER.pack(_MAGIC, seq, len(payload)) + payload
        # = header | payload | _code(header, payload), with one concatenation less
        self.region.store(self._offset(seq), body + hashlib.sha256(body).digest()[:_CODE])

    def rewrite(self, seq: int, payload: bytes) -> None:
        """Write entry `seq` again in place (boot: make a possibly weak entry definite)."""
        header = _HEADER.pack(_MAGIC, seq, len(payload))
        self.region.store(self._offset(seq), header + payload + _code(header, payload))

    def queued(self, acked: int, next_seq: int) -> list[tuple[int, bytes]]:
        """Entries `acked+1 .. next_seq-1` in order; a missing one is a storage fault upstream."""
        found: list[tuple[int, bytes]] = []
        for seq in range(acked + 1, next_seq):
            payload = self.read_entry(seq)
            if payload is None:
                break
            found.append((seq, payload))
        return found
