"""A counter mirrored over two memories of different technologies (seed 000's two NVRAMs).

Each call records into the primary (e.g. EEPROM), then the secondary (e.g. NOR flash). A power
cut between the two leaves them apart by at most that call's units; `recover()` (run by `open`)
brings the lower side up to the higher, which is a legal value of the interrupted call, so
nothing is lost or invented. A side that fails its redundancy codes is rebuilt from the other
(`repair=True`, the default) and the repair is listed in `repairs`; a gap larger than
`max_step` units (more than one call can explain) stops the counter with `MirrorDivergence`.
"""

from __future__ import annotations

from sealmeter.counter.base import UnitCounter, check_units
from sealmeter.counter.designs import Config, Design, format_counter, open_counter
from sealmeter.counter.errors import CounterError, CounterUsageError, MirrorDivergence
from sealmeter.nvm import NvmDevice

__all__ = ["MirroredCounter"]


class MirroredCounter:
    """Two counters of one design on two areas, kept equal; `value` is the agreed total."""

    def __init__(
        self,
        primary: NvmDevice,
        secondary: NvmDevice,
        *,
        design: Design = Design.LEVELLED,
        configs: tuple[Config | None, Config | None] = (None, None),
        max_step: int = 1 << 20,
    ) -> None:
        """Bind to the two areas without reading them; use `format` or `open`."""
        if max_step < 1:
            raise CounterUsageError(f"max_step={max_step} must be >= 1")
        self.areas = (primary, secondary)
        self.design = design
        self.configs = configs
        self.max_step = max_step
        self.sides: list[UnitCounter] = []
        self.repairs: list[str] = []

    @classmethod
    def format(
        cls,
        primary: NvmDevice,
        secondary: NvmDevice,
        *,
        design: Design = Design.LEVELLED,
        configs: tuple[Config | None, Config | None] = (None, None),
        start: int = 0,
        max_step: int = 1 << 20,
    ) -> MirroredCounter:
        """Format both sides at `start`."""
        self = cls(primary, secondary, design=design, configs=configs, max_step=max_step)
        self.sides = [
            format_counter(design, area, cfg, start)
            for area, cfg in zip(self.areas, configs, strict=True)
        ]
        return self

    @classmethod
    def open(
        cls,
        primary: NvmDevice,
        secondary: NvmDevice,
        *,
        design: Design = Design.LEVELLED,
        configs: tuple[Config | None, Config | None] = (None, None),
        max_step: int = 1 << 20,
        repair: bool = True,
    ) -> MirroredCounter:
        """Open both sides, then detect and repair a divergence."""
        self = cls(primary, secondary, design=design, configs=configs, max_step=max_step)
        self._reopen(repair)
        return self

    @property
    def primary(self) -> UnitCounter:
        """The counter on the primary area."""
        return self.sides[0]

    @property
    def secondary(self) -> UnitCounter:
        """The counter on the secondary area."""
        return self.sides[1]

    @property
    def value(self) -> int:
        """The total both sides agree on."""
        return self.sides[0].value

    def record(self, n: int) -> int:
        """Record `n` units on the primary, then on the secondary; return the total."""
        check_units(n)
        a, b = self.sides
        if a.value != b.value:
            raise MirrorDivergence(
                f"mirror sides differ ({a.value} vs {b.value}) before a call; call recover()"
            )
        a.record(n)
        b.record(n)
        return self.value

    def recover(self) -> None:
        """Recover both sides after a power cut and level them."""
        self._reopen(repair=True)

    def _reopen(self, repair: bool) -> None:
        opened: list[UnitCounter | None] = []
        errors: list[str] = []
        for area, cfg in zip(self.areas, self.configs, strict=True):
            try:
                opened.append(open_counter(self.design, area, cfg))
            except CounterError as exc:
                opened.append(None)
                errors.append(str(exc))
        first, second = opened
        if first is None and second is None:
            raise MirrorDivergence(f"both mirror sides are unusable: {'; '.join(errors)}")
        if first is None or second is None:
            if not repair:
                raise MirrorDivergence(f"one mirror side is unusable: {errors[0]}")
            good = first if first is not None else second
            assert good is not None
            bad = 0 if first is None else 1
            rebuilt = format_counter(self.design, self.areas[bad], self.configs[bad], good.value)
            self.repairs.append(
                f"rebuilt the {('primary', 'secondary')[bad]} side at {good.value} ({errors[0]})"
            )
            first, second = (rebuilt, good) if bad == 0 else (good, rebuilt)
        gap = first.value - second.value
        if abs(gap) > self.max_step:
            raise MirrorDivergence(
                f"mirror sides differ by {abs(gap)} units ({first.value} vs {second.value}), more "
                f"than one call explains (max_step={self.max_step}); inspect both memories"
            )
        if gap > 0:
            second.record(gap)
            self.repairs.append(f"levelled the secondary side up by {gap}")
        elif gap < 0:
            first.record(-gap)
            self.repairs.append(f"levelled the primary side up by {-gap}")
        self.sides = [first, second]
