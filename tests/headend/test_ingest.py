"""Ingest on both stores: enable codes, exactly once under duplicates, every rejection logged."""

from __future__ import annotations

import contextlib
import random
import zlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.headend import (
    REJECTION_ANSWER,
    AlertKind,
    BoxKeys,
    HeadEnd,
    HeadEndError,
    MeterState,
    RejectionReason,
)
from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import CommandKind, MeterChain, ProtocolPeerError, Suite, TamperKind
from tests.headend.conftest import T0
from tests.store.conftest import Database

MakeMeter = Callable[..., MeterSide]
USAGE = {"1.8.1": (1200, Decimal("0.36")), "1.8.2": (300, Decimal("0.06"))}


def provisioned(
    he: HeadEnd, make_meter: MakeMeter, meter_id: str = "m1", **kw: object
) -> MeterSide:
    # a stable seed: str hash() changes per process and once picked another test's seed
    m = make_meter(meter_id, seed=1000 + zlib.crc32(meter_id.encode()) % 1000)
    he.provision(m.provisioning("cust-" + meter_id, **kw), T0)  # type: ignore[arg-type]
    return m


def rejections(he: HeadEnd) -> list[RejectionReason]:
    return [r.reason for r in he.list_rejections(limit=1000).items]


def test_authentic_uplink_gets_an_enable_code_and_is_stored(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = provisioned(headend, make_meter)
    for h in (1, 2, 3):
        m.register(T0 + timedelta(hours=h), USAGE)
    now = T0 + timedelta(hours=3)
    down = m.accept(headend.handle_uplink(m.uplink(now), now), now)
    assert down.enable_code is not None
    assert down.enable_code.acked_seq == 3
    assert down.enable_code.expires == now + headend.policy.enable_code_validity
    assert m.queue == []
    regs = headend.list_registrations(meter_id="m1").items
    assert [r.seq for r in regs] == [1, 2, 3]
    assert all(r.charge == Decimal("0.42") and r.usage == 1500 for r in regs)
    codes = headend.list_enable_codes(meter_id="m1").items
    assert [(c.acked_seq, c.nonce) for c in codes] == [(3, m.last_nonce)]
    rec = headend.get_meter("m1")
    assert (rec.state, rec.last_seq, rec.last_seen) == (MeterState.ACTIVE, 3, now)


def test_a_duplicate_delivery_is_acknowledged_again_and_stored_once(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = provisioned(headend, make_meter)
    m.register(T0, USAGE)
    up = m.uplink(T0)
    answers = [headend.handle_uplink(up, T0 + timedelta(seconds=i)) for i in range(4)]
    assert REJECTION_ANSWER not in answers
    for ans in answers:
        down = m.accept(ans, T0)
        assert down.enable_code is not None
        assert down.enable_code.acked_seq == 1
    assert len(headend.list_registrations().items) == 1
    assert len(headend.list_enable_codes().items) == 4
    assert rejections(headend) == []


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1))
def test_exactly_once_under_duplicated_dropped_and_reordered_delivery(
    headend: HeadEnd, box_keys: BoxKeys, seed: int
) -> None:
    """A seeded lossy, duplicating, reordering link: every registration stored exactly once."""
    rng = random.Random(seed)
    he = headend  # shared by the examples; each example has its own meter
    meter_id = f"q{seed}-{len(he.list_meters(limit=1000).items)}"
    m = MeterSide(meter_id, box_keys.public(Suite.EC_MODERN), random.Random(seed))
    he.provision(m.provisioning("c"), T0)
    made = 0
    in_flight: list[bytes] = []
    now = T0
    for _step in range(12):
        now += timedelta(minutes=5)
        for _ in range(rng.randint(0, 2)):
            m.register(now, USAGE)
            made += 1
        in_flight.append(m.uplink(now))
        rng.shuffle(in_flight)
        delivered = [u for u in in_flight if rng.random() < 0.7]
        delivered += rng.sample(in_flight, k=min(len(in_flight), rng.randint(0, 2)))
        for up in delivered:
            answer = he.handle_uplink(up, now)
            if up is in_flight[-1] and answer != REJECTION_ANSWER and rng.random() < 0.8:
                # an answer to an older nonce is ignored by the meter
                with contextlib.suppress(ProtocolPeerError):
                    m.accept(answer, now)
        in_flight = in_flight[-3:]
    # finally a clean exchange flushes the queue
    now += timedelta(minutes=5)
    m.accept(he.handle_uplink(m.uplink(now), now), now)
    stored = [r.seq for r in he.list_registrations(meter_id=meter_id, limit=1000).items]
    assert stored == list(range(1, made + 1)), f"seed {seed}"
    assert m.queue == []


