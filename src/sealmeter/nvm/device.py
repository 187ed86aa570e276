"""Simulated EEPROM and NOR flash parts: cells, write/erase semantics, wear, faults.

Both parts keep three things per byte (content, weak-bit mask, stuck-bit mask), a cycle count
per cell group, and a bounded log of primitive operations. A primitive (an EEPROM write or
erase, a flash program or page erase) is the unit at which a power cut strikes: the injector
may interrupt it, leaving an arbitrary subset of the bits it was changing changed, and then
the part refuses every operation until `power_on()`.

- `Eeprom`: a write replaces bytes (erase + program inside the part); each write costs one
  cycle of every cell group (word) it touches. `erase` writes the erased value.
- `NorFlash`: `program` can only move bits from the erased value to the programmed one (the
  other bits of the data are left alone, as on a real part) and costs no cycle, but a word may
  be programmed at most `program_limit` times between erases; `erase` works per page, sets every
  bit to the erased value and costs one cycle of that page.
"""

from __future__ import annotations

import enum
import os
from collections import deque
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sealmeter.nvm.errors import (
    EraseFailed,
    NvmUsageError,
    OutOfBounds,
    PowerCut,
    PoweredOff,
    ProgramFailed,
    ProgramLimitExceeded,
    ReadFailed,
    WornOut,
)
from sealmeter.nvm.faults import BadMode, FaultInjector, FaultPlan, WearMode
from sealmeter.nvm.region import Region
from sealmeter.nvm.technology import Technology

__all__ = [
    "Eeprom",
    "Geometry",
    "NorFlash",
    "NvmDevice",
    "OpKind",
    "OpOutcome",
    "OpRecord",
    "Technology",
]


@dataclass(frozen=True)
class Geometry:
    """Shape and physics of a part.

    `group_size` is the wear unit (an EEPROM word, a flash page = erase unit), `word_size` the
    write/program unit, `erased` the value of an erased byte (0xFF or 0x00), `endurance` the
    rated cycles per group, `program_limit` the programs allowed per flash word between erases
    (0 = no limit, always 0 for EEPROM).
    """

    technology: Technology
    size: int
    group_size: int
    word_size: int
    erased: int
    endurance: int
    program_limit: int = 0

    def __post_init__(self) -> None:
        """Reject impossible geometries with a message saying what to change."""
        if self.erased not in (0x00, 0xFF):
            raise NvmUsageError(f"erased value {self.erased:#x} must be 0xFF or 0x00")
        if self.group_size < 1 or self.word_size < 1 or self.group_size % self.word_size:
            raise NvmUsageError(
                f"group size {self.group_size} must be a positive multiple of the word size "
                f"{self.word_size}"
            )
        if self.size < self.group_size or self.size % self.group_size:
            raise NvmUsageError(
                f"size {self.size} must be a positive multiple of the group size {self.group_size}"
            )
        if self.endurance < 1:
            raise NvmUsageError(f"endurance {self.endurance} must be at least 1 cycle")
        if self.program_limit < 0:
            raise NvmUsageError(f"program limit {self.program_limit} must be >= 0 (0 = none)")

    @property
    def groups(self) -> int:
        """Number of cell groups (wear units)."""
        return self.size // self.group_size

    @property
    def words(self) -> int:
        """Number of program words."""
        return self.size // self.word_size


class OpKind(enum.Enum):
    """Kinds of primitive operation."""

    WRITE = "write"
    PROGRAM = "program"
    ERASE = "erase"


class OpOutcome(enum.Enum):
    """How a primitive ended."""

    DONE = "done"
    TORN = "torn"
    FAILED = "failed"
    SILENT_NOOP = "silent_noop"


@dataclass(frozen=True)
class OpRecord:
    """One entry of a device's operation log."""

    number: int
    kind: OpKind
    offset: int
    length: int
    outcome: OpOutcome
    changing_bits: int = 0
    """How many bits the operation set out to change (before any tear)."""


