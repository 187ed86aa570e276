"""The naive counter: rewrite the whole coded total for every call (the baseline).

Two slots hold a coded total with a generation; each call writes the next generation into the
older slot, so a torn write leaves the newer slot intact. `open` rewrites the newest total into
the other slot, so a total that was torn yet read valid once becomes definite. Every unit costs
a write of a whole record (EEPROM) or an erase of a whole page (flash): this is the wear the
seed's bit area exists to avoid.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealmeter.counter._area import align, rewrite
from sealmeter.counter.base import check_units
from sealmeter.counter.codec import RECORD_SIZE, Record, RecordTag, encode_record, try_decode
from sealmeter.counter.errors import CounterCorrupted, CounterUsageError, NotFormatted
from sealmeter.nvm import NvmDevice

__all__ = ["NaiveConfig", "NaiveCounter"]


@dataclass(frozen=True)
class NaiveConfig:
    """The naive counter has no sizes to choose; two record slots."""

    def footprint(self, area: NvmDevice) -> int:
        """Bytes of `area` this counter occupies (two slots on whole groups/pages)."""
        return 2 * align(RECORD_SIZE, area)


class NaiveCounter:
    """Rewrites the total on every call; tear-safe through two generation-numbered slots."""

    def __init__(self, area: NvmDevice, config: NaiveConfig | None = None) -> None:
        """Bind to `area` without reading it; use `format` or `open` instead."""
        self.area = area
        self.config = config or NaiveConfig()
        self._slot = align(RECORD_SIZE, area)
        if 2 * self._slot > area.geometry.size:
            raise CounterUsageError(f"the naive counter needs {2 * self._slot} bytes")
        self._rec = Record(RecordTag.TOTAL, 0, 0)

    @classmethod
    def format(
        cls, area: NvmDevice, config: NaiveConfig | None = None, start: int = 0
    ) -> NaiveCounter:
        """Write generation 0 with `start` into slot 0 and an erased slot 1."""
        self = cls(area, config)
        check_units(start)
        area.erase(0, 2 * self._slot)
        rewrite(area, 0, encode_record(RecordTag.TOTAL, 0, start), "naive slot 0")
        self.recover()
        return self

    @classmethod
    def open(cls, area: NvmDevice, config: NaiveConfig | None = None) -> NaiveCounter:
        """Load the newest valid total and make it definite."""
        self = cls(area, config)
        self.recover()
        return self

    @property
    def value(self) -> int:
        """The newest valid total."""
        return self._rec.value

    def _write(self, gen: int, value: int) -> None:
        data = encode_record(RecordTag.TOTAL, gen, value)
        rewrite(self.area, (gen % 2) * self._slot, data, f"naive slot {gen % 2}")
        self._rec = Record(RecordTag.TOTAL, gen, value)

    def record(self, n: int) -> int:
        """Write total + n as the next generation; return it."""
        check_units(n)
        cur = self.area.read((self._rec.gen % 2) * self._slot, RECORD_SIZE)
        if cur != encode_record(RecordTag.TOTAL, self._rec.gen, self._rec.value):
            raise CounterCorrupted("the naive counter's total changed behind its back; stopped")
        if n:
            self._write(self._rec.gen + 1, self._rec.value + n)
        return self.value

    def recover(self) -> None:
        """Take the newest valid slot and copy it forward into the other slot."""
        recs = [
            try_decode(self.area.read(i * self._slot, RECORD_SIZE), RecordTag.TOTAL)
            for i in range(2)
        ]
        valid = [r for i, r in enumerate(recs) if r is not None and r.gen % 2 == i]
        if not valid:
            blank = bytes([self.area.geometry.erased]) * RECORD_SIZE
            if all(self.area.read(i * self._slot, RECORD_SIZE) == blank for i in range(2)):
                raise NotFormatted(f"no counter in {self.area!r}; format it first")
            raise CounterCorrupted("neither slot of the naive counter is valid; stopped")
        best = max(valid, key=lambda r: r.gen)
        self._write(best.gen + 1, best.value)