def test_restart_continues_the_chain_exactly(
    database: Database, box_keys: BoxKeys, make_meter: MakeMeter
) -> None:
    he = HeadEnd(database.open(), box_keys)
    m = provisioned(he, make_meter)
    m.register(T0, USAGE)
    m.accept(he.handle_uplink(m.uplink(T0), T0), T0)
    he.close()
    again = HeadEnd(database.open(), box_keys)
    later = T0 + timedelta(hours=1)
    m.register(later, USAGE)
    down = m.accept(again.handle_uplink(m.uplink(later), later), later)
    assert down.enable_code is not None
    assert down.enable_code.acked_seq == 2
    assert [r.seq for r in again.list_registrations().items] == [1, 2]
    again.close()


def test_two_head_ends_alternating_on_one_meter_each_see_the_others_chain(
    database: Database, box_keys: BoxKeys, make_meter: MakeMeter
) -> None:
    # each head-end keeps the chain state it committed; the other's commit must replace it
    first, second = HeadEnd(database.open(), box_keys), HeadEnd(database.open(), box_keys)
    m = provisioned(first, make_meter)
    for h, he in enumerate((first, second, first, second, first), start=1):
        now = T0 + timedelta(hours=h)
        m.register(now, USAGE)
        down = m.accept(he.handle_uplink(m.uplink(now), now), now)
        assert down.enable_code is not None
        assert down.enable_code.acked_seq == h
    assert [r.seq for r in first.list_registrations().items] == [1, 2, 3, 4, 5]
    assert rejections(first) == []
    first.close()
    second.close()


def test_every_rejection_reason_is_recorded(
    headend: HeadEnd, make_meter: MakeMeter, box_keys: BoxKeys
) -> None:
    m = provisioned(headend, make_meter)
    m.register(T0, USAGE)
    good = m.uplink(T0)
    cases: list[tuple[bytes, RejectionReason]] = []
    cases.append((b"\x01\x01", RejectionReason.MALFORMED))
    stranger = make_meter("ghost", seed=9)
    stranger.register(T0, USAGE)
    cases.append((stranger.uplink(T0), RejectionReason.UNKNOWN_METER))
    # sealed to another head-end's keys
    other_box = BoxKeys.generate([Suite.EC_MODERN])
    lost = MeterSide("m1", other_box.public(Suite.EC_MODERN), random.Random(3))
    lost.keys = m.keys
    lost.register(T0, USAGE)
    cases.append((lost.uplink(T0), RejectionReason.WRONG_RECIPIENT))
    # signed by another key claiming to be m1
    forger = make_meter("m1", seed=77)
    forger.register(T0, USAGE)
    cases.append((forger.uplink(T0), RejectionReason.BAD_SIGNATURE))
    # the pinned suite is ec-modern; a nist-p256 envelope is a downgrade attempt
    p256 = make_meter("m1", seed=78, suite=Suite.NIST_P256)
    p256.register(T0, USAGE)
    cases.append((p256.uplink(T0), RejectionReason.SUITE_MISMATCH))
    # a flipped bit in the ciphertext
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x01
    cases.append((bytes(flipped), RejectionReason.BAD_SIGNATURE))
    # right keys, wrong chain key: the MAC chain does not verify
    wrong_chain = make_meter("m1", seed=5)
    wrong_chain.keys = m.keys
    wrong_chain.register(T0, USAGE)
    cases.append((wrong_chain.uplink(T0), RejectionReason.BAD_CHAIN))
    for data, _ in cases:
        assert headend.handle_uplink(data, T0) == REJECTION_ANSWER
    assert rejections(headend) == [reason for _, reason in cases]
    assert headend.list_registrations().items == ()
    assert headend.get_meter("m1").last_seq == 0
    # the genuine uplink still goes through afterwards: nothing above changed state
    assert m.accept(headend.handle_uplink(good, T0), T0).enable_code is not None
    alerts = {a.kind for a in headend.list_alerts().items}
    assert AlertKind.REJECTED_UPLINK in alerts