@runtime_checkable
class NvmDevice(Protocol):
    """What counters and the meter need from a memory (a whole part or a `Region` of one)."""

    @property
    def geometry(self) -> Geometry:
        """Shape and physics (for a region: its own size, the part's other figures)."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes at `offset`."""
        ...

    def store(self, offset: int, data: bytes) -> None:
        """Native write: an EEPROM write, or a flash program (can only program bits)."""
        ...

    def erase(self, offset: int, length: int) -> None:
        """Return a range to the erased value (flash: whole pages only)."""
        ...

    def cycles(self) -> list[int]:
        """Write/erase cycles spent by each cell group."""
        ...


_LOG_LIMIT = 10_000
_PENDING_LIMIT = 1024  # distinct group ranges whose writes wait to be counted
_Op = tuple[int, OpKind, int, int, OpOutcome, int]
"""The fields of an `OpRecord`, as logged on the hot path."""


class _Part:
    """State and primitive machinery shared by both technologies."""

    def __init__(self, geometry: Geometry, plan: FaultPlan | None, log_limit: int) -> None:
        self._geometry = geometry
        size = geometry.size
        self._cells = bytearray([geometry.erased]) * size
        self._weak = bytearray(size)
        self._stuck = bytearray(size)
        self._any_stuck = False  # whether any bit is stuck (most parts: none, skip the mask)
        self._weak_bytes = 0
        # wear per cell group; a NumPy array so a write of many groups costs one slice add.
        # Writes add to `_pending` (group range -> writes) first: a module writes the same
        # few ranges over and over, so the adds are made in bulk when the counts are read.
        self._cycles = np.zeros(geometry.groups, dtype=np.int64)
        self._pending: dict[tuple[int, int], int] = {}
        self._programs = [0] * (geometry.words if geometry.program_limit else 0)
        self._powered = True
        self.ops = 0
        # The highest cycle count of any group: exact in `_max` unless `_max_stale`, and
        # `_max_bound` is never below it (one more per write), so the hot path compares
        # with the endurance without a pass over the counts.
        self._max = 0
        self._max_bound = 0
        self._max_stale = False
        self._log: deque[OpRecord] = deque(maxlen=log_limit)
        # records not yet made `OpRecord`s (made when the log is read): plain tuples are
        # cheaper on the hot path; at most `2 * log_limit` wait here
        self._fresh: list[_Op] = []
        self._fresh_limit = 2 * log_limit  # `_fresh` is cut back to `log_limit` there
        self._regions: dict[str, tuple[int, int]] = {}
        self.injector = FaultInjector(plan)

    # -- public state -------------------------------------------------------------------

    @property
    def geometry(self) -> Geometry:
        """Shape and physics of this part."""
        return self._geometry

    @property
    def powered(self) -> bool:
        """False after a power cut, until `power_on()`."""
        return self._powered

    @property
    def op_log(self) -> list[OpRecord]:
        """The most recent primitive operations (bounded), oldest first."""
        self._settle_log()
        return list(self._log)

    @property
    def max_cycles(self) -> int:
        """The most write/erase cycles any cell group of the part has spent."""
        if self._max_stale:
            self._settle_cycles()
            self._max = int(self._cycles.max()) if self._cycles.size else 0
            self._max_bound = self._max
            self._max_stale = False
        return self._max

    def _settle_cycles(self) -> None:
        """Add the pending writes to the cycle counts (see `_spend`)."""
        if self._pending:
            cycles = self._cycles
            for (lo, hi), times in self._pending.items():
                cycles[lo:hi] += times
            self._pending.clear()

    def _settle_log(self) -> None:
        """Turn the records of recent primitives into `OpRecord`s in the bounded log."""
        if self._fresh:
            keep = self._log.maxlen or len(self._fresh)
            self._log.extend(OpRecord(*op) for op in self._fresh[-keep:])
            self._fresh.clear()

    def _note(self, op: _Op) -> None:
        """Log one primitive (see `_settle_log`)."""
        fresh = self._fresh
        fresh.append(op)
        if len(fresh) >= self._fresh_limit:
            del fresh[: -(self._fresh_limit // 2)]

    def cycles(self) -> list[int]:
        """Write/erase cycles spent by each cell group."""
        self._settle_cycles()
        return [int(c) for c in self._cycles.tolist()]

    def power_on(self) -> None:
        """Restore power after a cut; the cells keep whatever the cut left."""
        self._powered = True

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this part to `path` (see `sealmeter.nvm.image` for the format)."""
        from sealmeter.nvm.image import save

        save(self, path)  # type: ignore[arg-type]

    def inject(self, plan: FaultPlan | None) -> None:
        """Arm a new fault plan (its primitive count starts at zero); `None` disarms."""
        self.injector = FaultInjector(plan)

    def read(self, offset: int, length: int) -> bytes:
        """Read `length` bytes; weak bits read at random, bad groups may raise `ReadFailed`."""
        self._check(offset, length)
        if self.injector.plan.bad_groups:
            for g in self._groups_of(offset, length):
                if self.injector.bad_mode(g) is BadMode.READ_ERROR:
                    raise ReadFailed(
                        f"read of bytes {offset}..{offset + length - 1} failed in bad cell "
                        f"group {g}; retry or retire that area"
                    )
        data = self._cells[offset : offset + length]
        if self._weak_bytes:
            rng = self.injector.rng
            for i in range(length):
                w = self._weak[offset + i]
                if w:
                    data[i] ^= w & rng.getrandbits(8)
        return bytes(data)

    def store(self, offset: int, data: bytes) -> None:
        """Native write of the technology (EEPROM write, flash program)."""
        raise NotImplementedError

    def erase(self, offset: int, length: int) -> None:
        """Return a range to the erased value (flash: whole pages)."""
        raise NotImplementedError

    def stuck_mask(self, offset: int, length: int) -> bytes:
        """Which bits are stuck for good (diagnostics; a real part cannot tell you)."""
        self._check(offset, length)
        return bytes(self._stuck[offset : offset + length])

    # -- regions --------------------------------------------------------------------------

    def region(self, name: str, length: int) -> Region:
        """Hand out the named region (allocating it at the next free aligned offset once)."""
        gs = self._geometry.group_size
        if name in self._regions:
            offset, have = self._regions[name]
            if have != length:
                raise NvmUsageError(
                    f"region {name!r} already exists with {have} bytes, not {length}; "
                    "ask for the same length or use another name"
                )
            return Region(self, offset, length, name)
        if length < 1 or length % gs:
            raise NvmUsageError(
                f"region {name!r}: length {length} must be a positive multiple of the cell "
                f"group size {gs}, so regions never share a group"
            )
        offset = max((o + n for o, n in self._regions.values()), default=0)
        if offset + length > self._geometry.size:
            raise OutOfBounds(
                f"region {name!r} of {length} bytes does not fit: {self._geometry.size - offset} "
                "bytes left; use a bigger part or smaller regions"
            )
        self._regions[name] = (offset, length)
        return Region(self, offset, length, name)

    @property
    def regions(self) -> dict[str, tuple[int, int]]:
        """The region table: name -> (offset, length)."""
        return dict(self._regions)

    # -- machinery -------------------------------------------------------------------------

    def _check(self, offset: int, length: int) -> None:
        if not self._powered:
            raise PoweredOff("the device lost power; call power_on() and run recovery first")
        if length < 0 or offset < 0 or offset + length > self._geometry.size:
            raise OutOfBounds(
                f"range {offset}+{length} is outside the device of {self._geometry.size} bytes"
            )

    def _groups_of(self, offset: int, length: int) -> range:
        gs = self._geometry.group_size
        return range(offset // gs, (offset + max(length, 1) - 1) // gs + 1)

    def _primitive(
        self,
        kind: OpKind,
        offset: int,
        target: bytes,
        cost_groups: range | None,
    ) -> None:
        """Apply `target` over `offset` as one primitive, with cuts, bad blocks and wear."""
        n = len(target)
        self.ops += 1
        number = self.ops
        injector = self.injector
        cut = injector.next_primitive_is_cut()
        if injector.plan.bad_groups:
            for g in self._groups_of(offset, n):
                mode = injector.bad_mode(g)
                if mode is None:
                    continue
                erase = kind is OpKind.ERASE
                if (mode is BadMode.PROGRAM_ERROR and not erase) or (
                    mode is BadMode.ERASE_ERROR and erase
                ):
                    self._note((number, kind, offset, n, OpOutcome.FAILED, 0))
                    err = EraseFailed if erase else ProgramFailed
                    raise err(
                        f"{kind.value} of bytes {offset}..{offset + n - 1} failed in bad cell "
                        f"group {g}; the old content stays, retire that area"
                    )
                if (mode is BadMode.PROGRAM_NOOP and not erase) or (
                    mode is BadMode.ERASE_NOOP and erase
                ):
                    self._note((number, kind, offset, n, OpOutcome.SILENT_NOOP, 0))
                    if cut:
                        self._powered = False
                        raise PowerCut(f"power failed during primitive {number}")
                    return
        wear_mode = injector.plan.wear
        if (
            cost_groups is not None
            and wear_mode is WearMode.FAIL
            and self._max_bound >= self._geometry.endurance
            and self.max_cycles >= self._geometry.endurance
        ):
            endurance = self._geometry.endurance
            for g in cost_groups:
                if self._cycles[g] >= endurance:
                    self._note((number, kind, offset, n, OpOutcome.FAILED, 0))
                    raise WornOut(
                        f"cell group {g} is past its endurance of {endurance} cycles and "
                        "refused the write; move the data to fresh cells"
                    )
        end = offset + n
        old = self._cells[offset:end]
        stuck = self._stuck[offset:end] if self._any_stuck else b""
        if stuck and any(stuck):
            target = bytes((t & ~s) | (o & s) for t, s, o in zip(target, stuck, old, strict=True))
        old_i = int.from_bytes(old, "little")
        changing = old_i ^ int.from_bytes(target, "little")
        nchanging = changing.bit_count()
        if cut:
            torn = old_i ^ injector.tear_mask(changing, 8 * n)
            weak = injector.weak_mask(changing, 8 * n)
            self._cells[offset:end] = torn.to_bytes(n, "little")
            if weak:
                for i, w in enumerate(weak.to_bytes(n, "little")):
                    if w:
                        if not self._weak[offset + i]:
                            self._weak_bytes += 1
                        self._weak[offset + i] |= w
            self._spend(cost_groups)
            self._powered = False
            self._note((number, kind, offset, n, OpOutcome.TORN, nchanging))
            raise PowerCut(
                f"power failed during primitive {number} ({kind.value} of {n} bytes at "
                f"{offset}); call power_on() and recover"
            )
        self._cells[offset:end] = target
        if self._weak_bytes:
            for i in range(offset, end):
                if self._weak[i]:
                    self._weak[i] = 0
                    self._weak_bytes -= 1
        if cost_groups is not None:
            # `_spend` inlined (every write of the module comes through here)
            lo, hi = cost_groups.start, cost_groups.stop
            if hi > lo:
                pending = self._pending
                key = (lo, hi)
                pending[key] = pending.get(key, 0) + 1
                self._max_bound += 1
                self._max_stale = True
                if len(pending) > _PENDING_LIMIT:
                    self._settle_cycles()
            if wear_mode is WearMode.STUCK_BITS and self._max_bound > self._geometry.endurance:
                self._wear_out(cost_groups, offset, bytes(old), target)
        # `_note` inlined
        fresh = self._fresh
        fresh.append((number, kind, offset, n, OpOutcome.DONE, nchanging))
        if len(fresh) >= self._fresh_limit:
            del fresh[: -(self._fresh_limit // 2)]

    def _spend(self, groups: range | None) -> None:
        if groups is None:
            return
        lo, hi = groups.start, groups.stop
        if hi <= lo:
            return
        pending = self._pending
        key = (lo, hi)
        pending[key] = pending.get(key, 0) + 1
        # no pass for the new maximum: it grew by one at most (see `max_cycles`)
        self._max_bound += 1
        self._max_stale = True
        if len(pending) > _PENDING_LIMIT:
            self._settle_cycles()

    def _wear_out(self, groups: range, offset: int, old: bytes, new: bytes) -> None:
        """Past endurance, stick one bit this write changed at its old value."""
        endurance = self._geometry.endurance
        if self.max_cycles <= endurance:
            return  # no cell group of the part is past its endurance
        gs = self._geometry.group_size
        rng = self.injector.rng
        for g in groups:
            if self._cycles[g] <= endurance:
                continue
            lo = max(g * gs, offset) - offset
            hi = min((g + 1) * gs, offset + len(new)) - offset
            bits = [
                (i, b)
                for i in range(lo, hi)
                for b in range(8)
                if (old[i] ^ new[i]) >> b & 1 and not self._stuck[offset + i] >> b & 1
            ]
            if not bits:
                continue
            i, b = bits[rng.randrange(len(bits))]
            addr = offset + i
            self._stuck[addr] |= 1 << b
            self._any_stuck = True
            self._cells[addr] = (self._cells[addr] & ~(1 << b) & 0xFF) | (old[i] & (1 << b))

    # -- image support (used by sealmeter.nvm.image) ---------------------------------------

    def _state(self) -> dict[str, object]:
        self._settle_cycles()
        return {
            "cells": bytes(self._cells),
            "weak": bytes(self._weak),
            "stuck": bytes(self._stuck),
            "cycles": self._cycles.tolist(),
            "programs": list(self._programs),
            "ops": self.ops,
            "powered": self._powered,
            "regions": dict(self._regions),
        }

    def _set_state(
        self,
        cells: bytes,
        weak: bytes,
        stuck: bytes,
        cycles: list[int],
        programs: list[int],
        ops: int,
        powered: bool,
        regions: dict[str, tuple[int, int]],
    ) -> None:
        self._cells = bytearray(cells)
        self._weak = bytearray(weak)
        self._stuck = bytearray(stuck)
        self._any_stuck = any(self._stuck)
        self._weak_bytes = sum(1 for w in self._weak if w)
        self._cycles = np.asarray(list(cycles), dtype=np.int64).reshape(-1)
        self._pending = {}
        self._programs = list(programs)
        self.ops = ops
        self._max = self._max_bound = int(self._cycles.max()) if self._cycles.size else 0
        self._max_stale = False
        self._powered = powered
        self._regions = dict(regions)

    def clone(self, plan: FaultPlan | None = None) -> _Part:
        """An independent copy of this part's cells and wear, with `plan` armed."""
        self._settle_cycles()
        twin = self.__class__.__new__(self.__class__)
        _Part.__init__(twin, self._geometry, plan, self._log.maxlen or _LOG_LIMIT)
        twin._set_state(
            bytes(self._cells),
            bytes(self._weak),
            bytes(self._stuck),
            self._cycles.tolist(),
            self._programs,
            self.ops,
            self._powered,
            self._regions,
        )
        return twin


class Eeprom(_Part):
    """An EEPROM: byte/word-granular writes, each costing one cycle of every word touched."""

    def __init__(
        self,
        size: int = 4096,
        *,
        word_size: int = 1,
        erased: int = 0xFF,
        endurance: int = 100_000,
        plan: FaultPlan | None = None,
        log_limit: int = _LOG_LIMIT,
    ) -> None:
        """A blank (all-erased) EEPROM of `size` bytes, wear counted per `word_size` bytes."""
        geometry = Geometry(Technology.EEPROM, size, word_size, word_size, erased, endurance, 0)
        super().__init__(geometry, plan, log_limit)

    def write(self, offset: int, data: bytes) -> None:
        """Write `data` at `offset` as one primitive (erase + program inside the part)."""
        n = len(data)
        # `_check` and `_groups_of` inlined: every record, log entry and counter unit of a
        # meter comes through here
        if not self._powered or offset < 0 or offset + n > self._geometry.size:
            self._check(offset, n)  # raises PoweredOff or OutOfBounds
        if not n:
            return
        gs = self._geometry.group_size
        groups = range(offset // gs, (offset + n - 1) // gs + 1)
        self._primitive(OpKind.WRITE, offset, data if type(data) is bytes else bytes(data), groups)

    def store(self, offset: int, data: bytes) -> None:
        """Same as `write` (the native write of an EEPROM)."""
        self.write(offset, data)

    def erase(self, offset: int, length: int) -> None:
        """Write the erased value over `length` bytes as one primitive."""
        self._check(offset, length)
        if not length:
            return
        target = bytes([self._geometry.erased]) * length
        self._primitive(OpKind.ERASE, offset, target, self._groups_of(offset, length))


class NorFlash(_Part):
    """A NOR flash: programs only move bits away from the erased value; erase is per page."""

    def __init__(
        self,
        size: int = 8192,
        *,
        page_size: int = 256,
        word_size: int = 1,
        erased: int = 0xFF,
        endurance: int = 100_000,
        program_limit: int = 16,
        plan: FaultPlan | None = None,
        log_limit: int = _LOG_LIMIT,
    ) -> None:
        """A blank (all-erased) flash of `size` bytes in pages of `page_size` bytes."""
        geometry = Geometry(
            Technology.NOR_FLASH, size, page_size, word_size, erased, endurance, program_limit
        )
        super().__init__(geometry, plan, log_limit)

    def program(self, offset: int, data: bytes) -> None:
        """Program `data` at `offset`: only bits at the erased value can change (one primitive).

        Bits of `data` at the erased value leave the cell alone, as on a real part. Raises
        `ProgramLimitExceeded` when a word would exceed its programs between erases.
        """
        self._check(offset, len(data))
        if not data:
            return
        geo = self._geometry
        if geo.program_limit:
            ws = geo.word_size
            words = range(offset // ws, (offset + len(data) - 1) // ws + 1)
            for w in words:
                if self._programs[w] >= geo.program_limit:
                    raise ProgramLimitExceeded(
                        f"flash word {w} was already programmed {self._programs[w]} times since "
                        f"its page was erased (limit {geo.program_limit}); erase the page first"
                    )
            for w in words:
                self._programs[w] += 1
        old = self._cells[offset : offset + len(data)]
        if geo.erased == 0xFF:
            target = bytes(o & d for o, d in zip(old, data, strict=True))
        else:
            target = bytes(o | d for o, d in zip(old, data, strict=True))
        self._primitive(OpKind.PROGRAM, offset, target, None)

    def store(self, offset: int, data: bytes) -> None:
        """Same as `program` (the native write of a flash)."""
        self.program(offset, data)

    def erase(self, offset: int, length: int) -> None:
        """Erase the whole pages covering exactly `offset..offset+length`, one primitive each."""
        self._check(offset, length)
        ps = self._geometry.group_size
        if offset % ps or length % ps:
            raise NvmUsageError(
                f"flash erase of {offset}+{length} is not page aligned (pages of {ps} bytes); "
                "erase whole pages"
            )
        for page_start in range(offset, offset + length, ps):
            page = page_start // ps
            target = bytes([self._geometry.erased]) * ps
            self._primitive(OpKind.ERASE, page_start, target, range(page, page + 1))
            if self._programs:
                ws = self._geometry.word_size
                for w in range(page_start // ws, (page_start + ps) // ws):
                    self._programs[w] = 0
