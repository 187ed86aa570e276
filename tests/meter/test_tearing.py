"""A power cut at every single write of one operation: feed, call, downlink, provisioning.

For each operation the clean run's primitive writes are counted; then, on a copy of the same
memory, power fails at write k (random torn bits, some left weak) for every k. After the boot
the module must be in the state before or after the operation (never between), keep every
invariant, and finish a normal call with the head-end, whose MAC-chain check accepts every
registration exactly once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sealmeter.errors import UsageError
from sealmeter.meter import Meter, MeterConfig, RelayState
from sealmeter.nvm import Eeprom, FaultPlan, PowerCut
from sealmeter.protocol import CreditFrame as WireFrame

from .conftest import DEVICE_KEY, WireHeadEnd, headend_keys, make_meter, schedule, seeded

T0 = datetime(2026, 3, 2, tzinfo=UTC)
CALL = T0 + timedelta(hours=7)


def _prepared() -> tuple[Eeprom, WireHeadEnd]:
    meter, headend, device = make_meter(
        T0, config=MeterConfig("tear-meter"), schedules=(schedule(),)
    )
    headend.credit = WireFrame(timedelta(hours=6), Decimal(0))
    meter.feed_interval(T0, T0 + timedelta(hours=5, minutes=45), 2000)
    meter.accept_downlink(
        headend.answer(meter.make_uplink(T0 + timedelta(hours=5))), T0 + timedelta(hours=5)
    )
    return device, headend


def _trial_headend(headend: WireHeadEnd) -> WireHeadEnd:
    twin = copy.copy(headend)
    twin.accepted = list(headend.accepted)
    twin.uplinks = list(headend.uplinks)
    return twin


def _finish(meter: Meter, headend: WireHeadEnd, now: datetime) -> None:
    """A clean call after recovery: everything made must be accepted, in chain order."""
    meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    made = meter.next_seq - 1
    assert [r.seq for r in headend.accepted] == list(range(1, made + 1))
    assert meter.queued_registrations() == []
    usage = sum(reg.usage for r in headend.accepted for reg in r.registers)
    assert usage == meter.counted_units
    assert meter.counted_units == meter.journal.target_units
    assert meter.journal.energy_uwh == meter.counted_units * 1_000_000 + meter.remainder_uwh


def _exhaustive(
    op: Callable[[Meter, WireHeadEnd], object],
    check: Callable[[Meter, Meter, Meter], None],
    *,
    weak: bool = True,
) -> int:
    """Cut at every write of `op`; `check(before, after_clean, recovered)` the outcome."""
    device, headend = _prepared()
    before = Meter.boot(device.clone(), DEVICE_KEY, seeded(5))
    clean_device = device.clone()
    clean = Meter.boot(clean_device, DEVICE_KEY, seeded(5))
    start_ops = clean_device.ops
    op(clean, _trial_headend(headend))
    writes = clean_device.ops - start_ops
    assert writes > 0
    for k in range(1, writes + 1):
        trial = device.clone()
        meter = Meter.boot(trial, DEVICE_KEY, seeded(5))
        trial.inject(FaultPlan(seed=k, cut_at=k, weak_on_tear=weak))
        trial_headend = _trial_headend(headend)
        with pytest.raises(PowerCut):
            op(meter, trial_headend)
        trial.power_on()
        trial.inject(None)
        recovered = Meter.boot(trial, DEVICE_KEY, seeded(6))
        check(before, clean, recovered)
        _finish(recovered, trial_headend, CALL + timedelta(hours=1))
    return writes


def test_cut_at_every_write_of_a_feed_across_a_band_boundary() -> None:
    def op(meter: Meter, _: WireHeadEnd) -> object:
        return meter.feed_interval(
            T0 + timedelta(hours=5, minutes=45), T0 + timedelta(hours=6, minutes=15), 300
        )

    def check(before: Meter, clean: Meter, got: Meter) -> None:
        assert before.journal.energy_uwh <= got.journal.energy_uwh <= clean.journal.energy_uwh
        assert got.counted_units == got.journal.target_units
        assert got.next_seq in (before.next_seq, clean.next_seq)

    assert _exhaustive(op, check) >= 5


def test_cut_at_every_write_of_making_an_uplink() -> None:
    def op(meter: Meter, _: WireHeadEnd) -> object:
        meter.feed_interval(T0 + timedelta(hours=5, minutes=45), CALL, 500)
        return meter.make_uplink(CALL)

    def check(before: Meter, clean: Meter, got: Meter) -> None:
        assert got.counted_units <= clean.counted_units
        assert got.control.pending_nonce in (
            before.control.pending_nonce,
            clean.control.pending_nonce,
        )

    _exhaustive(op, check)


def test_cut_at_every_write_of_applying_a_downlink_with_a_schedule() -> None:
    v2 = schedule(version=2, valid_from=(CALL - timedelta(minutes=30)).isoformat())

    def op(meter: Meter, headend: WireHeadEnd) -> object:
        up = meter.make_uplink(CALL)
        down = headend.answer(up, schedules=(v2,))
        return meter.accept_downlink(down, CALL)

    def check(before: Meter, clean: Meter, got: Meter) -> None:
        applied = got.control.pending_nonce is None and got.acked_seq == clean.acked_seq
        versions = {s.version for s in got.schedules.book.schedules}
        if applied:
            assert 2 in versions
            assert got.control.grant == clean.control.grant
        else:
            assert 2 not in versions  # whole or nothing
            assert got.acked_seq == before.acked_seq

    _exhaustive(op, check)


def test_a_block_survives_a_cut_at_every_write() -> None:
    def op(meter: Meter, _: WireHeadEnd) -> object:
        # The credit frame (6 h from the call at 05:00) runs out at 11:00 during this feed.
        return meter.feed_interval(
            T0 + timedelta(hours=5, minutes=45), T0 + timedelta(hours=12), 400
        )

    def check(before: Meter, clean: Meter, got: Meter) -> None:
        assert clean.relay is RelayState.BLOCKED_CREDIT
        if got.relay is RelayState.BLOCKED_CREDIT:
            assert got.control.relay_since == T0 + timedelta(hours=11)

    _exhaustive(op, check)


def test_cut_at_every_write_of_manufacture_and_provisioning() -> None:
    clean = Eeprom(128 * 1024)
    meter = Meter.manufacture(clean, DEVICE_KEY, MeterConfig("p"), T0, seeded(1))
    meter.provision(headend_keys().public(), T0)
    for k in range(1, clean.ops + 1):
        device = Eeprom(128 * 1024, plan=FaultPlan(seed=k, cut_at=k, weak_on_tear=True))
        with pytest.raises(PowerCut):
            _make_and_provision(device)
        device.power_on()
        device.inject(None)
        meter = _boot_or_remake(device)
        if meter.life.value == "manufactured":
            export = meter.provision(headend_keys().public(), T0)
        else:
            export = meter.reexport()  # the export was lost with the power: make it again
        headend = WireHeadEnd(headend_keys())
        headend.enrol(export)
        meter.install_schedules((schedule(),), T0)
        meter.feed_interval(T0, T0 + timedelta(hours=1), 100)
        _finish(meter, headend, T0 + timedelta(hours=1))


def _make_and_provision(device: Eeprom) -> None:
    meter = Meter.manufacture(device, DEVICE_KEY, MeterConfig("p"), T0, seeded(1))
    meter.provision(headend_keys().public(), T0)


def _boot_or_remake(device: Eeprom) -> Meter:
    """Boot a part cut during manufacture; one that was never finished says so, and is remade."""
    try:
        return Meter.boot(device, DEVICE_KEY)
    except UsageError as exc:
        if "manufacture" not in str(exc):
            raise
    return Meter.manufacture(device, DEVICE_KEY, MeterConfig("p"), T0, seeded(1))


def test_reexport_is_refused_once_the_chain_moved_on() -> None:
    meter, _, _ = make_meter(T0, schedules=(schedule(),))
    assert meter.reexport().chain_key == meter.reexport().chain_key
    meter.feed_interval(T0, T0 + timedelta(hours=7), 100)
    with pytest.raises(UsageError, match="K_0 is gone"):
        meter.reexport()
