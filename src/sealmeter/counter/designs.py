"""The counter designs by name, so callers (mirror, CLI, benchmark) can pick one."""

from __future__ import annotations

import enum

from sealmeter.counter.base import UnitCounter
from sealmeter.counter.levelled import LevelledConfig, LevelledCounter
from sealmeter.counter.naive import NaiveConfig, NaiveCounter
from sealmeter.counter.seed import SeedConfig, SeedCounter
from sealmeter.nvm import NvmDevice

__all__ = ["Config", "Design", "footprint", "format_counter", "open_counter"]

Config = SeedConfig | LevelledConfig | NaiveConfig


class Design(enum.Enum):
    """The counter designs: baseline, the seed's literal method, and ours."""

    NAIVE = "naive"
    SEED = "seed003"
    LEVELLED = "levelled"


def _config(design: Design, config: Config | None) -> Config:
    defaults: dict[Design, Config] = {
        Design.NAIVE: NaiveConfig(),
        Design.SEED: SeedConfig(),
        Design.LEVELLED: LevelledConfig(),
    }
    chosen = config if config is not None else defaults[design]
    if type(chosen) is not type(defaults[design]):
        from sealmeter.counter.errors import CounterUsageError

        raise CounterUsageError(
            f"design {design.value} takes a {type(defaults[design]).__name__}, "
            f"not a {type(chosen).__name__}"
        )
    return chosen


def format_counter(
    design: Design, area: NvmDevice, config: Config | None = None, start: int = 0
) -> UnitCounter:
    """Format a counter of `design` over `area`, starting at `start`."""
    cfg = _config(design, config)
    if isinstance(cfg, SeedConfig):
        return SeedCounter.format(area, cfg, start)
    if isinstance(cfg, LevelledConfig):
        return LevelledCounter.format(area, cfg, start)
    return NaiveCounter.format(area, cfg, start)


def open_counter(design: Design, area: NvmDevice, config: Config | None = None) -> UnitCounter:
    """Open (and recover) a counter of `design` over `area`."""
    cfg = _config(design, config)
    if isinstance(cfg, SeedConfig):
        return SeedCounter.open(area, cfg)
    if isinstance(cfg, LevelledConfig):
        return LevelledCounter.open(area, cfg)
    return NaiveCounter.open(area, cfg)


def footprint(design: Design, area: NvmDevice, config: Config | None = None) -> int:
    """Bytes of `area` a counter of `design` occupies."""
    return _config(design, config).footprint(area)
