"""Energy to units with the remainder carried exactly; the maximum-demand register."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.metering import DemandRegister, MeteringError, UnitConverter

energies = st.one_of(
    st.fractions(min_value=0, max_value=50, max_denominator=10**9),
    st.floats(0, 50, allow_nan=False, allow_infinity=False),
    st.integers(0, 50),
)


@settings(max_examples=200, deadline=None)
@given(increments=st.lists(energies, max_size=60), unit=st.sampled_from([1, "0.1", 1000, "2.5"]))
def test_units_and_remainder_equal_the_exact_total(increments: list[object], unit: object) -> None:
    recorded: list[int] = []
    conv = UnitConverter(unit, record=recorded.append)  # type: ignore[arg-type]
    returned = [conv.add(e) for e in increments]  # type: ignore[arg-type]
    total = sum((Fraction(e) for e in increments), start=Fraction(0))  # type: ignore[arg-type]
    per_unit = Fraction(str(unit)) if isinstance(unit, str) else Fraction(unit)  # type: ignore[arg-type]
    assert conv.units == total // per_unit
    assert conv.remainder_wh == total - conv.units * per_unit
    assert 0 <= conv.remainder_wh < per_unit
    assert sum(returned) == sum(recorded) == conv.units
    assert all(n > 0 for n in recorded)


@settings(max_examples=100, deadline=None)
@given(increments=st.lists(energies, min_size=1, max_size=40), data=st.data())
def test_any_split_of_the_increments_counts_the_same(
    increments: list[object], data: st.DataObject
) -> None:
    whole = UnitConverter()
    whole.add(sum((Fraction(e) for e in increments), start=Fraction(0)))  # type: ignore[arg-type]
    pieces = UnitConverter()
    for e in increments:
        parts = data.draw(st.integers(1, 4))
        for _ in range(parts):
            pieces.add(Fraction(e) / parts)  # type: ignore[arg-type]
    assert (pieces.units, pieces.remainder_wh) == (whole.units, whole.remainder_wh)


def test_a_long_run_of_tiny_float_increments_loses_nothing() -> None:
    # A year of 15-minute readings of a 0.1 W standby load, as floats (0.025 Wh each, which
    # no binary float holds exactly), then a day of one-second readings.
    conv = UnitConverter(wh_per_unit="0.001")
    runs = [(0.1 / 4, 365 * 96), (0.1 / 3600, 24 * 3600)]
    exact = Fraction(0)
    naive = 0.0
    for step, count in runs:
        for _ in range(count):
            conv.add(step)
            naive += step
        exact += Fraction(step) * count  # the exact values of the floats given
    assert conv.units * Fraction("0.001") + conv.remainder_wh == exact
    one_run = UnitConverter(wh_per_unit="0.001")
    one_run.add(exact)
    assert (one_run.units, one_run.remainder_wh) == (conv.units, conv.remainder_wh)
    assert Fraction(naive) != exact  # a float accumulator drifts; the converter does not


def test_negative_or_nonfinite_energy_is_rejected_and_changes_nothing() -> None:
    conv = UnitConverter()
    conv.add("0.75")
    for bad in (-1, float("nan"), float("inf"), "abc", Decimal("NaN")):
        with pytest.raises(MeteringError):
            conv.add(bad)  # type: ignore[arg-type]
    assert conv.remainder_wh == Fraction(3, 4)
    assert conv.units == 0
    for unit in (0, -1, "x"):
        with pytest.raises(MeteringError):
            UnitConverter(unit)  # type: ignore[arg-type]


def test_restore_resumes_exactly() -> None:
    conv = UnitConverter(10)
    conv.restore(5, "9.5")
    assert conv.add(1) == 1
    assert conv.units == 6
    assert conv.remainder_wh == Fraction(1, 2)
    with pytest.raises(MeteringError):
        conv.restore(1, 10)
    with pytest.raises(MeteringError):
        conv.restore(-1, 0)


def test_demand_register_splits_increments_across_interval_edges() -> None:
    reg = DemandRegister(interval_s=900)
    done = reg.add(300, 1800)  # 600 W for 30 min: two intervals of 150 Wh
    assert [(d.index, d.energy_wh) for d in done] == [(0, 150), (1, 150)]
    assert reg.add(100, 300) == []
    done = reg.add(400, 600)  # 100 Wh + 400 * 600/600 ... closes interval 2
    assert len(done) == 1
    assert done[0].energy_wh == 500
    assert reg.peak is not None
    assert reg.peak.index == 2
    assert reg.peak.mean_power_w == pytest.approx(2000.0)


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 4000)), min_size=1, max_size=30)
)
def test_demand_register_conserves_energy(steps: list[tuple[int, int]]) -> None:
    reg = DemandRegister(interval_s=900, keep=10**6)
    for energy, seconds in steps:
        reg.add(energy, seconds)
    done = sum((d.energy_wh for d in reg.intervals), start=Fraction(0))
    total_s = sum(s for _, s in steps)
    assert len(reg.intervals) == total_s // 900
    assert done <= sum(e for e, _ in steps)
    if reg.intervals:
        assert reg.peak is not None
        assert reg.peak.mean_power_w == max(d.mean_power_w for d in reg.intervals)


def test_demand_register_rejects_bad_input() -> None:
    with pytest.raises(MeteringError):
        DemandRegister(interval_s=0)
    reg = DemandRegister()
    with pytest.raises(MeteringError):
        reg.add(1, -5)
    with pytest.raises(MeteringError):
        reg.add(1, 0)
    assert reg.add(0, 0) == []


@settings(max_examples=100, deadline=None)
@given(
    energies=st.lists(st.integers(0, 10**7), max_size=50),
    unit=st.integers(1, 5 * 10**6),
    carry=st.integers(0, 5 * 10**6),
)
def test_vectorised_units_match_the_converter(energies: list[int], unit: int, carry: int) -> None:
    from sealmeter.metering import units_per_interval

    carry %= unit
    units, left = units_per_interval(np.array(energies, dtype=np.int64), unit, carry)
    conv = UnitConverter(Fraction(unit, 10**6))
    conv.restore(0, Fraction(carry, 10**6))
    expected = [conv.add(Fraction(e, 10**6)) for e in energies]
    assert units.tolist() == expected
    assert Fraction(int(left), 10**6) == conv.remainder_wh


def test_vectorised_units_for_a_fleet_and_bad_input() -> None:
    from sealmeter.metering import units_per_interval

    fleet = np.array([[400_000, 700_000, 0], [1_000_000, 1_000_000, 1]])
    units, left = units_per_interval(fleet)
    assert units.tolist() == [[0, 1, 0], [1, 1, 0]]
    assert left.tolist() == [100_000, 1]
    for bad in (np.array([0.5]), np.array([-1]), np.array(3)):
        with pytest.raises(MeteringError):
            units_per_interval(bad)
    with pytest.raises(MeteringError):
        units_per_interval(np.array([1]), uwh_per_unit=0)
    with pytest.raises(MeteringError):
        units_per_interval(np.array([1]), uwh_per_unit=10, carry_uwh=10)
