"""The unit counter the module counts into: the counter core's wear-levelled, tear-safe design.

`sealmeter.counter.LevelledCounter` keeps seed 003's safety (coded headers with a backup,
recovery after a cut at any primitive) while spending every write cycle of its region on a
unit. The module formats it at manufacture and opens it (running its recovery) at every boot.
"""

from __future__ import annotations

from sealmeter.counter import LevelledConfig, LevelledCounter, UnitCounter
from sealmeter.nvm import Region

__all__ = ["COUNTER_CONFIG", "open_counter"]

COUNTER_CONFIG = LevelledConfig(frames=2, frame_size=512)
"""Two frames of 512 bytes: 1 KiB of EEPROM, about 7,800 units per pass round the ring."""


def open_counter(region: Region, *, fresh: bool) -> UnitCounter:
    """Format (`fresh`) or open and recover the unit counter in `region`."""
    if fresh:
        return LevelledCounter.format(region, COUNTER_CONFIG)
    return LevelledCounter.open(region, COUNTER_CONFIG)
