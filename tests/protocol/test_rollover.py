"""Key rollover payloads: codec round trips, garbage, and every forged or replayed rollover."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.protocol import (
    ROLLOVER_SALT_SIZE,
    BadSignature,
    HeadEndChain,
    KeyAnnouncement,
    MalformedMessage,
    PrivateKeys,
    ProtocolPeerError,
    ProtocolUsageError,
    ReaddressedMessage,
    RolloverOp,
    RolloverOrder,
    Suite,
    SuiteDowngrade,
    TrailingData,
    TruncatedMessage,
    UnexpectedRollover,
    UnsupportedVersion,
    Uplink,
    WrongSender,
    announce,
    decode_announcement,
    decode_order,
    decode_uplink,
    derive_symmetric,
    encode_announcement,
    encode_order,
    encode_uplink,
    generate_keys,
    headend_order,
    open_announced_uplink,
    open_uplink,
    renew_order,
    seal_uplink,
    verify_announcement,
    verify_order,
)

from .conftest import CHAIN_KEY, METER_ID, NONCE, T0, Parties, parties_for, sealed_registrations

SALT = bytes(range(ROLLOVER_SALT_SIZE))
FAST = [Suite.EC_MODERN, Suite.NIST_P256, Suite.SYMMETRIC]


def _renewed(parties: Parties, epoch: int = 2) -> tuple[PrivateKeys, KeyAnnouncement]:
    old = parties.meter
    if old.suite is Suite.SYMMETRIC:
        new = derive_symmetric(old, meter_id=METER_ID, epoch=epoch, salt=SALT)
    else:
        new = generate_keys(old.suite)
    return new, announce(meter_id=METER_ID, epoch=epoch, seq=4, old=old, new=new)


def _announced_uplink(
    parties: Parties, new: PrivateKeys, ann: KeyAnnouncement, *, seq_count: int = 3
) -> bytes:
    regs, _ = sealed_registrations(seq_count)
    up = Uplink(METER_ID, T0, NONCE, tuple(regs), None, encode_announcement(ann))
    box = new.public() if new.suite is Suite.SYMMETRIC else parties.headend.public()
    return seal_uplink(up, meter=new, headend=box, seed=bytes(32))


def _open(parties: Parties, data: bytes, epoch: int = 2) -> tuple[object, object]:
    box = parties.headend
    return open_announced_uplink(
        data,
        headend=box,
        meter=parties.meter.public(),
        meter_id=METER_ID,
        chain=HeadEndChain.start(CHAIN_KEY),
        epoch=epoch,
        salt=SALT if box.suite is Suite.SYMMETRIC else b"",
    )


# -- codec ----------------------------------------------------------------------------------


@pytest.mark.parametrize("suite", FAST, ids=[s.value for s in FAST])
def test_orders_and_announcements_round_trip_canonically(suite: Suite) -> None:
    parties = parties_for(suite)
    orders = [renew_order(METER_ID, suite, 7, SALT if suite is Suite.SYMMETRIC else b"")]
    if suite is not Suite.SYMMETRIC:
        orders.append(headend_order(METER_ID, 2, generate_keys(suite)))
    for order in orders:
        data = encode_order(order)
        assert decode_order(data) == order
        assert encode_order(decode_order(data)) == data
        with pytest.raises(TrailingData):
            decode_order(data + b"\x00")
        for cut in range(len(data)):
            with pytest.raises(TruncatedMessage):
                decode_order(data[:cut])
    _, ann = _renewed(parties)
    data = encode_announcement(ann)
    assert decode_announcement(data) == ann
    assert encode_announcement(decode_announcement(data)) == data
    with pytest.raises(TrailingData):
        decode_announcement(data + b"\x01")
    for cut in range(len(data)):
        with pytest.raises(TruncatedMessage):
            decode_announcement(data[:cut])


def test_an_uplink_without_announcement_is_byte_identical_to_before() -> None:
    regs, _ = sealed_registrations(2)
    plain = Uplink(METER_ID, T0, NONCE, tuple(regs))
    data = encode_uplink(plain)
    assert data.endswith(b"\x00")  # ends at the status flag: no trailer at all
    ann = encode_announcement(_renewed(parties_for(Suite.EC_MODERN))[1])
    extended = encode_uplink(replace(plain, key_announcement=ann))
    assert extended == data + b"\x01" + len(ann).to_bytes(2) + ann
    assert decode_uplink(extended).key_announcement == ann
    for bad in (
        data + b"\x02" + extended[len(data) + 1 :],  # unknown trailer tag
        data + b"\x01\x00\x00",  # an empty announcement is no trailer
        extended[:-1],  # cut
        extended + b"\x00",  # more after the trailer
        data + b"\x01\x00\x27" + b"\x01\x12" + bytes(37),  # not an announcement's type
    ):
        with pytest.raises(TrailingData):
            decode_uplink(bad)
    with pytest.raises(ProtocolUsageError):
        Uplink(METER_ID, T0, NONCE, key_announcement=b"\x01\x11junk")


def test_version_and_type_are_checked() -> None:
    data = encode_order(renew_order(METER_ID, Suite.EC_MODERN, 2))
    with pytest.raises(UnsupportedVersion):
        decode_order(b"\x02" + data[1:])
    with pytest.raises(MalformedMessage):
        decode_announcement(data)  # an order is not an announcement
    with pytest.raises(MalformedMessage):
        decode_order(data[:2] + b"\x09" + data[3:])  # unknown op


@given(st.binary(max_size=400))
def test_any_bytes_give_a_payload_or_a_typed_error(data: bytes) -> None:
    for decoder in (decode_order, decode_announcement):
        with contextlib.suppress(MalformedMessage):
            decoder(data)


@given(st.data())
def test_mutated_payloads_give_a_payload_or_a_typed_error(data: st.DataObject) -> None:
    parties = parties_for(Suite.EC_MODERN)
    _, ann = _renewed(parties)
    for blob, decoder in (
        (encode_announcement(ann), decode_announcement),
        (encode_order(headend_order(METER_ID, 2, parties.headend)), decode_order),
    ):
        raw = bytearray(blob)
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
        with contextlib.suppress(MalformedMessage):
            decoder(bytes(raw))


def test_invalid_payloads_cannot_be_built() -> None:
    with pytest.raises(ProtocolUsageError):
        renew_order(METER_ID, Suite.SYMMETRIC, 2)  # the symmetric suite needs a salt
    with pytest.raises(ProtocolUsageError):
        RolloverOrder(RolloverOp.HEADEND_KEYS, Suite.SYMMETRIC, METER_ID, 2, b"k", proof=b"p")
    with pytest.raises(ProtocolUsageError):
        renew_order("", Suite.EC_MODERN, 2)
    with pytest.raises(ProtocolUsageError):
        renew_order(METER_ID, Suite.EC_MODERN, 2**32)


# -- orders -----------------------------------------------------------------------------------


def test_a_headend_order_proves_possession_and_is_bound_to_meter_and_suite() -> None:
    parties = parties_for(Suite.EC_MODERN)
    new_box = generate_keys(Suite.EC_MODERN)
    order = headend_order(METER_ID, 2, new_box)
    got = verify_order(order, meter_id=METER_ID, suite=Suite.EC_MODERN)
    assert got == new_box.public()
    with pytest.raises(ReaddressedMessage):
        verify_order(order, meter_id="SM-0002", suite=Suite.EC_MODERN)
    with pytest.raises(SuiteDowngrade):
        verify_order(order, meter_id=METER_ID, suite=Suite.NIST_P256)
    with pytest.raises(UnexpectedRollover):
        verify_order(order, meter_id=METER_ID, suite=Suite.EC_MODERN, current=new_box.public())
    # an attacker swaps in keys whose private half it does not hold, or edits the epoch
    other = parties.headend.public().to_bytes()
    for forged in (
        dataclasses.replace(order, new_keys=other),
        dataclasses.replace(order, epoch=3),
        dataclasses.replace(order, meter_id="SM-0002"),
    ):
        with pytest.raises((BadSignature, ReaddressedMessage)):
            verify_order(forged, meter_id=forged.meter_id, suite=Suite.EC_MODERN)
    with pytest.raises(MalformedMessage):
        verify_order(
            dataclasses.replace(order, new_keys=b"SMPK\x01\x01junk"),
            meter_id=METER_ID,
            suite=Suite.EC_MODERN,
        )


# -- announcements ----------------------------------------------------------------------------


@pytest.mark.parametrize("suite", FAST, ids=[s.value for s in FAST])
def test_an_announced_uplink_opens_and_yields_the_new_keys(suite: Suite) -> None:
    parties = parties_for(suite)
    new, ann = _renewed(parties)
    opened, got = _open(parties, _announced_uplink(parties, new, ann))
    assert got == new.public()
    assert [r.seq for r in opened.accepted] == [1, 2, 3]  # type: ignore[attr-defined]


@pytest.mark.parametrize("suite", FAST, ids=[s.value for s in FAST])
def test_every_single_byte_change_of_an_announced_uplink_is_rejected(suite: Suite) -> None:
    parties = parties_for(suite)
    new, ann = _renewed(parties)
    data = _announced_uplink(parties, new, ann, seq_count=1)
    for pos in range(0, len(data), 3):
        raw = bytearray(data)
        raw[pos] ^= 0x01
        with pytest.raises(ProtocolPeerError):
            _open(parties, bytes(raw))


@pytest.mark.parametrize("suite", FAST, ids=[s.value for s in FAST])
def test_forged_and_replayed_announcements_are_rejected(suite: Suite) -> None:
    parties = parties_for(suite)
    new, ann = _renewed(parties)
    old_pub = parties.meter.public()
    derived = new.public() if suite is Suite.SYMMETRIC else None

    def check(a: KeyAnnouncement, *, epoch: int = 2, meter_id: str = METER_ID) -> None:
        verify_announcement(a, meter_id=meter_id, old=old_pub, epoch=epoch, derived=derived)

    check(ann)
    with pytest.raises(UnexpectedRollover):
        check(ann, epoch=3)  # a replay of an earlier (or later) renewal
    with pytest.raises(ReaddressedMessage):
        check(ann, meter_id="SM-0002")
    with pytest.raises((BadSignature, MalformedMessage, UnexpectedRollover)):
        check(replace(ann, seq=5))  # rebound to another chain position
    with pytest.raises(BadSignature):
        check(replace(ann, endorsement=bytes(len(ann.endorsement))))
    with pytest.raises(BadSignature):
        check(replace(ann, proof=bytes(len(ann.proof))))
    # an intruder's keys, "endorsed" by the intruder itself (the meter's old key never signed)
    intruder = (
        derive_symmetric(new, meter_id=METER_ID, epoch=2, salt=SALT)
        if suite is Suite.SYMMETRIC
        else generate_keys(suite)
    )
    fake = announce(meter_id=METER_ID, epoch=2, seq=4, old=intruder, new=intruder)
    with pytest.raises(UnexpectedRollover):  # names the intruder's key as the old one
        check(fake)
    fake = replace(fake, old_key_id=old_pub.key_id)
    with pytest.raises((BadSignature, MalformedMessage)):
        check(fake)


def test_an_attacker_without_the_old_key_cannot_announce_its_own() -> None:
    parties = parties_for(Suite.EC_MODERN)
    attacker = generate_keys(Suite.EC_MODERN)
    # the attacker signs with its own key both as "new" and "old": the pinned key never did
    ann = announce(meter_id=METER_ID, epoch=2, seq=1, old=attacker, new=attacker)
    ann = replace(ann, old_key_id=parties.meter.key_id)
    with pytest.raises(ProtocolPeerError):
        _open(parties, _announced_uplink(parties, attacker, ann))


def test_a_new_key_uplink_without_announcement_is_a_wrong_sender() -> None:
    parties = parties_for(Suite.EC_MODERN)
    new = generate_keys(Suite.EC_MODERN)
    regs, _ = sealed_registrations(1)
    up = Uplink(METER_ID, T0, NONCE, tuple(regs))
    data = seal_uplink(up, meter=new, headend=parties.headend.public(), seed=bytes(32))
    with pytest.raises(WrongSender):
        _open(parties, data)


def test_the_old_key_is_useless_once_the_new_one_is_pinned() -> None:
    parties = parties_for(Suite.EC_MODERN)
    new, _ = _renewed(parties)
    regs, _ = sealed_registrations(1)
    up = Uplink(METER_ID, T0, NONCE, tuple(regs))
    forged = seal_uplink(up, meter=parties.meter, headend=parties.headend.public())
    with pytest.raises(WrongSender):
        open_uplink(
            forged,
            headend=parties.headend,
            meter=new.public(),
            meter_id=METER_ID,
            chain=HeadEndChain.start(CHAIN_KEY),
        )


def test_the_symmetric_secret_is_derived_under_the_old_one() -> None:
    old = parties_for(Suite.SYMMETRIC).meter
    a = derive_symmetric(old, meter_id=METER_ID, epoch=2, salt=SALT)
    assert a.secret == derive_symmetric(old, meter_id=METER_ID, epoch=2, salt=SALT).secret
    assert a.secret != old.secret
    others = {
        derive_symmetric(old, meter_id=METER_ID, epoch=3, salt=SALT).secret,
        derive_symmetric(old, meter_id="SM-0002", epoch=2, salt=SALT).secret,
        derive_symmetric(old, meter_id=METER_ID, epoch=2, salt=bytes(32)).secret,
        derive_symmetric(a, meter_id=METER_ID, epoch=2, salt=SALT).secret,
    }
    assert a.secret not in others
    assert len(others) == 4
    with pytest.raises(ProtocolUsageError):
        derive_symmetric(generate_keys(Suite.EC_MODERN), meter_id=METER_ID, epoch=2, salt=SALT)
