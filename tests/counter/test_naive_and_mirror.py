"""The naive baseline and the counter mirrored over EEPROM and flash."""

from __future__ import annotations

import pytest

from sealmeter.counter import (
    CounterCorrupted,
    Design,
    LevelledConfig,
    MirrorDivergence,
    MirroredCounter,
    NaiveCounter,
    NotFormatted,
    SeedConfig,
)
from sealmeter.nvm import Eeprom, FaultPlan, NorFlash, PowerCut, TearMode

from .conftest import PartFactory


def test_naive_counts_and_reopens(make_part: PartFactory) -> None:
    part = make_part()
    region = part.region("c", 2 * part.geometry.group_size * max(1, 16 // part.geometry.group_size))
    counter = NaiveCounter.format(region, start=3)
    for n in (1, 0, 5, 100):
        counter.record(n)
    assert counter.value == 109
    assert NaiveCounter.open(region).value == 109


def test_naive_blank_and_corrupt() -> None:
    region = Eeprom(64).region("c", 32)
    with pytest.raises(NotFormatted):
        NaiveCounter.open(region)
    NaiveCounter.format(region)
    region.write(0, b"\x00" * 24)
    with pytest.raises(CounterCorrupted):
        NaiveCounter.open(region)


def _mirror_parts() -> tuple[Eeprom, NorFlash]:
    return Eeprom(1024), NorFlash(2048, page_size=256)


CONFIGS = (LevelledConfig(frames=2, frame_size=256), LevelledConfig(frames=2, frame_size=256))


def _open(e: Eeprom, f: NorFlash, **kwargs: object) -> MirroredCounter:
    return MirroredCounter.open(
        e.region("c", 512),
        f.region("c", 512),
        configs=CONFIGS,
        **kwargs,  # type: ignore[arg-type]
    )


def test_mirror_records_on_both_memories() -> None:
    e, f = _mirror_parts()
    m = MirroredCounter.format(e.region("c", 512), f.region("c", 512), configs=CONFIGS, start=5)
    for n in (1, 2, 3000):
        m.record(n)
    assert m.value == 3008
    assert m.primary.value == m.secondary.value == 3008
    assert _open(e, f).value == 3008


def test_cut_between_the_two_sides_is_levelled_up_on_recovery() -> None:
    e, f = _mirror_parts()
    m = MirroredCounter.format(e.region("c", 512), f.region("c", 512), configs=CONFIGS)
    m.record(10)
    f.inject(FaultPlan(cut_at=1, tear=TearMode.NOTHING))  # the flash side loses the next call
    with pytest.raises(PowerCut):
        m.record(7)
    f.power_on()
    f.inject(None)
    again = _open(e, f)
    assert again.value == 17
    assert again.secondary.value == 17
    assert any("levelled" in r for r in again.repairs)


def test_a_side_that_fails_its_codes_is_rebuilt_from_the_other() -> None:
    e, f = _mirror_parts()
    m = MirroredCounter.format(e.region("c", 512), f.region("c", 512), configs=CONFIGS)
    m.record(42)
    e.write(0, b"\x00" * 256)  # wipe the EEPROM side's headers
    again = _open(e, f)
    assert again.value == 42
    assert any("rebuilt the primary" in r for r in again.repairs)
    assert _open(e, f, repair=False).value == 42  # the rebuilt side is valid now


def test_unrepairable_or_too_large_divergence_stops() -> None:
    e, f = _mirror_parts()
    m = MirroredCounter.format(e.region("c", 512), f.region("c", 512), configs=CONFIGS)
    m.record(42)
    e.write(0, b"\x00" * 256)
    with pytest.raises(MirrorDivergence, match="unusable"):
        _open(e, f, repair=False)
    e2, f2 = _mirror_parts()
    m2 = MirroredCounter.format(e2.region("c", 512), f2.region("c", 512), configs=CONFIGS)
    m2.primary.record(500)  # one side alone moves on by more than one call explains
    with pytest.raises(MirrorDivergence, match="differ by 500"):
        _open(e2, f2, max_step=100)
    with pytest.raises(MirrorDivergence, match="before a call"):
        m2.record(1)


def test_mirror_with_the_seed_design() -> None:
    e = Eeprom(1024)
    f = NorFlash(4096, page_size=256)
    configs = (SeedConfig(a_bytes=8), SeedConfig(a_bytes=256))
    m = MirroredCounter.format(
        e.region("c", 512), f.region("c", 1280), design=Design.SEED, configs=configs
    )
    for _ in range(100):
        m.record(3)
    again = MirroredCounter.open(
        e.region("c", 512), f.region("c", 1280), design=Design.SEED, configs=configs
    )
    assert again.value == 300
