"""`Meter.feed_intervals` (the fleet's path) against `feed_interval`, and power cuts inside it.

A day fed in one call must leave the module exactly where one `feed_interval` per interval
leaves it (journal, counter, registrations with their charges and MAC codes, relay, control
state), including when the credit frame's charge limit is passed in the middle of a quiet
stretch; a power cut at any primitive of the call must lose no counted unit and invent none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.errors import UsageError
from sealmeter.meter import CreditFrame, Meter, MeterConfig, RelayState
from sealmeter.meter.module import power_of
from sealmeter.nvm import FaultPlan, PowerCut

from .conftest import DEVICE_KEY, make_meter, schedule, seeded

START = datetime(2026, 3, 2, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def _pair(limit: Decimal | None, load_step: int | None = None) -> tuple[Meter, Meter]:
    cfg = MeterConfig(
        "batch-meter",
        unit_wh=10,
        credit=CreditFrame(timedelta(days=7), limit),
        load_step_w=load_step,
    )
    one, _, _ = make_meter(START, config=cfg, schedules=(schedule(),), seed=5)
    two, _, _ = make_meter(START, config=cfg, schedules=(schedule(),), seed=5)
    return one, two


def _state(m: Meter) -> tuple[object, ...]:
    return (
        m.journal,
        m.counted_units,
        m.queued_registrations(),
        m.relay,
        m.control,
        m.register_totals(),
        m.outstanding_charge(),
    )


@given(
    energies=st.lists(st.integers(0, 900_000), min_size=1, max_size=220),
    offset=st.integers(0, 95),
    limit=st.sampled_from([None, Decimal("0.50"), Decimal("4.00"), Decimal("100")]),
    load_step=st.sampled_from([None, 1500]),
)
@settings(max_examples=60, deadline=None)
def test_a_batch_leaves_the_module_as_one_call_per_interval_does(
    energies: list[int], offset: int, limit: Decimal | None, load_step: int | None
) -> None:
    single, batched = _pair(limit, load_step)
    start = START + QUARTER * offset
    delivered = 0
    for k, e in enumerate(energies):
        if e:
            a = start + QUARTER * k
            delivered += round(single.feed_interval(a, a + QUARTER, Fraction(e, 1000)) * 10**6)
    single.checkpoint()
    got = batched.feed_intervals(start, QUARTER, energies)
    assert got == delivered
    assert _state(batched) == _state(single)
    # and the two go on alike: an uplink closes the same segment
    end = start + QUARTER * (len(energies) + 1)
    single.make_uplink(end)
    batched.make_uplink(end)
    assert _state(batched) == _state(single)


def test_the_peak_is_the_first_interval_of_the_highest_power_even_if_not_of_most_energy() -> None:
    single, batched = _pair(None)
    # 1000 and 1001 mWh in a quarter hour are both 4 W: the peak is the earlier interval
    energies = [700, 1000, 1001, 1000]  # 2.8 W -> 3 W, then 4, 4, 4
    start = START + timedelta(hours=9)
    for k, e in enumerate(energies):
        a = start + QUARTER * k
        single.feed_interval(a, a + QUARTER, Fraction(e, 1000))
    batched.feed_intervals(start, QUARTER, energies)
    assert batched.journal.peak_at == single.journal.peak_at == start + QUARTER
    assert _state(batched) == _state(single)


def test_a_charge_limit_passed_inside_a_quiet_stretch_blocks_at_the_same_interval() -> None:
    single, batched = _pair(Decimal("1.00"))
    energies = [400_000] * 40  # 0.4 kWh a quarter at 0.30 EUR: the limit falls at 2.5 h
    for k, e in enumerate(energies):
        a = START + timedelta(hours=8) + QUARTER * k
        single.feed_interval(a, a + QUARTER, Fraction(e, 1000))
    batched.feed_intervals(START + timedelta(hours=8), QUARTER, energies)
    assert batched.relay is RelayState.BLOCKED_CREDIT
    assert _state(batched) == _state(single)
    blocked_at = batched.control.relay_since
    assert blocked_at == single.control.relay_since
    assert START + timedelta(hours=10) <= blocked_at <= START + timedelta(hours=11)


def test_power_of_rounds_half_to_even_as_fractions_do() -> None:
    for energy in range(0, 5000, 7):
        for span in (1, 3, 7, 900_000_000, 3_600_000_000):
            assert power_of(energy, span) == round(Fraction(energy * 3_600_000, span))
    assert power_of(1, 2 * 3_600_000) == 0  # exactly half, rounded to even
    assert power_of(3, 2 * 3_600_000) == 2


def test_bad_batches_are_refused_with_a_reason() -> None:
    meter, _ = _pair(None)
    with pytest.raises(UsageError, match="non-negative"):
        meter.feed_intervals(START, QUARTER, [5, -1])
    with pytest.raises(UsageError, match="positive"):
        meter.feed_intervals(START, timedelta(0), [5])
    meter.feed_intervals(START + timedelta(hours=1), QUARTER, [5, 6])
    with pytest.raises(UsageError, match="overlaps"):
        meter.feed_intervals(START, QUARTER, [5])


def test_a_power_cut_at_any_primitive_of_a_batch_loses_no_counted_unit() -> None:
    # a day and a half of household load crossing the night/day/night boundaries and midnight
    energies = [(37_000 * (k % 11) + 91_000 * (k % 5)) for k in range(144)]
    fed_uwh = sum(energies) * 1000

    def fresh() -> tuple[Meter, object]:
        meter, _, device = make_meter(
            START, config=MeterConfig("cut-meter", unit_wh=10), schedules=(schedule(),), seed=9
        )
        return meter, device

    meter, device = fresh()
    before = device.ops  # type: ignore[attr-defined]
    meter.feed_intervals(START, QUARTER, energies)
    clean = meter.counted_units
    total = device.ops - before  # type: ignore[attr-defined]
    assert clean == fed_uwh // 10_000_000
    assert total > 10
    for cut in range(1, total + 1):
        meter, device = fresh()
        device.inject(FaultPlan(seed=cut, cut_at=cut, weak_on_tear=True))  # type: ignore[attr-defined]
        try:
            meter.feed_intervals(START, QUARTER, energies)
        except PowerCut:
            pass
        else:
            raise AssertionError(f"no cut at primitive {cut} of {total}")
        device.power_on()  # type: ignore[attr-defined]
        device.inject(None)  # type: ignore[attr-defined]
        again = Meter.boot(device, DEVICE_KEY, entropy=seeded(cut))  # type: ignore[arg-type]
        j = again.journal
        # the counter is the journal's target: nothing counted was lost, nothing invented
        assert again.counted_units == j.target_units, f"cut {cut}"
        assert j.energy_uwh <= fed_uwh, f"cut {cut}"
        assert again.counted_units * 10_000_000 + again.remainder_uwh == j.energy_uwh
        # every registration made covers units the counter holds, in order
        regs = again.queued_registrations()
        assert [r.seq for r in regs] == list(range(1, len(regs) + 1))
        assert sum(x.usage for r in regs for x in r.registers) <= again.counted_units * 10
        assert [again.counted_units for _ in range(3)] == [j.target_units] * 3
