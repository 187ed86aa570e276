"""Tamper detectors: housing latch with S2 inspection, seal loop, bypass; voltage watchdog."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.meter import (
    BypassDetector,
    BypassPolicy,
    DetectionKind,
    HousingState,
    IllegalTransition,
    LoopState,
    PowerState,
    VoltageWatchdog,
)
from sealmeter.meter.tamper import HousingEvent, LoopEvent, housing_after, loop_after

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_housing_latch_survives_closing_and_needs_key_and_server() -> None:
    state = housing_after(HousingState.SEALED, HousingEvent.S1_OPENED)
    assert state is HousingState.TAMPERED
    # Reopening does not clear it; a server reset without the inspector's key is illegal.
    assert housing_after(state, HousingEvent.S1_OPENED) is HousingState.TAMPERED
    with pytest.raises(IllegalTransition, match="INSPECTION_RESET"):
        housing_after(state, HousingEvent.INSPECTION_RESET)
    state = housing_after(state, HousingEvent.S2_KEY)
    assert state is HousingState.INSPECTING_AFTER_TAMPER
    assert housing_after(state, HousingEvent.INSPECTION_RESET) is HousingState.SEALED


def test_authorised_opening_does_not_latch() -> None:
    state = housing_after(HousingState.SEALED, HousingEvent.S2_KEY)
    state = housing_after(state, HousingEvent.S1_OPENED)
    assert state is HousingState.INSPECTING


@given(st.lists(st.sampled_from([LoopEvent.PULSE_OK, LoopEvent.PULSE_LOST]), max_size=40))
def test_seal_loop_break_is_latched(events: list[LoopEvent]) -> None:
    state = LoopState.INTACT
    for event in events:
        state = loop_after(state, event)
    assert (state is LoopState.BROKEN) == (LoopEvent.PULSE_LOST in events)


def test_bypass_needs_disagreement_for_the_whole_duration() -> None:
    policy = BypassPolicy(threshold_a=0.5, threshold_ratio=0.05, duration=timedelta(seconds=60))
    det = BypassDetector()
    # 59 s of disagreement, then agreement: nothing.
    for s in range(0, 60):
        det, found = det.observe(policy, T0 + timedelta(seconds=s), 10.0, 2.0)
        assert found is None
    det, found = det.observe(policy, T0 + timedelta(seconds=60), 10.0, 10.1)
    assert found is None
    # Now 60 s of disagreement from t=100: detected exactly at t=160, once.
    hits = []
    for s in range(100, 200):
        det, found = det.observe(policy, T0 + timedelta(seconds=s), 10.0, 2.0)
        if found is not None:
            hits.append(found)
    assert len(hits) == 1
    assert hits[0].kind is DetectionKind.BYPASS
    assert hits[0].at == T0 + timedelta(seconds=160)
    assert hits[0].since == T0 + timedelta(seconds=100)
    # Agreement later does not clear the latch; an inspection does.
    det, _ = det.observe(policy, T0 + timedelta(seconds=300), 10.0, 10.0)
    assert det.state.name == "DETECTED"
    assert det.reset().state.name == "NORMAL"


@given(st.floats(0, 100), st.floats(0, 100))
def test_bypass_threshold_is_the_larger_of_absolute_and_relative(a: float, b: float) -> None:
    policy = BypassPolicy(threshold_a=0.5, threshold_ratio=0.05)
    assert policy.disagree(a, b) == (abs(a - b) > max(0.5, 0.05 * a))


def test_outage_is_reported_with_its_gap() -> None:
    dog = VoltageWatchdog().mains_lost(T0)
    assert dog.state is PowerState.BATTERY
    back, found = dog.mains_returned(T0 + timedelta(hours=3))
    assert back.state is PowerState.MAINS
    assert [(d.kind, d.since, d.until) for d in found] == [
        (DetectionKind.SUPPLY_OUTAGE, T0, T0 + timedelta(hours=3))
    ]
    assert back.battery_left == timedelta(days=365) - timedelta(hours=3)


def test_opening_on_battery_makes_the_gap_a_removal() -> None:
    dog = VoltageWatchdog().mains_lost(T0).housing_opened()
    _, found = dog.mains_returned(T0 + timedelta(days=2))
    assert found[0].kind is DetectionKind.MODULE_REMOVED
    assert found[0].since == T0


def test_battery_death_inside_a_gap_marks_the_clock_lost() -> None:
    dog = VoltageWatchdog(battery_left=timedelta(hours=10)).mains_lost(T0)
    back, found = dog.mains_returned(T0 + timedelta(days=1))
    kinds = [d.kind for d in found]
    assert kinds == [DetectionKind.SUPPLY_OUTAGE, DetectionKind.BATTERY_EXHAUSTED]
    assert found[1].at == T0 + timedelta(hours=10)
    assert not back.clock_valid
    assert back.battery_left == timedelta(0)
    assert back.clock_set().clock_valid


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_reading_that_is_no_number_never_clears_a_suspected_bypass(bad: float) -> None:
    # before, NaN compared as agreement: a sensor glitch (or an injected one) every minute
    # reset the suspicion and hid a sustained bypass
    policy = BypassPolicy()
    det = BypassDetector()
    found = None
    for s in range(0, 61):
        supply, load = (bad, 2.0) if s % 10 == 5 else (10.0, 2.0)
        det, hit = det.observe(policy, T0 + timedelta(seconds=s), supply, load)
        found = found or hit
    assert found is not None
    assert found.kind is DetectionKind.BYPASS
    assert policy.disagree(bad, 10.0)
    assert policy.disagree(10.0, bad)
