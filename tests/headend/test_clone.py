"""A cloned meter: whichever copy reports second rewrites an accepted registration.

A perfect copy of a meter's secrets that reports first is indistinguishable from the meter at
that moment; the head-end learns of it when the other copy reports: an uplink signed with the
meter's key whose registration differs from the one accepted under the same number. That must
raise a critical `clone_suspected` alert, whichever copy came first, that tells the operator
to block the id (which stops enable codes for both copies).
"""

from __future__ import annotations

import copy
import zlib
from datetime import timedelta
from decimal import Decimal

import pytest

from sealmeter.headend import REJECTION_ANSWER, HeadEnd
from sealmeter.headend.testing import MeterSide
from sealmeter.store import AlertKind, FleetState, RejectionReason, Severity
from tests.headend.conftest import T0

from .test_ingest import MakeMeter

GENUINE = {"1.8.1": (900, Decimal("0.27"))}
FORGED = {"1.8.1": (10, Decimal("0.01"))}


def _provisioned(he: HeadEnd, make_meter: MakeMeter) -> MeterSide:
    m = make_meter("m1", seed=2000 + zlib.crc32(b"m1") % 1000)
    he.provision(m.provisioning("cust-m1"), T0)
    m.register(T0, GENUINE)
    assert m.accept(he.handle_uplink(m.uplink(T0), T0), T0).enable_code is not None
    return m


def _clone_alerts(he: HeadEnd) -> list[str]:
    alerts = he.list_alerts(kind=AlertKind.CLONE_SUSPECTED, limit=100).items
    assert all(a.severity is Severity.CRITICAL and a.meter_id == "m1" for a in alerts)
    return [a.detail for a in alerts]


@pytest.mark.parametrize("first", ["clone", "genuine"])
def test_the_second_copy_to_report_raises_a_critical_clone_alert(
    headend: HeadEnd, make_meter: MakeMeter, first: str
) -> None:
    genuine = _provisioned(headend, make_meter)
    clone = copy.deepcopy(genuine)  # keys, chain key and chain state copied out of the module
    early, late = (clone, genuine) if first == "clone" else (genuine, clone)
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    early.register(t1, FORGED if early is clone else GENUINE)
    assert early.accept(headend.handle_uplink(early.uplink(t1), t1), t1).enable_code is not None
    assert _clone_alerts(headend) == []
    late.register(t2, FORGED if late is clone else GENUINE)
    assert headend.handle_uplink(late.uplink(t2), t2) == REJECTION_ANSWER
    reasons = [r.reason for r in headend.list_rejections(limit=100).items]
    assert reasons == [RejectionReason.DUPLICATE_CONFLICT]
    [detail] = _clone_alerts(headend)
    assert "decommission m1" in detail
    assert "registration 2" in detail
    # the fleet view shows the meter as tampered while the alert is open
    assert headend.fleet(t2).counts.get(FleetState.TAMPERED) == 1
    # the operator blocks the id as the alert says: no copy gets an enable code any more
    t3 = T0 + timedelta(hours=3)
    headend.block("m1", "suspected clone: inspection ordered", t3)
    early.register(t3, GENUINE)
    down = early.accept(headend.handle_uplink(early.uplink(t3), t3), t3)
    assert down.enable_code is None
    assert [r.seq for r in headend.list_registrations().items] == [1, 2, 3]
    # the second copy keeps conflicting: still one clone alert (deduplicated), never a code
    late.register(t3, GENUINE)
    assert headend.handle_uplink(late.uplink(t3), t3) == REJECTION_ANSWER
    assert len(_clone_alerts(headend)) == 1


def test_an_ordinary_duplicate_or_forgery_is_no_clone(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = _provisioned(headend, make_meter)
    t1 = T0 + timedelta(hours=1)
    m.register(t1, GENUINE)
    up = m.uplink(t1)
    assert m.accept(headend.handle_uplink(up, t1), t1).enable_code is not None
    # the same uplink delivered again: acknowledged again, stored once, no alert
    assert headend.handle_uplink(up, t1) != REJECTION_ANSWER
    # a stranger's key claiming the meter: a bad signature, not a clone
    forger = make_meter("m1", seed=4242)
    forger.register(t1, FORGED)
    assert headend.handle_uplink(forger.uplink(t1), t1) == REJECTION_ANSWER
    assert _clone_alerts(headend) == []
    assert len(headend.list_registrations().items) == 2
