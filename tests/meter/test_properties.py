"""Invariants under arbitrary input: garbage downlinks and images, random consumption, suites."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.errors import SealmeterError
from sealmeter.meter import DownlinkRejected, Meter, MeterConfig, RelayState
from sealmeter.meter.state import encode
from sealmeter.nvm import Eeprom
from sealmeter.protocol import Suite, generate_keys

from .conftest import DEVICE_KEY, WireHeadEnd, make_meter, schedule

T0 = datetime(2026, 3, 2, tzinfo=UTC)
_METER, _HEADEND, _ = make_meter(T0, schedules=(schedule(),))
_METER.feed_interval(T0, T0 + timedelta(hours=1), 1000)
_GENUINE = _HEADEND.answer(_METER.make_uplink(T0 + timedelta(hours=1)))
_NOW = T0 + timedelta(hours=1, minutes=1)


@given(st.binary(max_size=600))
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_any_bytes_as_a_downlink_are_rejected_and_change_nothing(data: bytes) -> None:
    before = encode(_METER.control)
    with pytest.raises(DownlinkRejected):
        _METER.accept_downlink(data, _NOW)
    assert encode(_METER.control) == before


@given(st.integers(0, len(_GENUINE) - 1), st.integers(1, 255))
@settings(max_examples=100)
def test_any_single_byte_change_of_a_genuine_downlink_is_rejected(index: int, flip: int) -> None:
    bad = bytearray(_GENUINE)
    bad[index] ^= flip
    before = encode(_METER.control)
    with pytest.raises(DownlinkRejected):
        _METER.accept_downlink(bytes(bad), _NOW)
    assert encode(_METER.control) == before


def test_truncated_or_extended_genuine_downlink_is_rejected() -> None:
    for data in (_GENUINE[:-1], _GENUINE[: len(_GENUINE) // 2], _GENUINE + b"\x00", b""):
        with pytest.raises(DownlinkRejected):
            _METER.accept_downlink(data, _NOW)


@given(st.binary(min_size=64, max_size=2048), st.integers(0, 128 * 1024 - 2048))
@settings(max_examples=25, deadline=None)
def test_a_scribbled_image_boots_or_fails_with_a_typed_error(junk: bytes, at: int) -> None:
    meter, _, device = make_meter(T0, schedules=(schedule(),))
    meter.feed_interval(T0, T0 + timedelta(hours=7), 3000)
    device.write(at, junk)
    try:
        rebooted = Meter.boot(device, DEVICE_KEY)
    except SealmeterError:
        return
    # If it boots, the redundancy codes kept every value it relies on consistent.
    assert rebooted.counted_units >= 0
    assert rebooted.counted_units == rebooted.journal.target_units


def test_a_foreign_device_key_cannot_open_the_image() -> None:
    _, _, device = make_meter(T0, schedules=(schedule(),))
    with pytest.raises(SealmeterError, match="device key"):
        Meter.boot(device, bytes(32))


@given(
    st.lists(
        st.tuples(st.integers(1, 180), st.floats(0, 5000, allow_nan=False)),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=25, deadline=None)
def test_every_unit_is_in_exactly_one_registration_or_the_open_segment(
    feeds: list[tuple[int, float]],
) -> None:
    meter, _, _ = make_meter(
        T0, schedules=(schedule(),), config=MeterConfig("prop-meter", load_step_w=2000)
    )
    t = T0
    energy = 0.0
    for minutes, wh in feeds:
        meter.feed_interval(t, t + timedelta(minutes=minutes), wh)
        t += timedelta(minutes=minutes)
        energy += wh
    assert meter.relay is RelayState.SUPPLYING or t >= T0 + timedelta(days=7)
    registered = sum(r.usage for reg in meter.queued_registrations() for r in reg.registers)
    open_segment = sum(u for u, _ in meter.register_totals().values()) - registered
    assert open_segment == meter.open_units
    assert registered + meter.open_units == meter.counted_units
    assert abs(meter.counted_units + meter.remainder_uwh / 1e6 - energy) < 1e-3
    seqs = [reg.seq for reg in meter.queued_registrations()]
    assert seqs == list(range(1, meter.next_seq))
    times = [reg.time for reg in meter.queued_registrations()]
    assert times == sorted(times)


@pytest.mark.parametrize("suite", [Suite.NIST_P256, Suite.RSA])
def test_every_suite_provisions_calls_and_survives_a_reboot(suite: Suite) -> None:
    device = Eeprom(128 * 1024)
    meter = Meter.manufacture(device, DEVICE_KEY, MeterConfig("suite-meter"), T0)
    headend = WireHeadEnd(generate_keys(suite))
    export = meter.provision(headend.keys.public(), T0)
    assert export.suite is suite
    headend.enrol(export)
    meter.install_schedules((schedule(),), T0)
    meter.feed_interval(T0, T0 + timedelta(hours=8), 4000)
    meter = Meter.boot(device, DEVICE_KEY)
    now = T0 + timedelta(hours=9)
    result = meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    assert result.acked_seq == 2
    assert [r.seq for r in headend.accepted] == [1, 2]


def test_failed_calls_back_off_then_succeed_at_exact_instants() -> None:
    meter, headend, _ = make_meter(T0, schedules=(schedule(),))
    slot = meter.next_call_at()
    attempts = [slot]
    for _ in range(4):
        meter.make_uplink(attempts[-1])
        attempts.append(meter.call_failed(attempts[-1]))
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    bases = [timedelta(minutes=5 * 2**k) for k in range(4)]
    for gap, base in zip(gaps, bases, strict=True):
        assert base <= gap < base + timedelta(seconds=30)
    assert meter.control.watchdog.failures == 4
    now = attempts[-1]
    meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    assert meter.control.watchdog.failures == 0
    assert meter.next_call_at() == slot + timedelta(days=1)


def test_no_key_is_in_the_memory_image_in_clear() -> None:
    from cryptography.hazmat.primitives import serialization

    from sealmeter.protocol import evolve_chain_key

    device = Eeprom(128 * 1024)
    meter = Meter.manufacture(device, DEVICE_KEY, MeterConfig("keys-meter"), T0)
    export = meter.provision(generate_keys().public(), T0)
    meter.install_schedules((schedule(),), T0)
    meter.feed_interval(T0, T0 + timedelta(hours=23), 5000)
    image = device.read(0, device.geometry.size)
    chain_keys = [export.chain_key]
    for _ in range(meter.next_seq):
        chain_keys.append(evolve_chain_key(chain_keys[-1]))
    keys = meter._private_keys()
    raw = serialization.Encoding.Raw
    private = [
        keys.decryption.private_bytes(
            raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        ),
        keys.signing.private_bytes(
            raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        ),
    ]
    for secret in (*chain_keys, *private, DEVICE_KEY):
        assert secret not in image


def test_provisioning_twice_or_with_mismatched_suites_is_refused() -> None:
    from sealmeter.meter import IllegalTransition, LifeState
    from sealmeter.protocol import Suite

    device = Eeprom(128 * 1024)
    meter = Meter.manufacture(device, DEVICE_KEY, MeterConfig("twice"), T0)
    box = generate_keys()
    with pytest.raises(SealmeterError, match="suite"):
        meter.provision(box.public(), T0, Suite.RSA)
    assert meter.life is LifeState.MANUFACTURED
    meter.provision(box.public(), T0)
    with pytest.raises(IllegalTransition, match="PROVISION"):
        meter.provision(box.public(), T0)
    assert Meter.boot(device, DEVICE_KEY).life is LifeState.PROVISIONED


def test_the_part_must_be_large_enough_and_a_small_log_fits_a_small_part() -> None:
    from sealmeter.meter import nvm_size

    with pytest.raises(SealmeterError, match="needs"):
        Meter.manufacture(Eeprom(32 * 1024), DEVICE_KEY, MeterConfig("small"), T0)
    cfg = MeterConfig("small", log_entries=32)
    assert nvm_size(32) == 64 * 1024
    meter, headend, _ = make_meter(T0, config=cfg, schedules=(schedule(),), size=nvm_size(32))
    meter.feed_interval(T0, T0 + timedelta(hours=7), 700)
    now = T0 + timedelta(hours=8)
    assert meter.accept_downlink(headend.answer(meter.make_uplink(now)), now).acked_seq == 2
