"""The module back to back with the real head-end (`sealmeter.headend`), in memory on SQLite.

Skipped where the head-end part is not installed (it is built in parallel); wherever both
parts are present this proves the bytes on the wire and the provisioning export fit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sealmeter.clock import SimClock
from sealmeter.meter import DownlinkRejected, Meter, MeterConfig, RelayState
from sealmeter.nvm import Eeprom
from sealmeter.protocol import Direction, Suite, peek_header

from .conftest import DATA, DEVICE_KEY, schedule, seeded

headend = pytest.importorskip("sealmeter.headend", reason="the head-end part is not present")

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _meter_and_head_end() -> tuple[Meter, Any, Eeprom, SimClock]:
    """A module provisioned at a real head-end on SQLite in memory, both on the day-night
    schedule: (meter, head-end, the meter's EEPROM, the head-end's clock)."""
    clock = SimClock(T0)
    keys = headend.BoxKeys.generate()
    box = headend.HeadEnd.open("sqlite://", keys, clock=clock)
    box.publish_schedule((DATA / "day-night.json").read_text(), T0)
    device = Eeprom(128 * 1024)
    meter = Meter.manufacture(device, DEVICE_KEY, MeterConfig("m1"), T0, seeded(3))
    export = meter.provision(keys.public(Suite.EC_MODERN), T0)
    box.provision(
        headend.Provisioning(
            meter_id=export.meter_id,
            customer_ref="c1",
            suite=export.suite.value,
            public_keys=export.public_keys,
            chain_key=export.chain_key,
            schedule_id="test-day-night",
        ),
        T0,
    )
    meter.install_schedules((schedule(),), T0)
    return meter, box, device, clock


def test_ten_days_against_the_real_head_end_bill_reconciles_to_the_cent() -> None:
    meter, box, _device, clock = _meter_and_head_end()
    t = T0
    rejected = 0
    while t < T0 + timedelta(days=10):
        meter.feed_interval(t, t + timedelta(minutes=15), 250)
        t += timedelta(minutes=15)
        if t >= meter.next_call_at():
            clock.set(t)
            answer = box.handle_uplink(meter.make_uplink(t), t)
            try:
                meter.accept_downlink(answer, t)
            except DownlinkRejected:
                rejected += 1
                meter.call_failed(t)
    assert rejected == 0
    assert meter.relay is RelayState.SUPPLYING
    # Nine days: up to and including the registration that closes at midnight of day nine.
    bill = box.bill("c1", T0, T0 + timedelta(days=9, hours=1))
    assert bill.mismatches == 0
    assert bill.total == bill.meter_total
    usage = {line.register: line.usage for line in bill.lines}
    assert usage == {"1.8.1": 9 * 16000, "1.8.2": 9 * 8000}
    assert bill.total == Decimal("0.30") * 144 + Decimal("0.20") * 72


def test_answers_are_keyed_to_the_call_and_refused_after_a_reboot() -> None:
    """The module calls, the head-end answers under the call's key (no new encapsulation).

    An answer that arrives after the module restarted is refused (the key was in RAM only),
    as is a replay of an applied answer; the module calls again and nothing is lost: the
    registrations stay queued until the next answer acknowledges them.
    """
    meter, box, device, _clock = _meter_and_head_end()
    t = T0 + timedelta(hours=1)
    meter.feed_interval(T0, t, 1000)
    call = meter.make_uplink(t)
    assert peek_header(call).direction is Direction.CALL
    answer = box.handle_uplink(call, t)
    assert peek_header(answer).direction is Direction.ANSWER
    queued = len(meter.queued_registrations())
    assert queued > 0
    # power lost between the call and its answer: the booted module holds no answer key
    meter = Meter.boot(device, DEVICE_KEY, seeded(4))
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(answer, t)
    assert info.value.reason == "unexpected-answer"
    assert len(meter.queued_registrations()) == queued  # nothing applied, nothing lost
    meter.call_failed(t)
    t2 = t + timedelta(minutes=5)
    again = meter.make_uplink(t2)
    second = box.handle_uplink(again, t2)
    # the first answer is for another call now
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(answer, t2)
    assert info.value.reason == "answer-for-another-call"
    result = meter.accept_downlink(second, t2)
    assert result.relay is RelayState.SUPPLYING
    assert meter.queued_registrations() == []
    # an applied answer does not apply twice
    with pytest.raises(DownlinkRejected):
        meter.accept_downlink(second, t2)
