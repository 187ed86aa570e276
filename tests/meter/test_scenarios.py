"""Scenario tests on the simulated clock: exact times and states, meter and head-end back to back.

Each scenario drives one module with consumption intervals and answers its calls with the
real protocol (`WireHeadEnd`), and asserts the instants at which things happen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sealmeter.clock import SimClock
from sealmeter.meter import (
    CreditFrame,
    DownlinkRejected,
    Led,
    Meter,
    MeterConfig,
    RelayState,
    display,
)
from sealmeter.meter.state import encode
from sealmeter.protocol import CreditFrame as ProtoFrame
from sealmeter.protocol import (
    Downlink,
    EnableCode,
    RegistrationKind,
    generate_keys,
    seal_downlink,
)

from .conftest import WireHeadEnd, make_meter, schedule

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
Q = timedelta(minutes=15)


def run(
    meter: Meter,
    headend: WireHeadEnd | None,
    clock: SimClock,
    until: datetime,
    watts: float = 1000.0,
) -> list[float]:
    """Feed `watts` in 15-minute intervals until `until`; call when the watchdog says so."""
    delivered = []
    while clock.now() < until:
        start = clock.now()
        delivered.append(meter.feed_interval(start, start + Q, watts * 0.25))
        clock.advance(Q)
        if clock.now() >= meter.next_call_at():
            up = meter.make_uplink(clock.now())
            if headend is None:
                meter.call_failed(clock.now())
            else:
                meter.accept_downlink(headend.answer(up), clock.now())
    return delivered


def test_normal_month_with_day_and_night_tariff() -> None:
    meter, headend, _ = make_meter(T0, schedules=(schedule(),))
    clock = SimClock(T0)
    end = datetime(2026, 4, 1, tzinfo=UTC)
    run(meter, headend, clock, end)
    final = end + timedelta(minutes=1)
    meter.accept_downlink(headend.answer(meter.make_uplink(final)), final)
    # 30 days (2 March .. 31 March) at 1 kW: 16 kWh day (06-22), 8 kWh night, every day.
    days = 30
    totals = meter.register_totals()
    assert totals["1.8.1"] == (days * 16000, Decimal("0.30") * days * 16)
    assert totals["1.8.2"] == (days * 8000, Decimal("0.20") * days * 8)
    assert meter.counted_units == days * 24000
    # Every registration reached the head-end exactly once, in chain order; none is queued.
    seqs = [r.seq for r in headend.accepted]
    assert seqs == list(range(1, meter.next_seq))
    assert meter.queued_registrations() == []
    assert sum(r.registers[i].usage for r in headend.accepted for i in range(2)) == days * 24000
    # Segments close at 06:00 and 22:00 (band changes), at midnight (period) and at each call.
    times = {r.time for r in headend.accepted}
    slot = meter.next_call_at().time()
    for day in range(days):
        base = T0 + timedelta(days=day)
        assert {base + timedelta(hours=6), base + timedelta(hours=22)} <= times
        assert base + timedelta(days=1) in times
    day_regs = [r for r in headend.accepted if r.time.hour == 22 and r.time.minute == 0]
    assert all(r.registers[0].obis == "1.8.1" for r in day_regs)
    assert all(r.kind is RegistrationKind.REAL_TIME for r in headend.accepted)
    # One call a day at the meter's own slot; never blocked; display shows the registers.
    call_times = [u.time for u in headend.uplinks[:-1]]
    assert len(call_times) == days
    assert all(t.time().replace(second=0) == slot or t.minute % 15 == 0 for t in call_times)
    assert meter.relay is RelayState.SUPPLYING
    shown = display(meter, final)
    assert shown.led is Led.GREEN
    assert shown.outstanding == 0
    assert ("1.8.1", days * 16000, Decimal("144.00")) in shown.registers


def test_credit_frame_time_limit_blocks_exactly_at_expiry() -> None:
    frame = CreditFrame(duration=timedelta(days=7, hours=3))
    meter, _, device = make_meter(
        T0, config=MeterConfig("m", credit=frame), schedules=(schedule(),)
    )
    clock = SimClock(T0)
    delivered = run(meter, None, clock, T0 + timedelta(days=8))
    expiry = T0 + timedelta(days=7, hours=3)
    assert meter.relay is RelayState.BLOCKED_CREDIT
    assert meter.control.relay_since == expiry
    intervals_before = 7 * 96 + 12
    assert all(d == 250.0 for d in delivered[:intervals_before])
    assert all(d == 0.0 for d in delivered[intervals_before:])
    assert meter.counted_units == 7 * 24000 + 3000
    event = [r for r in meter.queued_registrations() if r.kind is RegistrationKind.EVENT]
    assert [r.time for r in event] == [expiry]
    # The block survives a power cycle.
    rebooted = Meter.boot(device, meter._device_key)
    assert rebooted.relay is RelayState.BLOCKED_CREDIT
    assert display(rebooted, clock.now()).led is Led.RED_BLINKING


def test_credit_frame_charge_limit_blocks_at_the_interval_that_exceeds_it() -> None:
    frame = CreditFrame(duration=None, charge_limit=Decimal("5.00"))
    meter, _, _ = make_meter(
        T0, config=MeterConfig("meter-0001", credit=frame), schedules=(schedule(),)
    )
    clock = SimClock(T0)
    run(meter, None, clock, T0 + timedelta(days=1))
    # Night 00-06: 6 kWh * 0.20 = 1.20; day from 06:00 at 0.30/kWh: 12.50 kWh -> 4.95 at 18:30
    # (not above 5.00), 12.75 kWh -> 5.025 at 18:45: blocked then.
    assert meter.relay is RelayState.BLOCKED_CREDIT
    assert meter.control.relay_since == T0 + timedelta(hours=18, minutes=45)
    assert meter.counted_units == 6000 + 12750
    assert meter.outstanding_charge() == Decimal("5.025")


def blocked_meter() -> tuple[Meter, WireHeadEnd, SimClock]:
    cfg = MeterConfig("meter-0001", credit=CreditFrame(duration=timedelta(days=2)))
    meter, headend, _ = make_meter(T0, config=cfg, schedules=(schedule(),))
    clock = SimClock(T0)
    run(meter, None, clock, T0 + timedelta(days=3))
    assert meter.relay is RelayState.BLOCKED_CREDIT
    return meter, headend, clock


def test_enable_code_resets_charge_and_unblocks() -> None:
    meter, headend, clock = blocked_meter()
    assert meter.outstanding_charge() == Decimal("0.30") * 32 + Decimal("0.20") * 16
    now = clock.advance(timedelta(minutes=3))
    result = meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    assert result.enable_code
    assert result.relay is RelayState.SUPPLYING
    assert result.credit_expires == now + timedelta(days=7)
    assert meter.relay is RelayState.SUPPLYING
    assert meter.outstanding_charge() == 0
    assert meter.queued_registrations() == []
    assert meter.feed_interval(now, now + Q, 250.0) == 250.0


def _rejected_changes_nothing(
    meter: Meter, data: bytes, now: datetime, reasons: str | set[str]
) -> None:
    before = encode(meter.control), meter.counted_units, meter.next_seq
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(data, now)
    allowed = {reasons} if isinstance(reasons, str) else reasons
    assert info.value.reason in allowed
    assert (encode(meter.control), meter.counted_units, meter.next_seq) == before
    assert meter.relay is RelayState.BLOCKED_CREDIT


def test_forged_replayed_foreign_expired_enable_codes_leave_the_meter_blocked() -> None:
    meter, headend, clock = blocked_meter()
    # Forged: a well-formed downlink with the right nonce and an enable code, sealed by an
    # attacker's key instead of the head-end's.
    now = clock.advance(timedelta(minutes=1))
    up = meter.make_uplink(now)
    genuine = headend.answer(up)
    nonce = headend.uplinks[-1].nonce
    code = EnableCode(
        meter.meter_id,
        meter.next_seq - 1,
        nonce,
        now + timedelta(hours=1),
        ProtoFrame(timedelta(days=30), Decimal(0)),
    )
    forged = seal_downlink(
        Downlink(meter.meter_id, now, nonce, code),
        headend=generate_keys(),
        meter=headend.meter_public,
    )
    _rejected_changes_nothing(meter, forged, now, {"wrong-sender", "bad-signature"})
    # Any single flipped byte: rejected.
    for index in (0, 10, len(genuine) // 2, len(genuine) - 1):
        bad = bytearray(genuine)
        bad[index] ^= 0x40
        with pytest.raises(DownlinkRejected):
            meter.accept_downlink(bytes(bad), now)
    assert meter.relay is RelayState.BLOCKED_CREDIT
    # Expired: an enable code that ran out before it arrived.
    late = now + timedelta(hours=2)
    _rejected_changes_nothing(meter, genuine, late, "enable-code-expired")
    # Accept the genuine one, then get blocked again and replay it.
    meter.accept_downlink(genuine, now)
    assert meter.relay is RelayState.SUPPLYING
    run(meter, None, clock, clock.now() + timedelta(days=8))
    assert meter.relay is RelayState.BLOCKED_CREDIT
    now = clock.advance(timedelta(minutes=1))
    meter.make_uplink(now)
    _rejected_changes_nothing(meter, genuine, now, "replayed-downlink")
    # Another meter's enable code (same head-end, other meter id and keys).
    other, other_headend, _ = make_meter(T0, meter_id="meter-0002", seed=7)
    other_now = now
    other_down = other_headend.answer(other.make_uplink(other_now))
    _rejected_changes_nothing(
        meter, other_down, now, {"wrong-recipient", "wrong-sender", "readdressed-message"}
    )


def test_a_long_queue_drains_in_batches_that_survive_lost_answers() -> None:
    """After a long outage the queue goes up 32 at a time (half the head-end's duplicate
    window), so a lost answer is repaired by the next call instead of refused as a replay."""
    from sealmeter.protocol import DUPLICATE_WINDOW

    cfg = MeterConfig("meter-0001", credit=CreditFrame(duration=timedelta(days=60)))
    meter, headend, _ = make_meter(T0, config=cfg, schedules=(schedule(),))
    clock = SimClock(T0)
    run(meter, None, clock, T0 + timedelta(days=25))  # the link is down: the log fills
    made = meter.next_seq - 1
    assert made > DUPLICATE_WINDOW
    lost = 0
    while meter.queued_registrations():
        now = clock.advance(timedelta(minutes=2))
        up = meter.make_uplink(now)
        down = headend.answer(up)
        assert len(headend.uplinks[-1].registrations) <= DUPLICATE_WINDOW // 2
        if len(headend.uplinks) % 3 == 1:  # every third answer is lost on the way back
            lost += 1
            meter.call_failed(now)
            continue
        meter.accept_downlink(down, now)
        assert (
            meter.next_call_at() == now + timedelta(minutes=1) or not meter.queued_registrations()
        )
    assert lost >= 2
    final = meter.next_seq - 1  # the segment held open while the log was full came too
    assert final >= made
    assert [r.seq for r in headend.accepted] == list(range(1, final + 1))
    assert meter.acked_seq == final
    assert sum(x.usage for r in headend.accepted for x in r.registers) == meter.counted_units