def test_chain_attacks_are_rejected_with_their_reason(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = provisioned(headend, make_meter)
    for h in range(3):
        m.register(T0 + timedelta(hours=h), USAGE)
    first, second, third = m.queue
    # a gap: registration 2 and 3 without 1
    m.queue = [second, third]
    assert headend.handle_uplink(m.uplink(T0), T0) == REJECTION_ANSWER
    # reordered within one uplink
    m.queue = [first, second, first]
    assert headend.handle_uplink(m.uplink(T0), T0) == REJECTION_ANSWER
    m.queue = [first, second, third]
    m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    # an edited copy of an accepted registration (same seq, different usage)
    edited = replace(second, registers=(replace(second.registers[0], usage=1),))
    m.queue = [edited]
    assert headend.handle_uplink(m.uplink(T0), T0) == REJECTION_ANSWER
    reasons = rejections(headend)
    assert reasons[:2] == [RejectionReason.SEQUENCE_GAP, RejectionReason.REORDERED]
    assert reasons[2] in (RejectionReason.DUPLICATE_CONFLICT, RejectionReason.BAD_CHAIN)
    assert [a.kind for a in headend.list_alerts(kind=AlertKind.SEQUENCE_GAP).items] == [
        AlertKind.SEQUENCE_GAP
    ]
    assert [r.seq for r in headend.list_registrations().items] == [1, 2, 3]


def test_old_registrations_beyond_the_window_are_a_replay(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = provisioned(headend, make_meter)
    m.register(T0, USAGE)
    old = m.uplink(T0)
    m.accept(headend.handle_uplink(old, T0), T0)
    for i in range(70):
        m.register(T0 + timedelta(minutes=i + 1), USAGE)
    now = T0 + timedelta(hours=2)
    m.accept(headend.handle_uplink(m.uplink(now), now), now)
    assert headend.handle_uplink(old, now) == REJECTION_ANSWER
    assert rejections(headend) == [RejectionReason.REPLAY]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_flipped_bit_is_rejected_and_changes_nothing(
    headend: HeadEnd, make_meter: MakeMeter, pos: int, bit: int
) -> None:
    meter_id = "flip"
    m = make_meter(meter_id, seed=4)
    if not headend.list_meters().items:  # hypothesis reuses the head-end between examples
        headend.provision(m.provisioning("c"), T0)
    m.queue = []
    m.chain = MeterChain.start(m.chain_key)
    m.register(T0, USAGE)
    data = bytearray(m.uplink(T0))
    data[pos % len(data)] ^= 1 << bit
    before = headend.get_meter(meter_id)
    assert headend.handle_uplink(bytes(data), T0) == REJECTION_ANSWER
    assert headend.get_meter(meter_id) == before
    assert headend.list_registrations(meter_id=meter_id).items == ()


def test_a_blocked_meter_gets_a_block_command_and_no_enable_code(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = provisioned(headend, make_meter)
    headend.block("m1", "unpaid bills")
    m.register(T0, USAGE)
    down = m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    assert down.enable_code is None
    assert [c.kind for c in down.commands] == [CommandKind.BLOCK]
    assert len(headend.list_registrations().items) == 1  # data is still stored
    headend.unblock("m1")
    later = T0 + timedelta(hours=1)
    down = m.accept(headend.handle_uplink(m.uplink(later), later), later)
    assert [c.kind for c in down.commands] == [CommandKind.UNBLOCK]
    assert down.enable_code is not None
    even_later = later + timedelta(hours=1)
    down = m.accept(headend.handle_uplink(m.uplink(even_later), even_later), even_later)
    assert down.commands == ()  # the unblock command went out once


def test_a_decommissioned_meter_is_refused(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = provisioned(headend, make_meter)
    headend.decommission("m1")
    m.register(T0, USAGE)
    assert headend.handle_uplink(m.uplink(T0), T0) == REJECTION_ANSWER
    assert rejections(headend) == [RejectionReason.DECOMMISSIONED]


def test_tamper_reports_raise_alerts_once(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = provisioned(headend, make_meter)
    status = m.status(T0, ((TamperKind.HOUSING_OPENED, T0 - timedelta(minutes=3)),))
    up = m.uplink(T0, status)
    headend.handle_uplink(up, T0)
    headend.handle_uplink(up, T0)  # re-delivered: still one alert
    tamper = headend.list_alerts(kind=AlertKind.TAMPER).items
    assert len(tamper) == 1
    assert tamper[0].meter_id == "m1"
    assert "housing opened" in tamper[0].detail


def test_many_uplinks_in_one_batch(headend: HeadEnd, make_meter: MakeMeter) -> None:
    meters = [provisioned(headend, make_meter, f"b{i}") for i in range(5)]
    for m in meters:
        m.register(T0, USAGE)
    ups = [m.uplink(T0) for m in meters]
    answers = headend.handle_uplinks([*ups, b"junk", ups[0]], T0)
    assert answers[5] == REJECTION_ANSWER
    for m, ans in zip(meters, answers[:5], strict=True):
        assert m.accept(ans, T0).enable_code is not None
    assert headend.metrics()["registrations"] == 5


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600) | st.builds(lambda b: b"\x01\x01\x55" + b, st.binary()))
def test_garbage_gets_the_opaque_answer_and_a_logged_reason(headend: HeadEnd, data: bytes) -> None:
    before = headend.metrics()["rejections"]
    assert headend.handle_uplink(data, T0) == REJECTION_ANSWER
    after = headend.list_rejections(limit=1000).items
    assert len(after) == before + 1
    assert after[-1].reason in (RejectionReason.MALFORMED, RejectionReason.UNKNOWN_METER)
    assert after[-1].size == len(data)


def test_health_metrics_and_schedule_assignment(headend: HeadEnd, make_meter: MakeMeter) -> None:
    from tests.headend.test_billing import HTNT

    health = headend.health()
    assert health.ok
    assert health.store in ("sqlite", "postgresql")
    m = provisioned(headend, make_meter)
    headend.publish_schedule(HTNT, T0)
    rec = headend.assign_schedule("m1", "de-swn-donau-ht-nt")
    assert rec.schedule_id == "de-swn-donau-ht-nt"
    assert [d.meter_id for d in headend.schedule_deliveries(pending_only=True)] == ["m1"]
    m.register(T0, USAGE)
    m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    metrics = headend.metrics()
    assert metrics["uplinks_accepted"] == 1
    assert metrics["registrations"] == 1
    assert headend.health().registrations == 1


def test_threads_sharing_one_head_end_store_each_registration_once(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    import threading

    meters = [provisioned(headend, make_meter, f"th{i}") for i in range(4)]
    uplinks = []
    for m in meters:
        for h in range(3):
            m.register(T0 + timedelta(hours=h), USAGE)
            uplinks.append(m.uplink(T0 + timedelta(hours=h)))  # cumulative: no acks fed back
    answers: list[bytes] = []
    lock = threading.Lock()

    def work(order: int) -> None:
        mine = list(uplinks)
        random.Random(order).shuffle(mine)
        got = [headend.handle_uplink(u, T0 + timedelta(hours=4)) for u in mine]
        with lock:
            answers.extend(got)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(answers) == 4 * len(uplinks)
    assert REJECTION_ANSWER not in answers
    regs = headend.list_registrations(limit=1000).items
    assert sorted((r.meter_id, r.seq) for r in regs) == sorted(
        (m.meter_id, s) for m in meters for s in (1, 2, 3)
    )


def test_a_symmetric_suite_meter_is_served_with_its_sealed_secret(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = make_meter("sym1", seed=8, suite=Suite.SYMMETRIC)
    headend.provision(m.provisioning("c"), T0)
    assert m.keys.secret is not None
    assert m.keys.secret not in headend.store.get_meter("sym1").public_keys  # sealed at rest
    m.register(T0, USAGE)
    down = m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    assert down.enable_code is not None
    assert down.enable_code.acked_seq == 1
    # an ec-modern envelope claiming to be this meter is a suite change: refused
    other = make_meter("sym1", seed=9)
    other.register(T0, USAGE)
    assert headend.handle_uplink(other.uplink(T0), T0) == REJECTION_ANSWER
    assert rejections(headend) == [RejectionReason.SUITE_MISMATCH]
    with pytest.raises(HeadEndError, match="no public key"):
        headend.meter_public_keys("sym1")


def _claiming(envelope: bytes, meter_id: bytes) -> bytes:
    """`envelope` with its header's meter id replaced (version, suite, direction, then it)."""
    size = envelope[3]
    return envelope[:3] + bytes([len(meter_id)]) + meter_id + envelope[4 + size :]


# ids a header can claim (1 to 255 bytes of UTF-8) that no store can keep as an id
_UNSTORABLE_IDS = [b"x" * 65, b"m\x00", b"tab\tid", "z\u00e4hler\u2028".encode(), b"\x7f"]


@pytest.mark.parametrize("claimed", _UNSTORABLE_IDS, ids=lambda b: repr(b[:8]))
def test_a_header_no_meter_id_can_be_fails_only_itself(
    headend: HeadEnd, make_meter: MakeMeter, claimed: bytes
) -> None:
    # PostgreSQL refuses NUL and over-long values: an unauthenticated header must not be able
    # to fail the batch it arrives in (the genuine uplink beside it is stored and answered)
    m = provisioned(headend, make_meter)
    m.register(T0, USAGE)
    genuine = m.uplink(T0)
    forged = _claiming(genuine, claimed)
    answers = headend.handle_uplinks([forged, genuine], T0)
    assert answers[0] == REJECTION_ANSWER
    assert m.accept(answers[1], T0).enable_code is not None
    assert headend.metrics()["registrations"] == 1
    (rejection,) = headend.list_rejections().items
    assert (rejection.reason, rejection.meter_id) == (RejectionReason.UNKNOWN_METER, None)
    assert "no meter can have" in rejection.detail


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(claimed=st.text(min_size=1, max_size=90).filter(lambda t: len(t.encode()) <= 255))
def test_any_claimed_meter_id_is_answered_and_the_batch_goes_on(
    headend: HeadEnd, make_meter: MakeMeter, claimed: str
) -> None:
    meter_id = f"g{headend.metrics()['meters']}"
    m = provisioned(headend, make_meter, meter_id)
    m.register(T0, USAGE)
    genuine = m.uplink(T0)
    answers = headend.handle_uplinks([_claiming(genuine, claimed.encode()), genuine], T0)
    if claimed != meter_id:
        assert answers[0] == REJECTION_ANSWER
    assert m.accept(answers[1], T0).enable_code is not None
    assert len(headend.list_registrations(meter_id=meter_id).items) == 1


@pytest.mark.parametrize("schedule_id", ["s" * 65, "nul\x00", "line\nbreak"])
def test_an_authentic_uplink_naming_an_unstorable_schedule_id_is_refused_alone(
    headend: HeadEnd, make_meter: MakeMeter, schedule_id: str
) -> None:
    bad = provisioned(headend, make_meter, "bad")
    good = provisioned(headend, make_meter, "good")
    bad.register(T0, USAGE, schedule_id=schedule_id, schedule_version=1)
    good.register(T0, USAGE)
    answers = headend.handle_uplinks([bad.uplink(T0), good.uplink(T0)], T0)
    assert answers[0] == REJECTION_ANSWER
    assert good.accept(answers[1], T0).enable_code is not None
    assert [r.meter_id for r in headend.list_registrations().items] == ["good"]
    (rejection,) = headend.list_rejections().items
    assert (rejection.reason, rejection.meter_id) == (RejectionReason.MALFORMED, "bad")
    assert "schedule id" in rejection.detail
    # the status names one too: refused the same way, nothing confirmed
    status = bad.status(T0, schedule_id=schedule_id, schedule_version=1)
    bad.queue.clear()
    bad.register(T0 + timedelta(minutes=1), USAGE)
    assert headend.handle_uplink(bad.uplink(T0, status), T0) == REJECTION_ANSWER
    assert headend.get_meter("bad").last_seq == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"meter_id": "n\x00"},
        {"meter_id": "x" * 65},
        {"feeder": "f" * 65},
        {"feeder": "f\x00"},
        {"customer_ref": "c" * 129},
        {"customer_ref": "c\x00"},
    ],
    ids=lambda c: f"{next(iter(c))}:{next(iter(c.values()))[:3]!r}",
)
def test_provisioning_refuses_what_no_store_can_keep(
    headend: HeadEnd, make_meter: MakeMeter, changes: dict[str, str]
) -> None:
    request = replace(make_meter("ok").provisioning("cust"), **changes)  # type: ignore[arg-type]
    with pytest.raises(HeadEndError, match="printable characters"):
        headend.provision(request, T0)
    assert headend.metrics()["meters"] == 0


@pytest.mark.parametrize(
    "usage",
    [
        {"1.8.0": (2**63, Decimal("0.5"))},
        {"1.8.1": (2**62 + 1, Decimal("1")), "1.8.2": (2**62, Decimal("1"))},
        {"1.8.0": (2**64 - 1, Decimal("0.5"))},
    ],
    ids=["one", "sum", "u64-max"],
)
def test_an_authentic_usage_beyond_the_stores_integers_is_refused_alone(
    headend: HeadEnd, make_meter: MakeMeter, usage: dict[str, tuple[int, Decimal]]
) -> None:
    # the wire carries u64 usages; the stores hold signed 64-bit totals: before, such an
    # uplink failed its whole batch (an OverflowError on SQLite, a DataError on PostgreSQL)
    bad = provisioned(headend, make_meter, "big")
    good = provisioned(headend, make_meter, "good")
    bad.register(T0, usage)
    good.register(T0, USAGE)
    answers = headend.handle_uplinks([bad.uplink(T0), good.uplink(T0)], T0)
    assert answers[0] == REJECTION_ANSWER
    assert good.accept(answers[1], T0).enable_code is not None
    assert [r.meter_id for r in headend.list_registrations().items] == ["good"]
    (rejection,) = headend.list_rejections().items
    assert (rejection.reason, rejection.meter_id) == (RejectionReason.MALFORMED, "big")
    assert "usage of" in rejection.detail
    # the largest total the stores hold is stored as it is
    fits = provisioned(headend, make_meter, "fits")
    fits.register(T0, {"1.8.1": (2**63 - 2, Decimal("1")), "1.8.2": (1, Decimal("1"))})
    assert fits.accept(headend.handle_uplink(fits.uplink(T0), T0), T0).enable_code is not None
    (stored,) = headend.list_registrations(meter_id="fits").items
    assert stored.usage == 2**63 - 1


def test_an_authentic_schedule_version_beyond_the_stores_is_refused_alone(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    # the wire carries u32 versions, PostgreSQL's integer column a signed 32-bit one
    bad = provisioned(headend, make_meter, "v")
    good = provisioned(headend, make_meter, "good")
    bad.register(T0, USAGE, schedule_version=2**31)
    good.register(T0, USAGE)
    answers = headend.handle_uplinks([bad.uplink(T0), good.uplink(T0)], T0)
    assert answers[0] == REJECTION_ANSWER
    assert good.accept(answers[1], T0).enable_code is not None
    (rejection,) = headend.list_rejections().items
    assert (rejection.reason, rejection.meter_id) == (RejectionReason.MALFORMED, "v")
    assert "schedule version 2147483648" in rejection.detail
