"""Sealed datasets in every suite: round trips, and every tampering rejected with a typed error."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sealmeter.errors import PeerError
from sealmeter.protocol import (
    BadSignature,
    ChainConflict,
    ChainGap,
    DecryptionFailed,
    Direction,
    EnableCodeExpired,
    HeadEndChain,
    InvalidMessage,
    MalformedMessage,
    ProtocolPeerError,
    ProtocolUsageError,
    ReaddressedMessage,
    ReplayedDownlink,
    ReplayedUplink,
    Suite,
    SuiteDowngrade,
    TrailingData,
    TruncatedMessage,
    UnknownSuite,
    UnsupportedVersion,
    Uplink,
    WrongDirection,
    WrongRecipient,
    WrongSender,
    generate_keys,
    open_downlink,
    open_uplink,
    peek_header,
    seal_downlink,
    seal_uplink,
)
from tests.protocol import conftest as c
from tests.protocol.conftest import Parties

SEED = bytes(range(32))


def _open_up(p: Parties, data: bytes, chain: HeadEndChain | None = None, **kw: object) -> object:
    return open_uplink(
        data,
        headend=p.headend,
        meter=p.meter.public(),
        meter_id=kw.pop("meter_id", c.METER_ID),  # type: ignore[arg-type]
        chain=chain or HeadEndChain.start(c.CHAIN_KEY),
        **kw,  # type: ignore[arg-type]
    )


def _open_down(p: Parties, data: bytes, **kw: object) -> object:
    args: dict[str, object] = {
        "meter_id": c.METER_ID,
        "expected_nonce": c.NONCE,
        "now": c.T0,
    }
    args.update(kw)
    return open_downlink(data, meter=p.meter, headend=p.headend.public(), **args)  # type: ignore[arg-type]


def test_uplink_round_trip_accepts_the_chain(parties: Parties) -> None:
    up = c.uplink(3)
    data = seal_uplink(up, meter=parties.meter, headend=parties.headend.public())
    opened = _open_up(parties, data)
    uplink, chain, accepted, duplicates, stale = opened  # type: ignore[misc]
    assert uplink == up
    assert [r.seq for r in accepted] == [1, 2, 3]
    assert duplicates == ()
    assert stale == ()
    assert chain.last_seq == 3
    # the same uplink again: authentic, every registration already seen and identical
    again = _open_up(parties, data, chain)
    assert again.accepted == ()  # type: ignore[attr-defined]
    assert again.duplicates == (1, 2, 3)  # type: ignore[attr-defined]


def test_downlink_round_trip(parties: Parties) -> None:
    down = c.downlink()
    data = seal_downlink(down, headend=parties.headend, meter=parties.meter.public())
    assert _open_down(parties, data) == down


def test_seed_makes_sealing_deterministic_except_rsa_padding(parties: Parties) -> None:
    up = c.uplink(1)
    one = seal_uplink(up, meter=parties.meter, headend=parties.headend.public(), seed=SEED)
    two = seal_uplink(up, meter=parties.meter, headend=parties.headend.public(), seed=SEED)
    other = seal_uplink(up, meter=parties.meter, headend=parties.headend.public())
    assert other != one
    if parties.suite is Suite.RSA:
        assert one != two  # OAEP and PSS draw their own randomness
    else:
        assert one == two


def test_peek_header_reads_meter_and_suite_without_keys(parties: Parties) -> None:
    data = seal_uplink(c.uplink(1), meter=parties.meter, headend=parties.headend.public())
    head = peek_header(data)
    assert head.meter_id == c.METER_ID
    assert head.suite is parties.suite
    assert head.direction is Direction.UPLINK
    assert head.sender_key_id == parties.meter.key_id
    assert head.recipient_key_id == parties.headend.key_id


def _assert_rejected_without_state_change(parties: Parties, data: bytes, good: bytes) -> None:
    chain = HeadEndChain.start(c.CHAIN_KEY)
    before = chain.to_bytes()
    with pytest.raises(ProtocolPeerError) as info:
        _open_up(parties, data, chain)
    assert str(info.value.opaque()) == "invalid message"
    assert chain.to_bytes() == before
    assert len(_open_up(parties, good, chain).accepted) == 2  # type: ignore[attr-defined]


def test_every_single_byte_change_is_rejected(parties: Parties) -> None:
    good = seal_uplink(c.uplink(2), meter=parties.meter, headend=parties.headend.public())
    chain = HeadEndChain.start(c.CHAIN_KEY)
    seen: set[type[Exception]] = set()
    for pos in range(len(good)):
        for flip in (0x01, 0x80):
            bad = bytearray(good)
            bad[pos] ^= flip
            with pytest.raises(ProtocolPeerError) as info:
                _open_up(parties, bytes(bad), chain)
            seen.add(type(info.value))
    assert chain.last_seq == 0
    assert len(_open_up(parties, good, chain).accepted) == 2  # type: ignore[attr-defined]
    if parties.suite is not Suite.SYMMETRIC:
        assert BadSignature in seen
    assert UnsupportedVersion in seen


def test_every_truncation_and_extension_is_rejected(parties: Parties) -> None:
    good = seal_uplink(c.uplink(2), meter=parties.meter, headend=parties.headend.public())
    for end in range(len(good)):
        with pytest.raises(MalformedMessage):
            _open_up(parties, good[:end])
    for extra in (b"\x00", b"trailing", good):
        with pytest.raises(TrailingData):
            _open_up(parties, good + extra)
    _assert_rejected_without_state_change(parties, good[:-1], good)


def test_wrong_recipient_wrong_sender_and_wrong_meter(parties: Parties) -> None:
    intruder = c.intruder_for(parties.suite)
    up = c.uplink(2)
    to_other = seal_uplink(up, meter=parties.meter, headend=intruder.public())
    with pytest.raises(WrongRecipient):
        _open_up(parties, to_other)
    forged = seal_uplink(up, meter=intruder, headend=parties.headend.public())
    with pytest.raises(WrongSender):
        _open_up(parties, forged)
    data = seal_uplink(up, meter=parties.meter, headend=parties.headend.public())
    with pytest.raises(WrongSender):
        _open_up(parties, data, meter_id="SM-0002")


def test_symmetric_wrong_key_is_rejected() -> None:
    p = c.parties_for(Suite.SYMMETRIC)
    other = generate_keys(Suite.SYMMETRIC)
    data = seal_uplink(c.uplink(1), meter=other, headend=other.public())
    with pytest.raises(WrongSender):
        _open_up(p, data)
    # forge the key ids too: the AEAD still refuses
    head_len = 4 + len(c.METER_ID)
    patched = data[:head_len] + p.meter.key_id * 2 + data[head_len + 16 :]
    with pytest.raises(DecryptionFailed):
        _open_up(p, patched)


def test_suite_downgrade_is_refused(parties: Parties) -> None:
    weaker = c.parties_for(
        Suite.SYMMETRIC if parties.suite is not Suite.SYMMETRIC else Suite.EC_MODERN
    )
    data = seal_uplink(c.uplink(1), meter=weaker.meter, headend=weaker.headend.public())
    with pytest.raises(SuiteDowngrade):
        _open_up(parties, data)
    good = seal_uplink(c.uplink(1), meter=parties.meter, headend=parties.headend.public())
    for wire_id in range(256):
        if wire_id == parties.suite.wire_id:
            continue
        relabelled = good[:1] + bytes([wire_id]) + good[2:]
        with pytest.raises((SuiteDowngrade, UnknownSuite, TruncatedMessage, TrailingData)):
            _open_up(parties, relabelled)


def test_reflected_messages_are_refused(parties: Parties) -> None:
    up = seal_uplink(c.uplink(1), meter=parties.meter, headend=parties.headend.public())
    with pytest.raises(WrongDirection):
        _open_down(parties, up)
    down = seal_downlink(c.downlink(), headend=parties.headend, meter=parties.meter.public())
    with pytest.raises(WrongDirection):
        _open_up(parties, down)


def test_replayed_and_reordered_registrations_are_rejected(parties: Parties) -> None:
    regs, _ = c.sealed_registrations(4)
    seal = lambda rs: seal_uplink(  # noqa: E731
        Uplink(c.METER_ID, c.T0, c.NONCE, tuple(rs)),
        meter=parties.meter,
        headend=parties.headend.public(),
    )
    chain = _open_up(parties, seal(regs[:2])).chain  # type: ignore[attr-defined]
    with pytest.raises(ChainGap):
        _open_up(parties, seal(regs[3:]), chain)
    with pytest.raises(ChainConflict):
        _open_up(parties, seal([replace(regs[1], schedule_version=9)]), chain)
    opened = _open_up(parties, seal(regs), chain)
    assert [r.seq for r in opened.accepted] == [3, 4]  # type: ignore[attr-defined]


def test_replayed_uplink_is_refused_by_time(parties: Parties) -> None:
    data = seal_uplink(c.uplink(1), meter=parties.meter, headend=parties.headend.public())
    with pytest.raises(ReplayedUplink):
        _open_up(parties, data, not_before=c.T0)
    assert _open_up(parties, data, not_before=c.T0 - timedelta(seconds=1))


def test_enable_code_replay_expiry_and_readdressing(parties: Parties) -> None:
    p = parties
    sealed = lambda d: seal_downlink(d, headend=p.headend, meter=p.meter.public())  # noqa: E731
    good = sealed(c.downlink())
    with pytest.raises(ReplayedDownlink):
        _open_down(p, good, expected_nonce=os.urandom(16))
    with pytest.raises(EnableCodeExpired):
        _open_down(p, good, now=c.T0 + timedelta(days=1))
    code = c.downlink().enable_code
    assert code is not None
    stale_code = replace(c.downlink(), enable_code=replace(code, nonce=bytes(16)))
    with pytest.raises(ReplayedDownlink):
        _open_down(p, sealed(stale_code))
    readdressed = replace(c.downlink(), enable_code=replace(code, meter_id="SM-0002"))
    with pytest.raises(ReaddressedMessage):
        _open_down(p, sealed(readdressed))
    with pytest.raises(WrongSender):
        _open_down(p, good, meter_id="SM-0002")


def test_every_single_byte_change_of_a_downlink_is_rejected(parties: Parties) -> None:
    good = seal_downlink(c.downlink(), headend=parties.headend, meter=parties.meter.public())
    for pos in range(len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0x04
        with pytest.raises(ProtocolPeerError):
            _open_down(parties, bytes(bad))


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=600))
def test_garbage_envelopes_give_typed_errors(garbage: bytes) -> None:
    p = c.parties_for(Suite.EC_MODERN)
    for opener in (_open_up, _open_down):
        with pytest.raises(ProtocolPeerError):
            opener(p, garbage)
    with contextlib.suppress(MalformedMessage):
        peek_header(garbage)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_garbage_after_a_valid_header_gives_typed_errors(data: st.DataObject) -> None:
    p = c.parties_for(Suite.NIST_P256)
    good = seal_uplink(c.uplink(1), meter=p.meter, headend=p.headend.public())
    cut = data.draw(st.integers(0, len(good)))
    tail = data.draw(st.binary(max_size=200))
    assume(good[:cut] + tail != good)
    with pytest.raises(ProtocolPeerError):
        _open_up(p, good[:cut] + tail)


def test_opaque_error_reveals_nothing() -> None:
    p = c.parties_for(Suite.EC_MODERN)
    errors = []
    for bad in (b"", b"\x01\x01\x55", bytes(300)):
        with pytest.raises(ProtocolPeerError) as info:
            _open_up(p, bad)
        errors.append(info.value)
    texts = {str(e.opaque()) for e in errors}
    assert texts == {"invalid message"}
    assert all(isinstance(e.opaque(), InvalidMessage) for e in errors)
    assert all(isinstance(e, PeerError) for e in errors)


def test_misuse_is_a_usage_error() -> None:
    p = c.parties_for(Suite.EC_MODERN)
    q = c.parties_for(Suite.SYMMETRIC)
    with pytest.raises(ProtocolUsageError):
        seal_uplink(c.uplink(1), meter=p.meter, headend=q.headend.public())
    with pytest.raises(ProtocolUsageError):
        seal_uplink(c.uplink(1), meter=p.meter, headend=p.headend.public(), seed=b"short")
    with pytest.raises(ProtocolUsageError):
        seal_uplink(c.downlink(), meter=p.meter, headend=p.headend.public())  # type: ignore[arg-type]
    with pytest.raises(ProtocolUsageError):
        open_uplink(b"", headend=p.headend, meter=p.meter.public(), meter_id="x", chain=None)  # type: ignore[arg-type]


def test_openers_refuse_bad_arguments_as_usage_errors() -> None:
    from datetime import datetime

    p = c.parties_for(Suite.EC_MODERN)
    down = seal_downlink(c.downlink(), headend=p.headend, meter=p.meter.public())
    for kw in ({"expected_nonce": None}, {"expected_nonce": b"x"}, {"now": datetime(2026, 1, 1)}):
        with pytest.raises(ProtocolUsageError):
            _open_down(p, down, **kw)
    up = seal_uplink(c.uplink(1), meter=p.meter, headend=p.headend.public())
    with pytest.raises(ProtocolUsageError):
        _open_up(p, up, not_before=datetime(2026, 1, 1))
