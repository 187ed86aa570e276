"""The communication watchdog: staggered slots, exponential backoff, table moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.meter import CallPolicy, CommState, IllegalTransition, Watchdog, slot_offset
from sealmeter.meter.errors import MeterConfigError
from sealmeter.meter.watchdog import TABLE, CommEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = CallPolicy()


def test_slots_spread_a_fleet_over_the_period() -> None:
    offsets = [slot_offset(f"meter-{n:04d}", timedelta(days=1)) for n in range(1000)]
    hours = [int(o.total_seconds() // 3600) for o in offsets]
    counts = [hours.count(h) for h in range(24)]
    # 1000 meters over 24 hours: about 42 per hour; no hour is empty or holds a crowd.
    assert min(counts) >= 20
    assert max(counts) <= 70
    assert len(set(offsets)) > 600


@given(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=10**7))
def test_first_call_is_the_meters_slot_within_one_period(meter_id: str, seconds: int) -> None:
    now = T0 + timedelta(seconds=seconds)
    dog = Watchdog.start(meter_id, POLICY, now)
    assert now < dog.next_call <= now + POLICY.period
    offset = slot_offset(meter_id, POLICY.period)
    midnight = dog.next_call.replace(hour=0, minute=0, second=0, microsecond=0)
    assert dog.next_call - midnight == offset
    assert dog.state is CommState.WAITING


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    policy = CallPolicy(backoff_base=timedelta(minutes=5), backoff_cap=timedelta(hours=1))
    dog = Watchdog.start("m1", policy, T0)
    now = dog.next_call
    delays = []
    for _ in range(8):
        dog = dog.call_started().call_failed("m1", policy, now)
        assert dog.state is CommState.BACKOFF
        delays.append(dog.next_call - now)
        now = dog.next_call
    bases = [timedelta(minutes=5 * 2**k) for k in range(8)]
    for delay, base in zip(delays, bases, strict=True):
        capped = min(base, timedelta(hours=1))
        assert capped <= delay <= capped + timedelta(seconds=30)
    assert dog.failures == 8


def test_success_resets_backoff_and_waits_for_next_slot() -> None:
    dog = Watchdog.start("m1", POLICY, T0)
    first = dog.next_call
    dog = dog.call_started().call_failed("m1", POLICY, first)
    retry = dog.next_call
    dog = dog.call_started().call_succeeded("m1", POLICY, retry)
    assert dog.state is CommState.WAITING
    assert dog.failures == 0
    assert dog.last_success == retry
    assert dog.next_call == first + POLICY.period


def test_retry_offsets_differ_between_meters() -> None:
    delays = {CallPolicy().retry_delay(f"m{n}", 1) for n in range(50)}
    assert len(delays) > 10


def test_illegal_move_names_state_and_event() -> None:
    with pytest.raises(IllegalTransition, match=r"SUCCESS.*WAITING|WAITING.*SUCCESS"):
        TABLE.fire(CommState.WAITING, CommEvent.SUCCESS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"period": timedelta(seconds=5)},
        {"backoff_base": timedelta(0)},
        {"backoff_base": timedelta(hours=2), "backoff_cap": timedelta(hours=1)},
    ],
)
def test_bad_policy_is_a_usage_error(kwargs: dict[str, timedelta]) -> None:
    with pytest.raises(MeterConfigError):
        CallPolicy(**kwargs)
