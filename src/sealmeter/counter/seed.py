"""The unit counter of seed 003, claims 1 to 12, made safe against torn writes.

Layout over one region (each area on whole cell groups / flash pages of its own):

    A   `bit_area`    one bit per unit, used cyclically; value = B + bits set in A (claim 1)
    B   `value_area`  coded total with redundancy code CR (a 12-byte `Record`)
    SB  `backup_area` backup of B with its code SCR
    C2  `updating`    update-in-progress indicator (claims 5, 8, 12)
    C1  `failed_a`    "area A failed" indicator (claims 11, 12)

`record(n)` follows claim 3: when A has L >= n free bits, n bits are set; otherwise L bits are
set and the total moves into B through the update of claim 8 (C2 on, SB <- B, B <- new, erase
A, C2 off). Every call first runs the state check of claim 7: C2 present -> recovery (claims 9,
10); codes invalid -> `CounterCorrupted`, the counter stops. After C1 (claim 11) A is ignored and
every call updates B directly.

What the seed leaves open, and what goes wrong under tearing, and what we do:

1. The seed's recovery tells its five cases apart "by reading the content of each area". Before
   SB is written and after B is written, B and SB look alike (two valid codes, B >= SB), so
   case 1 and case 5 cannot be told apart and the wrong choice double-counts A. We store a
   24-bit generation in each record and make C2 itself a coded record naming the generation of
   B when the update began and the kind of update (fold A, retire A for C1, direct in C1 mode).
2. A torn write can leave weak bits that read right once and wrong later. Recovery therefore
   rewrites SB and B in cases 1 and 4 (the seed's case 4 reuses case 2's steps, which would
   trust an SB that may have been torn while it was being copied), refreshes B before erasing
   A in case 3, and `open` rewrites the A bytes at the frontier and re-clears C2.
3. The seed erases A once B holds the new value. An A that is part erased while C2 is set is
   how we tell case 3 (B written, A untouched: refresh B, erase A) from case 5 (A erase under
   way: finish it). Erasing A is never undone, so B is never recomputed from a part-erased A.
4. Claim 11 switches to C1 when A fails, but setting C1 before folding A into B would drop the
   units still in A. We fold A into B with an update whose last step sets C1 instead of
   erasing A, so the switch itself is tear-safe and counting goes on without loss.
5. Every write is read back; a mismatch in A switches to C1, elsewhere it stops the counter
   (`AreaFailed`). A torn C2 (neither clear nor a valid record) only ever comes from setting or
   clearing it; in both cases B + A is consistent, so recovery just clears it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sealmeter.counter._area import (
    align,
    clear,
    count_bits,
    is_flash,
    refresh,
    rewrite,
)
from sealmeter.counter.base import check_units
from sealmeter.counter.codec import (
    RECORD_SIZE,
    Record,
    RecordTag,
    encode_record,
    try_decode,
)
from sealmeter.counter.errors import (
    AreaFailed,
    CounterCorrupted,
    CounterUsageError,
    NotFormatted,
)
from sealmeter.nvm import DeviceFault, NvmDevice, ProgramLimitExceeded, ReadFailed

__all__ = [
    "RECOVERY_STEPS",
    "RecoveryCase",
    "SeedConfig",
    "SeedCounter",
    "SeedLayout",
    "UpdateKind",
    "UpdateStep",
]

_C1_SIZE = 4
_READ_TRIES = 3


class UpdateKind(enum.IntEnum):
    """What an update of B does with area A (stored in the C2 record)."""

    FOLD = 1
    """Claim 8: A was filled; its bits go into B and A is erased."""
    RETIRE = 2
    """Claim 11: A failed; its bits go into B and C1 is set instead of erasing A."""
    DIRECT = 3
    """C1 mode: the units go straight into B; A is not touched."""


class UpdateStep(enum.Enum):
    """The steps of the update of claim 8 (and of the recovery that resumes it)."""

    SET_C2 = "set C2"
    BACKUP_SB = "copy B into SB"
    WRITE_B = "write the new value into B"
    REFRESH_B = "rewrite B with its own value"
    FINISH_A = "erase A (or set C1)"
    CLEAR_C2 = "clear C2"


class RecoveryCase(enum.Enum):
    """Where an interrupted update stopped (claim 10), as recovery determines it."""

    CASE_1 = "1: during the update of SB (B still old)"
    CASE_2 = "2: during the update of B (B unreadable)"
    CASE_3 = "3: B updated, A not yet erased"
    CASE_4 = "4: SB updated, B not yet written"
    CASE_5 = "5: B updated, A erase under way or done"
    TORN_FLAG = "C2 torn while being set or cleared"


UPDATE_STEPS: tuple[UpdateStep, ...] = (
    UpdateStep.SET_C2,
    UpdateStep.BACKUP_SB,
    UpdateStep.WRITE_B,
    UpdateStep.FINISH_A,
    UpdateStep.CLEAR_C2,
)
"""Claim 8, in order."""

RECOVERY_STEPS: dict[RecoveryCase, tuple[UpdateStep, ...]] = {
    RecoveryCase.CASE_1: (
        UpdateStep.BACKUP_SB,
        UpdateStep.WRITE_B,
        UpdateStep.FINISH_A,
        UpdateStep.CLEAR_C2,
    ),
    RecoveryCase.CASE_4: (
        UpdateStep.BACKUP_SB,
        UpdateStep.WRITE_B,
        UpdateStep.FINISH_A,
        UpdateStep.CLEAR_C2,
    ),
    RecoveryCase.CASE_2: (UpdateStep.WRITE_B, UpdateStep.FINISH_A, UpdateStep.CLEAR_C2),
    RecoveryCase.CASE_3: (UpdateStep.REFRESH_B, UpdateStep.FINISH_A, UpdateStep.CLEAR_C2),
    RecoveryCase.CASE_5: (UpdateStep.FINISH_A, UpdateStep.CLEAR_C2),
    RecoveryCase.TORN_FLAG: (UpdateStep.CLEAR_C2,),
}
"""Claim 10: the steps each case runs to bring the counter back to a definite state."""


@dataclass(frozen=True)
class SeedConfig:
    """Sizes of the seed counter: `a_bytes` bytes of area A (8 units per byte per pass)."""

    a_bytes: int = 64

    def __post_init__(self) -> None:
        """Reject an empty area A."""
        if self.a_bytes < 1:
            raise CounterUsageError(f"a_bytes={self.a_bytes} must be at least 1")

    def layout(self, area: NvmDevice) -> SeedLayout:
        """Where each area lies in `area`, each on whole cell groups (flash pages)."""
        a_len = align(self.a_bytes, area)
        rec = align(RECORD_SIZE, area)
        c1 = align(_C1_SIZE, area)
        layout = SeedLayout(
            a=0,
            a_len=self.a_bytes,
            b=a_len,
            sb=a_len + rec,
            c2=a_len + 2 * rec,
            c1=a_len + 3 * rec,
            size=a_len + 3 * rec + c1,
        )
        if layout.size > area.geometry.size:
            raise CounterUsageError(
                f"the seed counter with a_bytes={self.a_bytes} needs {layout.size} bytes, the "
                f"region has {area.geometry.size}; use a bigger region or a smaller area A"
            )
        return layout

    def footprint(self, area: NvmDevice) -> int:
        """Bytes of `area` this configuration occupies."""
        a_len = align(self.a_bytes, area)
        return a_len + 3 * align(RECORD_SIZE, area) + align(_C1_SIZE, area)


@dataclass(frozen=True)
class SeedLayout:
    """Offsets of A, B, SB, C2, C1 inside the region, and the total size used."""

    a: int
    a_len: int
    b: int
    sb: int
    c2: int
    c1: int
    size: int


class SeedCounter:
    """Seed 003's counter: bit area A, coded B with backup SB, flags C1/C2, full recovery.

    Build one with `SeedCounter.format(area)` once, then `SeedCounter.open(area)` after every
    power-up. `record(n)` may raise `PowerCut`; then power the part on and call `recover()` (or
    open again).
    """

    def __init__(self, area: NvmDevice, config: SeedConfig) -> None:
        """Bind to `area` without reading it; use `format` or `open` instead."""
        self.area = area
        self.config = config
        self.layout = config.layout(area)
        geo = area.geometry
        self._erased = geo.erased
        self._full = geo.erased ^ 0xFF
        self._flash = is_flash(area)
        self._a = bytearray(self.layout.a_len)
        self._count = 0
        self._frontier = 0
        self._b = Record(RecordTag.VALUE, 1, 0)
        self._c1 = False
        self.last_recovery: RecoveryCase | None = None

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def format(
        cls, area: NvmDevice, config: SeedConfig | None = None, start: int = 0
    ) -> SeedCounter:
        """Erase the counter's areas and start counting at `start`."""
        self = cls(area, config or SeedConfig())
        lay = self.layout
        check_units(start)
        clear(area, lay.a, lay.b - lay.a, "area A")
        clear(area, lay.c2, align(RECORD_SIZE, area), "area C2")
        clear(area, lay.c1, lay.size - lay.c1, "area C1")
        rewrite(area, lay.sb, encode_record(RecordTag.VALUE, 0, start), "area SB")
        rewrite(area, lay.b, encode_record(RecordTag.VALUE, 1, start), "area B")
        self.recover()
        return self

    @classmethod
    def open(cls, area: NvmDevice, config: SeedConfig | None = None) -> SeedCounter:
        """Read a formatted counter, run the claim-7 check and any claim-9/10 recovery."""
        self = cls(area, config or SeedConfig())
        self.recover()
        return self

    # -- public state ----------------------------------------------------------------------

    @property
    def value(self) -> int:
        """B + bits set in A (claim 1); B alone once A has failed (C1)."""
        return self._b.value + (0 if self._c1 else self._count)

    @property
    def failed_a(self) -> bool:
        """Whether C1 is set: area A failed and units go straight into B (claim 11)."""
        return self._c1

    @property
    def capacity(self) -> int:
        """Units area A holds per pass."""
        return 8 * self.layout.a_len

    # -- recording -------------------------------------------------------------------------

    def record(self, n: int) -> int:
        """Record `n` units (claims 3, 4, 7, 8, 11); return the new total."""
        check_units(n)
        self._state_check()
        if n == 0:
            return self.value
        before = self.value
        if self._c1:
            self._update(UpdateKind.DIRECT, self._b.value + n)
            return self.value
        free = self.capacity - self._count
        try:
            if free >= n:
                self._set_bits(n)
                return self.value
            self._set_bits(free)
        except (AreaFailed, DeviceFault, ProgramLimitExceeded):
            self._retire(before + n)
            return self.value
        self._update(UpdateKind.FOLD, self._b.value + self.capacity + (n - free))
        return self.value

    def _set_bits(self, k: int) -> None:
        """Set `k` more unit bits in A, one byte write each, verifying every byte."""
        lay = self.layout
        while k > 0:
            i = self._frontier
            old = self._a[i]
            new = old
            for bit in range(8):
                if k == 0:
                    break
                mask = 1 << bit
                if (old ^ self._erased) & mask == 0:
                    new ^= mask
                    k -= 1
            self.area.store(lay.a + i, bytes([new]))
            got = self.area.read(lay.a + i, 1)[0]
            if got != new:
                raise AreaFailed(f"area A byte {i} read back {got:#04x}, wanted {new:#04x}")
            self._a[i] = new
            self._count += count_bits(bytes([new]), self._erased) - count_bits(
                bytes([old]), self._erased
            )
            if new == self._full:
                self._frontier = self._next_frontier(i)

    def _next_frontier(self, start: int) -> int:
        i = start
        while i < len(self._a) and self._a[i] == self._full:
            i += 1
        return i

    def _retire(self, target: int) -> None:
        """A failed: fold it into B with an update whose last step sets C1 (claim 11)."""
        self._update(UpdateKind.RETIRE, target)

    # -- update of claim 8 -----------------------------------------------------------------

    def _update(self, kind: UpdateKind, new_value: int) -> None:
        g = self._b.gen
        base = self._b
        for step in UPDATE_STEPS:
            self._run(step, kind, g, base.value, new_value)
        self._reload()

    def _run(self, step: UpdateStep, kind: UpdateKind, g: int, old: int, new: int) -> None:
        """Execute one step of an update of generation `g` from `old` to `new`."""
        lay, area = self.layout, self.area
        if step is UpdateStep.SET_C2:
            data = encode_record(RecordTag.UPDATE, g, int(kind))
            area.store(lay.c2, data)
            if area.read(lay.c2, RECORD_SIZE) != data:
                raise AreaFailed("area C2 did not read back as written; the counter is stopped")
        elif step is UpdateStep.BACKUP_SB:
            rewrite(area, lay.sb, encode_record(RecordTag.VALUE, g, old), "area SB")
        elif step in (UpdateStep.WRITE_B, UpdateStep.REFRESH_B):
            rewrite(area, lay.b, encode_record(RecordTag.VALUE, g + 1, new), "area B")
        elif step is UpdateStep.FINISH_A:
            if kind is UpdateKind.FOLD:
                clear(area, lay.a, lay.a_len, "area A")
            elif kind is UpdateKind.RETIRE:
                flag = bytes([self._full]) * _C1_SIZE
                area.store(lay.c1, flag)
                if area.read(lay.c1, _C1_SIZE) != flag:
                    raise AreaFailed("area C1 did not read back as written; the counter stopped")
        else:
            clear(area, lay.c2, RECORD_SIZE, "area C2")

    # -- state check (claim 7) and recovery (claims 9, 10) ----------------------------------

    def _c2_state(self) -> tuple[bool, Record | None]:
        """(is clear, record if valid) of C2."""
        raw = self.area.read(self.layout.c2, RECORD_SIZE)
        if raw == bytes([self._erased]) * RECORD_SIZE:
            return True, None
        return False, try_decode(raw, RecordTag.UPDATE)

    def _state_check(self) -> None:
        """Claim 7: C2 present -> recovery; otherwise codes must be valid and agree."""
        clear_c2, _ = self._c2_state()
        if not clear_c2:
            self._recover_update()
            self._reload()
        b, sb = self._read_values()
        if b is None or sb is None:
            which = "B" if b is None else "SB"
            raise CounterCorrupted(
                f"area {which} fails its redundancy code with no update in progress: the "
                "counter is stopped; restore it from the last confirmed reading"
            )
        if b.gen != sb.gen + 1 or b.value < sb.value:
            raise CounterCorrupted(
                f"areas B (gen {b.gen}, {b.value}) and SB (gen {sb.gen}, {sb.value}) disagree; "
                "the counter is stopped"
            )
        if b != self._b:
            raise CounterCorrupted(
                f"area B changed behind the counter's back (now {b.value}, expected "
                f"{self._b.value}); the counter is stopped"
            )

    def _read_values(self) -> tuple[Record | None, Record | None]:
        lay = self.layout
        b = try_decode(self.area.read(lay.b, RECORD_SIZE), RecordTag.VALUE)
        sb = try_decode(self.area.read(lay.sb, RECORD_SIZE), RecordTag.VALUE)
        return b, sb

    def _read_a(self) -> bytes:
        for attempt in range(_READ_TRIES):
            try:
                return self.area.read(self.layout.a, self.layout.a_len)
            except ReadFailed:
                if attempt == _READ_TRIES - 1:
                    raise AreaFailed(
                        "area A cannot be read, so the units it holds are unknown; the "
                        "counter is stopped (read the memory image for forensics)"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _c1_raw(self) -> bytes:
        return self.area.read(self.layout.c1, _C1_SIZE)

    def recover(self) -> None:
        """Bring every area to a definite state and reload the counter (runs at `open`).

        Finishes an interrupted update (claims 9, 10), re-clears C2, refreshes the A bytes a
        torn bit write may have left weak, then runs the claim-7 check.
        """
        self.last_recovery = None
        lay = self.layout
        clear_c2, _ = self._c2_state()
        if clear_c2:
            b, sb = self._read_values()
            blank = bytes([self._erased]) * RECORD_SIZE
            if b is None and sb is None and self.area.read(lay.b, RECORD_SIZE) == blank:
                raise NotFormatted(
                    f"no counter in {self.area!r}: areas B and SB are blank; format it first"
                )
            clear(self.area, lay.c2, RECORD_SIZE, "area C2")
        else:
            self._recover_update()
        c1 = self._c1_raw()
        if c1 not in (bytes([self._erased]) * _C1_SIZE, bytes([self._full]) * _C1_SIZE):
            raise CounterCorrupted(
                f"flag C1 reads {c1.hex()}, neither set nor clear, with no update in progress; "
                "the counter is stopped"
            )
        if c1[0] == self._erased:
            a = self._read_a()
            front = self._next_frontier_of(a)
            for i in (front - 1, front):
                if 0 <= i < lay.a_len:
                    refresh(self.area, lay.a + i, 1)
        self._reload()
        self._state_check()

    def _next_frontier_of(self, a: bytes) -> int:
        i = 0
        while i < len(a) and a[i] == self._full:
            i += 1
        return i

    def _recover_update(self) -> None:
        """C2 is not clear: determine the case of claim 10 and run its steps."""
        lay = self.layout
        _, c2 = self._c2_state()
        if c2 is None:
            case = RecoveryCase.TORN_FLAG
            kind, g, old, new = UpdateKind.FOLD, 0, 0, 0
        else:
            if c2.value not in {int(k) for k in UpdateKind}:
                raise CounterCorrupted(f"flag C2 names an unknown update kind {c2.value}")
            kind, g = UpdateKind(c2.value), c2.gen
            b, sb = self._read_values()
            c1_set = self._c1_raw() != bytes([self._erased]) * _C1_SIZE
            a_bits = 0 if kind is UpdateKind.DIRECT else count_bits(self._read_a(), self._erased)
            if b is not None and b.gen == g:
                case = (
                    RecoveryCase.CASE_4
                    if sb is not None and sb.gen == g and sb.value == b.value
                    else RecoveryCase.CASE_1
                )
                old, new = b.value, b.value + a_bits
            elif b is None:
                if sb is None or sb.gen != g:
                    raise CounterCorrupted(
                        "an update was interrupted while writing B, and backup SB is not valid "
                        "for it: the total is lost; the counter is stopped"
                    )
                case, old, new = RecoveryCase.CASE_2, sb.value, sb.value + a_bits
            elif b.gen == g + 1:
                started = (kind is UpdateKind.FOLD and a_bits < 8 * lay.a_len) or (
                    kind is UpdateKind.RETIRE and c1_set
                )
                case = RecoveryCase.CASE_5 if started else RecoveryCase.CASE_3
                old, new = b.value, b.value
            else:
                raise CounterCorrupted(
                    f"flag C2 is for generation {g} but B holds generation {b.gen}; the counter "
                    "is stopped"
                )
        self.last_recovery = case
        for step in RECOVERY_STEPS[case]:
            self._run(step, kind, g, old, new)

    def _reload(self) -> None:
        """Read B, C1 and A into the RAM copy (after format, open, recovery or update)."""
        b, _ = self._read_values()
        if b is None:
            raise CounterCorrupted("area B fails its redundancy code; the counter is stopped")
        self._b = b
        self._c1 = self._c1_raw() == bytes([self._full]) * _C1_SIZE
        if self._c1:
            self._a = bytearray(self.layout.a_len)
            self._count = 0
            self._frontier = 0
            return
        self._a = bytearray(self._read_a())
        self._count = count_bits(bytes(self._a), self._erased)
        self._frontier = self._next_frontier(0)
