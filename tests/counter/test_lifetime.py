"""Lifetime against the physical limit (small endurance, so it runs in a second)."""

from __future__ import annotations

import pytest

from sealmeter.counter import Design, LevelledConfig
from sealmeter.counter.lifetime import measure_lifetime, physical_limit
from sealmeter.nvm import Technology


def test_physical_limits() -> None:
    assert physical_limit(Technology.EEPROM, 1024, 1, 1000) == 1_024_000
    assert physical_limit(Technology.EEPROM, 1024, 4, 1000) == 256_000
    assert physical_limit(Technology.NOR_FLASH, 1024, 256, 10) == 81_920


def test_eeprom_levelled_design_reaches_ninety_percent_of_the_limit() -> None:
    # default sizes; 200 cycles = 24 whole passes of 8 writes after format's erase and refresh
    naive = measure_lifetime(Technology.EEPROM, Design.NAIVE, endurance=200)
    seed = measure_lifetime(Technology.EEPROM, Design.SEED, endurance=200)
    best = measure_lifetime(Technology.EEPROM, Design.LEVELLED, endurance=200)
    assert naive.fraction_of_limit < seed.fraction_of_limit < best.fraction_of_limit
    assert best.fraction_of_limit >= 0.90
    assert seed.fraction_of_limit < 0.9  # the literal method spends writes erasing A


def test_small_frames_lose_the_header_share() -> None:
    small = measure_lifetime(
        Technology.EEPROM, Design.LEVELLED, endurance=40, config=LevelledConfig(2, 64)
    )
    assert small.fraction_of_limit < (64 - 24) / 64


@pytest.mark.parametrize("erased", [0xFF, 0x00])
def test_flash_levelled_design_uses_nearly_every_bit_per_erase(erased: int) -> None:
    life = measure_lifetime(Technology.NOR_FLASH, Design.LEVELLED, endurance=3, erased=erased)
    assert life.fraction_of_limit >= 0.6  # format spends one of only three cycles
    assert life.units > 0
