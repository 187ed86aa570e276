"""Scenarios with exact instants: schedule switch, tamper detections, outage versus removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sealmeter.clock import SimClock
from sealmeter.meter import (
    CreditFrame,
    DetectionKind,
    DownlinkRejected,
    HousingState,
    Led,
    MeterConfig,
    SealLoop,
    display,
)
from sealmeter.meter.state import encode
from sealmeter.protocol import Command, CommandKind, RegistrationKind, TamperKind

from .conftest import make_meter, schedule
from .test_scenarios import T0, Q, run


def test_schedule_switch_takes_effect_exactly_at_valid_from() -> None:
    meter, headend, _ = make_meter(T0, schedules=(schedule(),))
    clock = SimClock(T0)
    run(meter, headend, clock, T0 + timedelta(hours=12))
    switch = datetime(2026, 3, 3, 12, 30, tzinfo=UTC)
    v2 = schedule(
        version=2,
        valid_from=switch.isoformat(),
        bands=[
            {"name": "day", "obis": "1.8.1", "price": "0.40"},
            {"name": "night", "obis": "1.8.2", "price": "0.10"},
        ],
    )
    now = clock.advance(timedelta(minutes=1))
    result = meter.accept_downlink(headend.answer(meter.make_uplink(now), schedules=(v2,)), now)
    assert result.schedules == (("test-day-night", 2),)
    assert meter.schedules.in_force(now).version == 1
    run(meter, headend, clock, datetime(2026, 3, 4, tzinfo=UTC))
    regs = [*headend.accepted, *meter.queued_registrations()]
    at_switch = [r for r in regs if r.time == switch]
    assert len(at_switch) == 1
    assert at_switch[0].schedule_version == 1
    after = [r for r in regs if r.time > switch]
    assert after
    assert all(r.schedule_version == 2 for r in after)
    # The day band from 12:30 to 22:00 on 3 March is charged at 0.40: 9.5 kWh.
    day_v2 = sum(
        (r.registers[0].charge for r in after if r.time <= datetime(2026, 3, 3, 22, tzinfo=UTC)),
        Decimal(0),
    )
    assert day_v2 == Decimal("0.40") * Decimal("9.5")
    # An older (or equal) version is refused and changes nothing.
    now = clock.advance(timedelta(minutes=1))
    up = meter.make_uplink(now)
    stale = headend.answer(up, schedules=(schedule(version=2),))
    before = encode(meter.control)
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(stale, now)
    assert info.value.reason == "stale-schedule"
    assert encode(meter.control) == before


def test_each_tamper_kind_is_reported_once_with_its_time() -> None:
    meter, headend, _ = make_meter(T0, schedules=(schedule(),))
    clock = SimClock(T0)
    t1 = T0 + timedelta(hours=1, minutes=7)
    loop = SealLoop()
    run(meter, headend, clock, t1)
    assert meter.housing_opened(t1) is not None
    assert meter.housing_opened(t1 + timedelta(minutes=5)) is None  # latched: not again
    assert meter.check_seal_loop(t1, loop) is None
    t2 = t1 + timedelta(minutes=20)
    loop.intact = False
    found = meter.check_seal_loop(t2, loop)
    assert found is not None
    assert found.at == t2
    assert meter.check_seal_loop(t2 + timedelta(minutes=1), loop) is None
    t3 = t2 + timedelta(minutes=3)
    hits = [meter.observe_currents(t3 + timedelta(seconds=s), 20.0, 4.0) for s in range(0, 121)]
    detections = [h for h in hits if h is not None]
    assert [(d.at, d.since) for d in detections] == [(t3 + timedelta(seconds=60), t3)]
    shown = display(meter, t3)
    assert shown.led is Led.RED
    assert {"HOUSING OPENED", "SEAL LOOP BROKEN", "BYPASS"} <= set(shown.flags)
    now = t3 + timedelta(minutes=5)
    meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    events = headend.uplinks[-1].status.tamper_events
    assert [(e.kind, e.time) for e in events] == [
        (TamperKind.HOUSING_OPENED, t1),
        (TamperKind.SEAL_LOOP_BROKEN, t2),
        (TamperKind.BYPASS, t3),
    ]
    # Acknowledged: not reported again, but still shown until an authorised inspection.
    now += timedelta(minutes=1)
    up = meter.make_uplink(now)
    # A server reset without the inspector's key on S2 is refused and changes nothing.
    reset = headend.answer(up, commands=(Command(CommandKind.INSPECTION_RESET),))
    assert headend.uplinks[-1].status.tamper_events == ()
    with pytest.raises(DownlinkRejected) as info:
        meter.accept_downlink(reset, now)
    assert info.value.reason == "inspection-without-key"
    assert meter.control.housing is HousingState.TAMPERED
    now += timedelta(minutes=1)
    meter.inspection_key(now)
    assert meter.control.housing is HousingState.INSPECTING_AFTER_TAMPER
    loop.intact = True
    up = meter.make_uplink(now + timedelta(seconds=1))
    reset = headend.answer(up, commands=(Command(CommandKind.INSPECTION_RESET),))
    assert [e.kind for e in headend.uplinks[-1].status.tamper_events] == [
        TamperKind.AUTHORISED_OPENING
    ]
    meter.accept_downlink(reset, now + timedelta(seconds=2))
    assert meter.control.housing is HousingState.SEALED
    assert display(meter, now).flags == ()
    assert display(meter, now).led is Led.GREEN


def test_supply_outage_and_meter_removal_are_told_apart() -> None:
    meter, headend, _ = make_meter(T0, schedules=(schedule(),))
    lost, back = T0 + timedelta(hours=2), T0 + timedelta(hours=5, minutes=30)
    meter.mains_lost(lost)
    found = meter.mains_returned(back)
    assert [(d.kind, d.since, d.until) for d in found] == [
        (DetectionKind.SUPPLY_OUTAGE, lost, back)
    ]
    removed, refitted = T0 + timedelta(days=1, hours=1), T0 + timedelta(days=2, hours=3)
    meter.mains_lost(removed)
    meter.housing_opened(removed + timedelta(minutes=2))
    found = meter.mains_returned(refitted)
    assert found[0].kind is DetectionKind.MODULE_REMOVED
    assert (found[0].since, found[0].until) == (removed, refitted)
    now = refitted + timedelta(minutes=1)
    meter.accept_downlink(headend.answer(meter.make_uplink(now)), now)
    kinds = [(e.kind, e.time) for e in headend.uplinks[-1].status.tamper_events]
    assert kinds == [
        (TamperKind.SUPPLY_OUTAGE, lost),
        (TamperKind.HOUSING_OPENED, removed + timedelta(minutes=2)),
        (TamperKind.MODULE_REMOVED, removed),
    ]
    # Both ends of each gap are also registrations in the authenticated chain.
    events = [r.time for r in headend.accepted if r.kind is RegistrationKind.EVENT]
    assert events == [lost, back, removed, refitted]
    # The clock was kept on battery: still synchronised; the battery paid for 29.5 hours.
    status = headend.uplinks[-1].status
    assert status.clock.name == "SYNCED"
    spent = (back - lost) + (refitted - removed)  # 3.5 h + 26 h
    assert meter.control.power.battery_left == timedelta(days=365) - spent


def test_load_change_closes_a_segment_as_an_event() -> None:

    cfg = MeterConfig("meter-0001", load_step_w=1500)
    meter, _, _ = make_meter(T0, config=cfg, schedules=(schedule(),))
    t = T0 + timedelta(hours=1)
    meter.feed_interval(T0, t, 500.0)
    meter.feed_interval(t, t + Q, 750.0)  # 3 kW after 0.5 kW: a step of 2.5 kW
    events = [r for r in meter.queued_registrations() if r.kind is RegistrationKind.EVENT]
    assert [(r.time, r.registers[1].usage) for r in events] == [(t, 500)]


def test_nothing_flows_while_mains_is_off() -> None:
    meter, _, _ = make_meter(T0, schedules=(schedule(),))
    meter.mains_lost(T0 + timedelta(hours=1))
    assert meter.feed_interval(T0 + timedelta(hours=1), T0 + timedelta(hours=2), 500.0) == 0.0
    meter.mains_returned(T0 + timedelta(hours=2))
    assert meter.feed_interval(T0 + timedelta(hours=2), T0 + timedelta(hours=3), 500.0) == 500.0
    assert meter.counted_units == 500


def test_daily_registrations_follow_local_midnight_across_the_dst_change() -> None:
    from sealmeter.tariff import load_shipped

    german = load_shipped("de-neustadt-donau-ht-nt")  # Europe/Berlin; DST on 29 March 2026
    start = datetime(2026, 3, 27, 23, tzinfo=UTC)  # local midnight starting Saturday 28 March
    meter, _, _ = make_meter(start, schedules=(german,))
    t = start
    while t < datetime(2026, 3, 30, 22, tzinfo=UTC):
        meter.feed_interval(t, t + Q, 250)
        t += Q
    regs = {r.time: r for r in meter.queued_registrations()}
    saturday_end = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 00:00 CET
    sunday_end = datetime(2026, 3, 29, 22, tzinfo=UTC)  # 00:00 CEST: a 23-hour day
    assert saturday_end in regs
    assert sunday_end in regs
    # Saturday: HT 06:00-13:00 local, then NT until midnight (11 h); Sunday is NT all day.
    assert [(x.obis, x.usage) for x in regs[saturday_end].registers] == [
        ("1.8.1", 0),
        ("1.8.2", 11000),
    ]
    assert [(x.obis, x.usage) for x in regs[sunday_end].registers] == [
        ("1.8.1", 0),
        ("1.8.2", 23000),
    ]
    assert regs[sunday_end].registers[1].charge == Decimal("0.2021") * 23


def test_one_long_interval_is_split_at_every_boundary_inside_it() -> None:
    meter, _, _ = make_meter(T0, schedules=(schedule(),))
    meter.feed_interval(T0, T0 + timedelta(days=2), 48000.0)
    regs = meter.queued_registrations()
    assert [(r.time - T0, r.registers[0].usage, r.registers[1].usage) for r in regs] == [
        (timedelta(hours=6), 0, 6000),
        (timedelta(hours=22), 16000, 0),
        (timedelta(hours=24), 0, 2000),
        (timedelta(hours=30), 0, 6000),
        (timedelta(hours=46), 16000, 0),
        (timedelta(hours=48), 0, 2000),
    ]


def test_block_prices_restart_with_each_local_month() -> None:
    tiered = schedule(
        bands=[
            {
                "name": "all",
                "obis": "1.8.0",
                "tiers": [{"price": "0.10", "up_to_kwh": "100"}, {"price": "0.30"}],
            }
        ],
        rules=[
            {
                "days": ["workday", "saturday", "sunday", "holiday"],
                "slots": [{"from": "00:00", "to": "24:00", "band": "all"}],
            }
        ],
    )
    start = datetime(2026, 3, 1, tzinfo=UTC)
    cfg = MeterConfig("tiered", credit=CreditFrame(duration=timedelta(days=90)))
    meter, _, _ = make_meter(start, config=cfg, schedules=(tiered,))
    t = start
    while t < datetime(2026, 4, 3, tzinfo=UTC):  # 4 kWh a day
        meter.feed_interval(t, t + timedelta(hours=6), 1000.0)
        t += timedelta(hours=6)
    regs = meter.queued_registrations()
    march = sum(
        (r.total_charge for r in regs if r.time <= datetime(2026, 4, 1, tzinfo=UTC)), Decimal(0)
    )
    april = sum(
        (r.total_charge for r in regs if r.time > datetime(2026, 4, 1, tzinfo=UTC)), Decimal(0)
    )
    # March: 124 kWh = 100 at 0.10 + 24 at 0.30; April starts again at the first tier.
    assert march == Decimal("10.00") + Decimal("0.30") * 24
    assert april == Decimal("0.10") * 8
