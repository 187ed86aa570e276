"""Invariants of billing (hypothesis): usage is conserved, splitting or merging intervals never
changes a bill, moving a version boundary only moves usage between schedules."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.tariff import Bill, RateSchedule, UsageSeries, bill, load_shipped, schedule_from_dict
from tests.tariff.conftest import base_schedule

T0 = int(datetime(2023, 3, 20, tzinfo=UTC).timestamp())  # a week before the spring DST change

# Each interval: (gap before it in minutes, length in minutes, power in mWh per minute).
rows = st.lists(
    st.tuples(st.integers(0, 90), st.integers(1, 600), st.integers(0, 50_000)),
    min_size=1,
    max_size=60,
)
gapless_rows = st.lists(
    st.tuples(st.just(0), st.integers(1, 600), st.integers(0, 50_000)), min_size=1, max_size=60
)


def build(spec: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(start s, end s, mWh per minute) per interval from the generated spec."""
    out: list[tuple[int, int, int]] = []
    at = T0
    for gap, length, power in spec:
        at += gap * 60
        out.append((at, at + length * 60, power))
        at += length * 60
    return out


def series(intervals: list[tuple[int, int, int]]) -> UsageSeries:
    table = np.array([(a, b, p * (b - a) // 60) for a, b, p in intervals], dtype=np.int64).reshape(
        -1, 3
    )
    return UsageSeries(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())


def lines(result: Bill) -> dict[tuple[str, str], tuple[Fraction, Fraction]]:
    return {(r.obis, r.band): (r.energy_wh, r.exact_charge) for r in result.registers}


SCHEDULES = {
    "base": schedule_from_dict(base_schedule()),
    "uk-e7": load_shipped("uk-e7-eon-next-flex"),
    "de-ht-nt": load_shipped("de-neustadt-donau-ht-nt"),
    "us-tod": load_shipped("us-wi-river-falls-tod"),
}


@settings(max_examples=60, deadline=None)
@given(spec=rows, name=st.sampled_from(sorted(SCHEDULES)))
def test_register_usage_sums_to_total_usage(spec: list[Any], name: str) -> None:
    usage = series(build(spec))
    result = bill(SCHEDULES[name], usage)
    assert sum(r.energy_wh for r in result.registers) * 1000 == int(usage.energy_mwh.sum())
    assert result.energy_wh * 1000 == int(usage.energy_mwh.sum())
    assert result.total == sum(r.charge for r in result.registers) + (
        result.standing_charge + result.demand_charge
    )


@settings(max_examples=60, deadline=None)
@given(
    spec=rows,
    cuts=st.lists(st.integers(0, 10_000), max_size=40),
    name=st.sampled_from(sorted(SCHEDULES)),
)
def test_splitting_intervals_never_changes_the_bill(
    spec: list[Any], cuts: list[int], name: str
) -> None:
    whole = build(spec)
    split: list[tuple[int, int, int]] = []
    for i, (a, b, p) in enumerate(whole):
        minutes = (b - a) // 60
        inner = sorted({a + 60 * (c % minutes) for c in cuts[i::7] if c % minutes} | {a, b})
        split.extend((x, y, p) for x, y in itertools.pairwise(inner))
    one = bill(SCHEDULES[name], series(whole))
    two = bill(SCHEDULES[name], series(split))
    assert lines(one) == lines(two)
    assert (one.standing_charge, one.demand_charge, one.total) == (
        two.standing_charge,
        two.demand_charge,
        two.total,
    )
    assert one.peak is not None
    assert two.peak is not None
    assert one.peak.power_w == two.peak.power_w


@settings(max_examples=60, deadline=None)
@given(spec=rows)
def test_merging_intervals_inside_one_price_segment_never_changes_the_bill(
    spec: list[Any],
) -> None:
    # The base schedule (Europe/Berlin) only changes band on whole local hours, so two
    # touching intervals within one UTC hour lie in one constant-price segment.
    fine = build(spec)
    merged: list[tuple[int, int, int]] = []  # (start, end, mWh)
    for a, b, p in fine:
        energy = p * (b - a) // 60
        if merged and merged[-1][1] == a and merged[-1][0] // 3600 == (b - 1) // 3600:
            merged[-1] = (merged[-1][0], b, merged[-1][2] + energy)
        else:
            merged.append((a, b, energy))
    table = np.array(merged, dtype=np.int64)
    coarse = UsageSeries(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy())
    one = bill(SCHEDULES["base"], series(fine))
    two = bill(SCHEDULES["base"], coarse)
    assert lines(one) == lines(two)
    assert one.standing_charge == two.standing_charge
    assert one.total == two.total  # the base schedule has no demand charge


def version(n: int, valid_from: int, day: str, night: str, standing: str) -> RateSchedule:
    data = base_schedule()
    data.update(version=n, valid_from=datetime.fromtimestamp(valid_from, UTC).isoformat())
    data["bands"][0]["price"] = day
    data["bands"][1]["price"] = night
    data["standing_charge"]["amount"] = standing
    return schedule_from_dict(data)


def cut(intervals: list[tuple[int, int, int]], at: int) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for a, b, p in intervals:
        out.extend([(a, at, p), (at, b, p)] if a < at < b else [(a, b, p)])
    return out


@settings(max_examples=60, deadline=None)
@given(spec=gapless_rows, first=st.integers(0, 10**6), second=st.integers(0, 10**6))
def test_moving_a_version_boundary_moves_usage_between_schedules_and_nothing_else(
    spec: list[Any], first: int, second: int
) -> None:
    intervals = build(spec)
    lo, hi = intervals[0][0], intervals[-1][1]
    minutes = (hi - lo) // 60
    t, t2 = sorted((lo + 60 * (first % minutes), lo + 60 * (second % minutes)))
    v1 = version(1, T0 - 86_400, "0.30", "0.20", "0.5")

    def v2(at: int) -> RateSchedule:
        return version(2, at, "0.41", "0.17", "0.75")

    usage = series(intervals)
    early, late = bill([v1, v2(t)], usage), bill([v1, v2(t2)], usage)
    # Usage per register is the same: only which schedule priced it moved.
    assert {k: e for k, (e, _) in lines(early).items()} == {
        k: e for k, (e, _) in lines(late).items()
    }
    if t == t2:
        assert lines(early) == lines(late)
        return
    # The money moved is exactly the slice [t, t2) priced under v1 instead of v2.
    sliced = [iv for iv in cut(cut(intervals, t), t2) if t <= iv[0] and iv[1] <= t2]
    as_v1 = bill(v1, series(sliced))
    as_v2 = bill(v2(t), series(sliced))
    moved: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for k, (_, c) in lines(as_v1).items():
        moved[k] += c
    for k, (_, c) in lines(as_v2).items():
        moved[k] -= c
    for k, (_, c) in lines(late).items():
        assert c - lines(early)[k][1] == moved[k]
    assert late.exact_standing_charge - early.exact_standing_charge == (
        as_v1.exact_standing_charge - as_v2.exact_standing_charge
    )
    assert [(s[0], s[1]) for s in late.schedules] == [("test-two-band", 1), ("test-two-band", 2)]
    assert late.schedules[1][2] == datetime.fromtimestamp(t2, UTC)
