"""Hypothesis strategies for every protocol message (valid by construction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from sealmeter.protocol import (
    BatteryState,
    ClockState,
    Command,
    CommandKind,
    CreditFrame,
    Downlink,
    EnableCode,
    RegisterUsage,
    Registration,
    RegistrationKind,
    ScheduleUpdate,
    Status,
    TamperEvent,
    TamperKind,
    Uplink,
)

ids = st.text(min_size=1, max_size=24).filter(lambda s: len(s.encode()) <= 255)
texts = st.text(max_size=24).filter(lambda s: len(s.encode()) <= 255)
times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
optional_times = st.none() | times
money = st.builds(
    lambda m, e: Decimal(m).scaleb(e),
    st.integers(-(2**63) + 1, 2**63 - 1),
    st.integers(-12, 6),
)
nonces = st.binary(min_size=16, max_size=16)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)

registers = st.builds(RegisterUsage, ids, u64, money)


@st.composite
def registrations(draw: st.DrawFn, meter_id: str | None = None) -> Registration:
    """A registration with any number of tariff bands and any authentication code."""
    return Registration(
        seq=draw(u64),
        kind=draw(st.sampled_from(RegistrationKind)),
        meter_id=meter_id if meter_id is not None else draw(ids),
        registers=tuple(draw(st.lists(registers, max_size=6))),
        schedule_id=draw(texts),
        schedule_version=draw(u32),
        time=draw(times),
        auth_code=draw(st.binary(max_size=64)),
        currency=draw(st.sampled_from(["EUR", "CHF", "GBP"])),
    )


@st.composite
def statuses(draw: st.DrawFn, meter_id: str | None = None) -> Status:
    """A status with any tamper history."""
    return Status(
        meter_id=meter_id if meter_id is not None else draw(ids),
        time=draw(times),
        tamper_events=tuple(
            draw(st.lists(st.builds(TamperEvent, st.sampled_from(TamperKind), times), max_size=5))
        ),
        schedule_id=draw(texts),
        schedule_version=draw(u32),
        schedule_valid_from=draw(times),
        schedule_valid_to=draw(optional_times),
        peak_load_w=draw(u32),
        peak_load_time=draw(optional_times),
        next_contact=draw(times),
        battery=draw(st.sampled_from(BatteryState)),
        battery_mv=draw(st.integers(0, 65535)),
        clock=draw(st.sampled_from(ClockState)),
        firmware=draw(texts),
        blocked=draw(st.booleans()),
    )


@st.composite
def uplinks(draw: st.DrawFn) -> Uplink:
    """An uplink batch of registrations and maybe a status, all of one meter."""
    meter_id = draw(ids)
    return Uplink(
        meter_id=meter_id,
        time=draw(times),
        nonce=draw(nonces),
        registrations=tuple(draw(st.lists(registrations(meter_id), max_size=4))),
        status=draw(st.none() | statuses(meter_id)),
    )


@st.composite
def schedules(draw: st.DrawFn) -> ScheduleUpdate:
    """A schedule update with a validity that ends after it starts (or never)."""
    start = draw(times)
    span = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650))
    end = draw(st.none() | span.map(lambda d: start + d))
    return ScheduleUpdate(draw(ids), draw(u32), start, end, draw(st.binary(max_size=64)))


credit_frames = st.builds(
    CreditFrame,
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
    money.filter(lambda d: d >= 0),
)


@st.composite
def downlinks(draw: st.DrawFn) -> Downlink:
    """A downlink with maybe an enable code, schedule updates and commands."""
    meter_id = draw(ids)
    nonce = draw(nonces)
    code = draw(st.none() | st.builds(EnableCode, ids, u64, nonces, times, credit_frames))
    return Downlink(
        meter_id=meter_id,
        time=draw(times),
        nonce=nonce,
        enable_code=code,
        schedules=tuple(draw(st.lists(schedules(), max_size=2))),
        commands=tuple(
            draw(
                st.lists(
                    st.builds(Command, st.sampled_from(CommandKind), st.binary(max_size=40)),
                    max_size=3,
                )
            )
        ),
    )
