"""The exhaustive power-cut harness over every design, technology and polarity.

The default run covers a short call sequence with every cut, torn subsets, weak bits and
second cuts during recovery; the `slow` run covers a longer sequence. A deliberately broken
recovery table must make the harness report violations, so a green run means something.
"""

from __future__ import annotations

import random

import pytest

from sealmeter.counter import Design, LevelledConfig, RecoveryCase, SeedConfig, UpdateStep
from sealmeter.counter import seed as seed_module
from sealmeter.counter.harness import random_calls, run_tear_harness
from sealmeter.nvm import Eeprom, NorFlash

from .conftest import PARTS, PartFactory

CONFIGS = {
    Design.NAIVE: None,
    Design.SEED: SeedConfig(a_bytes=2),
    Design.LEVELLED: LevelledConfig(frames=2, frame_size=64),
}


@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
def test_no_violation_under_every_single_cut(design: Design, make_part: PartFactory) -> None:
    calls = random_calls(random.Random(1), 25, big=20)
    report = run_tear_harness(make_part, design, calls, config=CONFIGS[design], seed=1)
    assert report.violations == 0, report.failures
    assert report.cuts >= report.primitives  # at least one cut per primitive


@pytest.mark.parametrize("design", [Design.SEED, Design.LEVELLED], ids=lambda d: d.value)
@pytest.mark.parametrize("part", ["eeprom-ff", "flash-00"])
def test_no_violation_with_a_second_cut_during_recovery(design: Design, part: str) -> None:
    calls = [8, 1, 17, 3, 20, 1]
    report = run_tear_harness(
        PARTS[part], design, calls, config=CONFIGS[design], seed=2, double_cuts=True
    )
    assert report.violations == 0, report.failures
    assert report.cuts > 2 * report.primitives


def test_the_harness_catches_a_broken_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = dict(seed_module.RECOVERY_STEPS)
    broken[RecoveryCase.CASE_3] = (UpdateStep.CLEAR_C2,)  # forget to erase A: A counted twice
    monkeypatch.setattr(seed_module, "RECOVERY_STEPS", broken)
    report = run_tear_harness(
        lambda: Eeprom(256), Design.SEED, [16, 1, 16, 1], config=CONFIGS[Design.SEED], seed=3
    )
    assert report.violations > 0
    assert any("outside" in f for f in report.failures)


def test_exhaustive_tear_subsets_are_used_for_small_writes() -> None:
    # record(1) on the levelled counter flips one bit per write: both tears of it are covered
    report = run_tear_harness(
        lambda: Eeprom(256), Design.LEVELLED, [1] * 10, config=CONFIGS[Design.LEVELLED], seed=4
    )
    assert report.violations == 0
    assert report.cuts >= 2 * report.primitives


@pytest.mark.slow
@pytest.mark.parametrize("design", list(Design), ids=lambda d: d.value)
@pytest.mark.parametrize("flash", [False, True], ids=["eeprom", "flash"])
def test_long_sequences_with_double_cuts(design: Design, flash: bool) -> None:
    def make() -> Eeprom | NorFlash:
        if flash:
            return NorFlash(1024, page_size=64, erased=0x00, log_limit=64)
        return Eeprom(256, log_limit=64)

    calls = random_calls(random.Random(9), 50)
    report = run_tear_harness(make, design, calls, config=CONFIGS[design], seed=9, double_cuts=True)
    assert report.violations == 0, report.failures
    assert report.cuts >= 2 * report.primitives


@pytest.mark.slow
@pytest.mark.parametrize("design", [Design.SEED, Design.LEVELLED], ids=lambda d: d.value)
def test_default_sizes_with_calls_that_wrap_the_areas(design: Design) -> None:
    calls = random_calls(random.Random(12), 14, big=700)
    report = run_tear_harness(lambda: Eeprom(2048, log_limit=256), design, calls, seed=12)
    assert report.violations == 0, report.failures
    assert report.cuts >= 2 * report.primitives
