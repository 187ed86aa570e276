"""How long a design makes its memory last, against the physical limit of that memory.

`measure_lifetime` formats a counter on a part exactly as large as the design's footprint,
with a small endurance, and records one unit per call until the first cell group exceeds its
endurance. `units` is the value reached before that call.

The physical limit of a memory area, for a counter that must survive any power cut:

- EEPROM: every write cycle of a cell group can record at most one unit, since a unit must be
  made durable before the call returns and each durable change costs a cycle of the group it
  lands in. So the limit is `endurance * groups` units (one unit per write cycle of every cell
  group in the area).
- NOR flash: a programmed bit can only return to the erased state by erasing its page, which
  costs one cycle of that page; so each bit can record at most one unit per erase cycle. The
  limit is `endurance * 8 * bytes` units (one unit per bit of the area per erase cycle).

`fraction_of_limit` = units / limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealmeter.counter.designs import Config, Design, footprint, format_counter
from sealmeter.nvm import Eeprom, FaultPlan, NorFlash, Technology, WearMode

__all__ = ["Lifetime", "measure_lifetime", "physical_limit"]


@dataclass(frozen=True)
class Lifetime:
    """Units recorded before the first cell group passed its endurance, and the limit."""

    technology: Technology
    design: Design
    units: int
    limit: int
    area_bytes: int
    endurance: int

    @property
    def fraction_of_limit(self) -> float:
        """units / limit."""
        return self.units / self.limit


def physical_limit(technology: Technology, area_bytes: int, group_size: int, endurance: int) -> int:
    """The most units any tear-safe counter can record in the area (see module docstring)."""
    if technology is Technology.EEPROM:
        return endurance * (area_bytes // group_size)
    return endurance * 8 * area_bytes


def _part(technology: Technology, size: int, endurance: int, erased: int) -> Eeprom | NorFlash:
    plan = FaultPlan(wear=WearMode.NONE)
    if technology is Technology.EEPROM:
        return Eeprom(size, endurance=endurance, erased=erased, plan=plan, log_limit=8)
    return NorFlash(size, page_size=256, endurance=endurance, erased=erased, plan=plan, log_limit=8)


def measure_lifetime(
    technology: Technology,
    design: Design,
    *,
    endurance: int = 1000,
    config: Config | None = None,
    erased: int = 0xFF,
) -> Lifetime:
    """Record one unit per call on a fresh part until a cell group exceeds `endurance`."""
    probe = _part(technology, 1 << 16, endurance, erased)
    size = footprint(design, probe, config)
    part = _part(technology, size, endurance, erased)
    counter = format_counter(design, part.region("counter", size), config)
    units = counter.value
    record = counter.record
    while part.max_cycles <= endurance:
        units = counter.value
        record(1)
    return Lifetime(
        technology,
        design,
        units,
        physical_limit(technology, size, part.geometry.group_size, endurance),
        size,
        endurance,
    )
