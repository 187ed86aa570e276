"""The memory technologies the simulator models."""

from __future__ import annotations

import enum

__all__ = ["Technology"]


class Technology(enum.Enum):
    """The two memory technologies a security module carries (seed 000: two NVRAMs)."""

    EEPROM = "eeprom"
    NOR_FLASH = "nor_flash"
