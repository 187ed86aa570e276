"""Watching the fleet (silence, credit frame, outage vs removal, tamper) and the meter lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from sealmeter.headend import (
    AlertKind,
    BadTransition,
    FleetState,
    HeadEnd,
    HeadEndError,
    MeterState,
    Provisioning,
)
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import TamperKind
from sealmeter.store import AlreadyExists, NotFound
from tests.headend.conftest import T0

MakeMeter = Callable[..., MeterSide]


def _report(
    he: HeadEnd, m: MeterSide, at: datetime, tamper: tuple[tuple[TamperKind, datetime], ...] = ()
) -> None:
    status = m.status(at, tamper) if tamper else None
    he.handle_uplink(m.uplink(at, status), at)


def test_silent_then_expected_blocked(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = make_meter("s1")
    headend.provision(
        m.provisioning("c", report_interval=timedelta(days=1), credit_frame=timedelta(days=3)), T0
    )
    assert headend.fleet(T0).counts[FleetState.NEVER_SEEN] == 1
    _report(headend, m, T0)
    assert headend.fleet(T0 + timedelta(hours=2)).counts[FleetState.REPORTING] == 1
    assert headend.watch(T0 + timedelta(hours=20)) == []
    silent = headend.watch(T0 + timedelta(days=1, hours=2))
    assert [a.kind for a in silent] == [AlertKind.SILENT]
    assert headend.watch(T0 + timedelta(days=1, hours=3)) == []  # raised once
    assert headend.fleet(T0 + timedelta(days=2)).counts[FleetState.SILENT] == 1
    blocked = headend.watch(T0 + timedelta(days=3, hours=1))
    assert [a.kind for a in blocked] == [AlertKind.EXPECTED_BLOCKED]
    assert headend.fleet(T0 + timedelta(days=4)).counts[FleetState.EXPECTED_BLOCKED] == 1
    _report(headend, m, T0 + timedelta(days=4))  # reporting again
    assert headend.fleet(T0 + timedelta(days=4)).counts[FleetState.REPORTING] == 1


def test_power_loss_on_many_meters_of_a_feeder_is_an_outage(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    loss = T0 - timedelta(minutes=30)
    meters = []
    for i in range(4):
        m = make_meter(f"f{i}", seed=i)
        headend.provision(m.provisioning(f"c{i}", feeder="feeder-A"), T0)
        meters.append(m)
    lone = make_meter("lone", seed=99)
    headend.provision(lone.provisioning("c-lone", feeder="feeder-B"), T0)
    for i, m in enumerate(meters[:3]):
        _report(headend, m, T0, ((TamperKind.SUPPLY_OUTAGE, loss + timedelta(seconds=20 * i)),))
    _report(headend, lone, T0, ((TamperKind.DISCONNECTION, loss),))
    assert headend.watch(T0) == []  # too early: neighbours may still report
    later = T0 + timedelta(hours=2)
    new = headend.watch(later)
    kinds = sorted((a.kind.value, a.feeder, a.meter_id) for a in new)
    assert kinds == [
        ("outage", "feeder-A", None),
        ("suspected_removal", "feeder-B", "lone"),
    ]
    assert [a.kind for a in headend.watch(later)] == []  # classified once


def test_tamper_marks_the_meter_until_acknowledged(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = make_meter("t1")
    headend.provision(m.provisioning("c"), T0)
    _report(headend, m, T0, ((TamperKind.SEAL_LOOP_BROKEN, T0 - timedelta(minutes=1)),))
    assert headend.fleet(T0).counts[FleetState.TAMPERED] == 1
    (alert,) = headend.list_alerts(kind=AlertKind.TAMPER, open_only=True).items
    headend.acknowledge_alert(alert.alert_id, T0)
    assert headend.fleet(T0).counts[FleetState.REPORTING] == 1


def test_lifecycle_refuses_illegal_moves(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = make_meter("l1")
    headend.provision(m.provisioning("c"), T0)
    with pytest.raises(BadTransition, match="provisioned; it cannot be unblocked"):
        headend.unblock("l1")
    assert headend.block("l1", "fraud").state is MeterState.BLOCKED
    with pytest.raises(BadTransition, match="blocked"):
        headend.block("l1", "again")
    assert headend.decommission("l1").state is MeterState.DECOMMISSIONED
    with pytest.raises(BadTransition, match="decommissioned"):
        headend.roll_keys("l1", m.keys.public().to_bytes())
    with pytest.raises(NotFound):
        headend.block("nobody", "x")


def test_provisioning_checks_its_input(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = make_meter("p1")
    good = m.provisioning("c")
    headend.provision(good, T0)
    with pytest.raises(AlreadyExists):
        headend.provision(good, T0)
    bad: list[tuple[Provisioning, str]] = [
        (_with(good, meter_id="p2", chain_key=b"short"), "chain key"),
        (_with(good, meter_id="p3", suite="rot13"), "unknown suite"),
        (_with(good, meter_id="p4", public_keys=b"junk"), "unusable"),
        (_with(good, meter_id="p5", suite="nist-p256"), "pinned"),
        (_with(good, meter_id="p6", schedule_id="nope"), "not published"),
        (_with(good, meter_id="p7", credit_frame=timedelta(0)), "positive"),
        (_with(good, meter_id="p8", suite="symmetric"), "shared secret"),
        (_with(good, meter_id=""), "1 to 64"),
    ]
    for request, match in bad:
        with pytest.raises(HeadEndError, match=match):
            headend.provision(request, T0)
    assert [x.meter_id for x in headend.list_meters().items] == ["p1"]


def test_key_rollover_takes_the_new_keys(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = make_meter("k1")
    headend.provision(m.provisioning("c"), T0)
    old_keys = m.keys
    fresh = make_meter("k1", seed=42)
    rec = headend.roll_keys("k1", fresh.keys.public().to_bytes())
    assert rec.key_version == 2
    m.register(T0, {"1.8.1": (5, Decimal("0.01"))})
    assert headend.handle_uplink(m.uplink(T0), T0) != b""  # answered (rejected: old keys)
    assert headend.list_registrations().items == ()
    m.keys = fresh.keys
    assert m.accept(headend.handle_uplink(m.uplink(T0), T0), T0).enable_code is not None
    assert old_keys is not m.keys


def _with(p: Provisioning, **changes: object) -> Provisioning:
    return replace(p, **changes)  # type: ignore[arg-type]
