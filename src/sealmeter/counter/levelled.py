"""The levelled counter: seed 003's idea with every write cycle recording a unit.

What the seed does: units go into bit area A; when A is full its bits move into the coded B
(with backup SB and flag C2) and A is erased. On EEPROM that costs one write per byte of A per
pass just to erase it, plus writes of B, SB and C2 that hit the same few cell groups every
pass, so those groups wear out while most of the area still has cycles left.

What we do instead (same tear-safety, measured by the same harness):

- The region is a ring of `frames` frames. Each frame holds two copies of a coded header
  (sequence number s, base value) followed by a bit field. The current frame is the one with
  the highest valid s; the value is its base plus the unit bits of its field.
- A frame is left only when its field is full; the next frame gets header s+1 with base =
  base + capacity (+ any units beyond the full field, as in claim 3). The previous frame's
  header is the backup (the seed's SB); a torn header is invalid and recovery redoes the move.
- On EEPROM a field is never erased: on even passes over a frame a unit is a bit moved away
  from the erased value, on odd passes a bit moved back (the pass is s // frames, so the
  polarity travels inside the coded value). A full field of pass p is the empty field of pass
  p+1, so every write of a field byte records exactly one unit.
- On flash a unit is a programmed bit; the frame's pages are erased when it becomes current,
  once per pass: one erase cycle per bit of the field.
- A field byte that does not read back as written (worn cells, bad block) switches the counter
  to direct mode, the seed's C1 (claim 11): the next frame gets a `DIRECT` header holding the
  whole total, and from then on every call writes the next `DIRECT` header (both copies) round
  the ring. Header bytes have worn eight times slower than field bytes, so counting goes on,
  without loss, long enough to report and replace the part.
- Headers are written twice, copy 1 then copy 2, so a header that is later corrupted (or read
  weak after a torn write) is repaired from its twin; if both copies are valid and differ the
  counter stops with `CounterCorrupted`. `open` also rewrites the field bytes at the frontier,
  so a torn bit write leaves no weak bit behind.

The physical limit (see `sealmeter.counter.lifetime`) is one unit per write cycle of every
cell group on EEPROM and one unit per bit per erase cycle on flash; this design only loses the
two header copies per frame, 24 bytes of each `frame_size`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealmeter.counter._area import POPCOUNT, count_bits, is_flash, refresh
from sealmeter.counter.base import check_units
from sealmeter.counter.codec import RECORD_SIZE, Record, RecordTag, encode_record, try_decode
from sealmeter.counter.errors import (
    AreaFailed,
    CounterCorrupted,
    CounterUsageError,
    NotFormatted,
)
from sealmeter.nvm import DeviceFault, NvmDevice, ProgramLimitExceeded

__all__ = ["HEADER_SIZE", "LevelledConfig", "LevelledCounter"]

HEADER_SIZE = 2 * RECORD_SIZE


def _lowest_bits(byte: int, k: int) -> int:
    """The mask of the `k` lowest set bits of `byte` (all of them if it has fewer)."""
    mask = 0
    for bit in range(8):
        if k and byte >> bit & 1:
            mask |= 1 << bit
            k -= 1
    return mask


_LOWEST = tuple(tuple(_lowest_bits(byte, k) for k in range(9)) for byte in range(256))
"""`_LOWEST[byte][k]`: the `k` lowest set bits of `byte` (the bits a partial byte moves)."""


@dataclass(frozen=True)
class LevelledConfig:
    """Sizes of the levelled counter: `frames` frames of `frame_size` bytes each."""

    frames: int = 2
    frame_size: int = 512

    def __post_init__(self) -> None:
        """Reject rings too small to keep a backup header."""
        if self.frames < 2:
            raise CounterUsageError(f"frames={self.frames} must be at least 2 (one is the backup)")
        if self.frame_size < HEADER_SIZE + 1:
            raise CounterUsageError(
                f"frame_size={self.frame_size} must exceed the {HEADER_SIZE} header bytes"
            )

    def footprint(self, area: NvmDevice) -> int:
        """Bytes of `area` this configuration occupies."""
        return self.frames * self.frame_size

    def check(self, area: NvmDevice) -> None:
        """Raise unless frames are whole cell groups and fit in `area`."""
        gs = area.geometry.group_size
        if self.frame_size % gs:
            raise CounterUsageError(
                f"frame_size={self.frame_size} must be a multiple of the cell group (page) "
                f"size {gs}"
            )
        if self.footprint(area) > area.geometry.size:
            raise CounterUsageError(
                f"the levelled counter needs {self.footprint(area)} bytes, the region has "
                f"{area.geometry.size}; use fewer or smaller frames"
            )


class LevelledCounter:
    """Wear-levelled, tear-safe unit counter (see the module docstring)."""

    def __init__(self, area: NvmDevice, config: LevelledConfig) -> None:
        """Bind to `area` without reading it; use `format` or `open` instead."""
        config.check(area)
        self.area = area
        self.config = config
        self._erased = area.geometry.erased
        self._flash = is_flash(area)
        self._field_len = config.frame_size - HEADER_SIZE
        self._header = Record(RecordTag.FRAME, 0, 0)
        self._header_bytes = b""
        self._field = bytearray(self._field_len)
        self._count = 0
        self._frontier = 0
        self.repairs: list[str] = []

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def format(
        cls, area: NvmDevice, config: LevelledConfig | None = None, start: int = 0
    ) -> LevelledCounter:
        """Erase the ring and start counting at `start` in frame 0."""
        self = cls(area, config or LevelledConfig())
        check_units(start)
        area.erase(0, self.config.footprint(area))
        blank = bytes([self._erased]) * self.config.footprint(area)
        if area.read(0, len(blank)) != blank:
            raise AreaFailed("the counter's region did not erase; replace the part")
        self._write_header(0, encode_record(RecordTag.FRAME, 0, start))
        self.recover(tail=False)
        return self

    @classmethod
    def open(cls, area: NvmDevice, config: LevelledConfig | None = None) -> LevelledCounter:
        """Find the current frame, repair headers, finish an interrupted move, reload."""
        self = cls(area, config or LevelledConfig())
        self.recover()
        return self

    # -- public state ----------------------------------------------------------------------

    @property
    def value(self) -> int:
        """Base of the current frame plus its unit bits."""
        return self._header.value + self._count

    @property
    def failed_field(self) -> bool:
        """Whether a field failed and the counter runs in direct mode (the seed's C1)."""
        return self._header.tag is RecordTag.DIRECT

    @property
    def capacity(self) -> int:
        """Units one frame's field holds."""
        return 8 * self._field_len

    @property
    def sequence(self) -> int:
        """Sequence number of the current frame's header."""
        return self._header.gen

    # -- geometry helpers ------------------------------------------------------------------

    def _frame_offset(self, seq: int) -> int:
        return (seq % self.config.frames) * self.config.frame_size

    def _empty(self, seq: int) -> int:
        """The byte of an empty field for the pass of `seq` (alternates on EEPROM)."""
        if self._flash or (seq // self.config.frames) % 2 == 0:
            return self._erased
        return self._erased ^ 0xFF

    # -- recording -------------------------------------------------------------------------

    def record(self, n: int) -> int:
        """Record `n` units; return the new total."""
        check_units(n)
        self._state_check()
        if n == 0:
            return self.value
        before = self.value
        if self.failed_field:
            self._direct(before + n)
            return self.value
        free = self.capacity - self._count
        try:
            self._set_bits(min(n, free))
        except (AreaFailed, DeviceFault, ProgramLimitExceeded) as exc:
            self.repairs.append(f"field failed, switched to direct mode: {exc}")
            self._direct(before + n)
            return self.value
        if n >= free:
            self._advance(self._header.value + self.capacity + (n - free))
        return self.value

    def _direct(self, value: int) -> None:
        """Write the next frame's headers as `DIRECT` with the whole total (C1 mode)."""
        seq = self._header.gen + 1
        data = encode_record(RecordTag.DIRECT, seq, value)
        if self._flash:
            self.area.erase(self._frame_offset(seq), self.config.frame_size)
        self._write_header(seq, data)
        self._header = Record(RecordTag.DIRECT, seq, value)
        self._header_bytes = data
        self._field = bytearray(self._field_len)
        self._count = 0
        self._frontier = 0

    def _state_check(self) -> None:
        """Re-read the current header (copy 1); if it changed, recover or stop."""
        off = self._frame_offset(self._header.gen)
        want = self._header_bytes
        if self.area.read(off, RECORD_SIZE) != want:
            self.recover()
            if self._header_bytes != want:
                raise CounterCorrupted(
                    "the current frame header changed behind the counter's back; the counter "
                    "is stopped"
                )

    def _set_bits(self, k: int) -> None:
        """Move `k` bits of the field from the frontier on, in one store of the bytes touched.

        A cut inside that store leaves a subset of those bits moved (some perhaps weak):
        never more units than recorded, and `recover` rewrites every byte past the frontier
        that is not empty, so no weak bit is trusted afterwards.
        """
        base = self._frame_offset(self._header.gen) + HEADER_SIZE
        empty = self._empty(self._header.gen)
        full = empty ^ 0xFF
        field = self._field
        first = i = self._frontier
        if self._flash:  # one program per byte: a torn program touches one byte only
            self._set_bits_bytewise(k, base, empty, full)
            return
        new_bytes = bytearray()
        moved = 0
        empty_byte = bytes((empty,))
        while k > 0:
            old = field[i]
            if old == empty and k >= 8:
                # a run of empty bytes fills whole: count it at once
                most = min(k // 8, self._field_len - i)
                window = field[i : i + most]
                run = most - len(window.lstrip(empty_byte))  # >= 1: field[i] is empty
                new_bytes += bytes([full]) * run
                moved += 8 * run
                k -= 8 * run
                i += run
                continue
            free = ~(old ^ empty) & 0xFF  # bits still at the empty value
            have = POPCOUNT[free]
            if have <= k:
                new = full  # every free bit moves: new ^ old == free
                k -= have
                moved += have
            else:
                new = old ^ _LOWEST[free][k]  # the k lowest free bits move
                moved += k
                k = 0
            new_bytes.append(new)
            i += 1
        data = bytes(new_bytes)
        self.area.store(base + first, data)
        got = self.area.read(base + first, len(data))
        if got != data:
            at = next(j for j in range(len(data)) if got[j] != data[j])
            raise AreaFailed(
                f"counter field byte {first + at} read back {got[at]:#04x}, wanted "
                f"{data[at]:#04x}: the cells are worn; move the counter to fresh memory"
            )
        field[first : first + len(data)] = data
        self._count += moved
        rest = field[self._frontier :]
        self._frontier += len(rest) - len(rest.lstrip(bytes((full,))))  # past the full bytes

    def _set_bits_bytewise(self, k: int, base: int, empty: int, full: int) -> None:
        """Flash: move `k` bits one byte (one program) at a time from the frontier."""
        while k > 0:
            i = self._frontier
            old = self._field[i]
            new = old
            for bit in range(8):
                if k == 0:
                    break
                mask = 1 << bit
                if (old ^ empty) & mask == 0:
                    new ^= mask
                    k -= 1
            self.area.store(base + i, bytes([new]))
            got = self.area.read(base + i, 1)[0]
            if got != new:
                raise AreaFailed(
                    f"counter field byte {i} read back {got:#04x}, wanted {new:#04x}: the cells "
                    "are worn; move the counter to fresh memory"
                )
            self._field[i] = new
            self._count += count_bits(bytes([new ^ old]), 0)
            if new == full:
                while self._frontier < self._field_len and self._field[self._frontier] == full:
                    self._frontier += 1

    def _write_header(self, seq: int, data: bytes) -> None:
        off = self._frame_offset(seq)
        for copy in (0, RECORD_SIZE):
            self.area.store(off + copy, data)
            if self.area.read(off + copy, RECORD_SIZE) != data:
                raise AreaFailed(
                    f"header copy at {off + copy} did not read back as written; the memory "
                    "is failing there"
                )

    def _advance(self, new_base: int) -> None:
        """Make the next frame current with base `new_base` (its field must be empty)."""
        seq = self._header.gen + 1
        off = self._frame_offset(seq)
        data = encode_record(RecordTag.FRAME, seq, new_base)
        if self._flash:
            self.area.erase(off, self.config.frame_size)
        else:
            empty = self._empty(seq)
            field = self.area.read(off + HEADER_SIZE, self._field_len)
            if field.count(empty) != len(field):  # usually none: the last pass left it empty
                for i, byte in enumerate(field):
                    if byte != empty:
                        self.area.store(off + HEADER_SIZE + i, bytes([empty]))
        field = self.area.read(off + HEADER_SIZE, self._field_len)
        if field != bytes([self._empty(seq)]) * self._field_len:
            raise AreaFailed("the next frame's field could not be emptied; the memory is failing")
        self._write_header(seq, data)
        self._header = Record(RecordTag.FRAME, seq, new_base)
        self._header_bytes = data
        self._field = bytearray(field)
        self._count = 0
        self._frontier = 0

    # -- recovery --------------------------------------------------------------------------

    def recover(self, *, tail: bool = True) -> None:
        """Find the newest valid header, repair its twin, refresh the frontier, finish moves.

        On EEPROM the whole field past the frontier is refreshed (`tail`), since the last
        store may have spanned several bytes; `format` skips that on its freshly erased field.
        """
        frames, size = self.config.frames, self.config.frame_size
        best: Record | None = None
        copies: dict[int, tuple[Record | None, Record | None]] = {}
        for f in range(frames):
            raw = self.area.read(f * size, HEADER_SIZE)
            c1 = _decode_header(raw[:RECORD_SIZE])
            c2 = _decode_header(raw[RECORD_SIZE:])
            for c in (c1, c2):
                if c is not None and c.gen % frames != f:
                    raise CounterCorrupted(
                        f"frame {f} holds a header for sequence {c.gen}, which belongs to frame "
                        f"{c.gen % frames}; the counter is stopped"
                    )
            copies[f] = (c1, c2)
            for c in (c1, c2):
                if c is not None and (best is None or c.gen > best.gen):
                    best = c
        if best is None:
            blank = bytes([self._erased]) * HEADER_SIZE
            if all(self.area.read(f * size, HEADER_SIZE) == blank for f in range(frames)):
                raise NotFormatted(f"no counter in {self.area!r}; format it first")
            raise CounterCorrupted("no frame header passes its redundancy code; counter stopped")
        seq = best.gen
        c1, c2 = copies[seq % frames]
        off = self._frame_offset(seq)
        good = encode_record(best.tag, seq, best.value)
        if c1 is not None and c2 is not None and c1.gen == c2.gen == seq and c1 != c2:
            raise CounterCorrupted(
                f"the two header copies of frame sequence {seq} disagree ({c1.value} vs "
                f"{c2.value}); the counter is stopped"
            )
        for copy, rec in ((0, c1), (RECORD_SIZE, c2)):
            if rec is None or rec.gen != seq:
                self.repairs.append(f"rewrote header copy {1 + copy // RECORD_SIZE} of seq {seq}")
                # EEPROM: a plain rewrite. Flash: programming the same record over a torn
                # copy of it completes the bits the cut left out.
                self.area.store(off + copy, good)
                if self.area.read(off + copy, RECORD_SIZE) != good:
                    raise AreaFailed(f"could not repair header copy at {off + copy}")
        self._header = best
        self._header_bytes = good
        if best.tag is RecordTag.DIRECT:
            self._field = bytearray(self._field_len)
            self._count = 0
            self._frontier = 0
            return
        empty = self._empty(seq)
        field = self.area.read(off + HEADER_SIZE, self._field_len)
        front = 0
        while front < self._field_len and field[front] == empty ^ 0xFF:
            front += 1
        if self._flash or not tail:
            for i in (front - 1, front):
                if 0 <= i < self._field_len:
                    refresh(self.area, off + HEADER_SIZE + i, 1)
        else:
            # a torn multi-byte store may have left weak bits in any byte it touched (a weak
            # bit may read empty now): rewrite the last full byte and the whole rest at once
            lo = max(front - 1, 0)
            refresh(self.area, off + HEADER_SIZE + lo, self._field_len - lo)
        self._field = bytearray(self.area.read(off + HEADER_SIZE, self._field_len))
        self._count = count_bits(bytes(self._field), empty)
        self._frontier = 0
        while self._frontier < self._field_len and self._field[self._frontier] == empty ^ 0xFF:
            self._frontier += 1
        if self._count == self.capacity:
            self._advance(best.value + self.capacity)


def _decode_header(raw: bytes) -> Record | None:
    """A frame header of either kind (normal or direct mode), or None."""
    return try_decode(raw, RecordTag.FRAME) or try_decode(raw, RecordTag.DIRECT)
