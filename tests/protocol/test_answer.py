"""Answers keyed by their call: round trip, binding to the call, tampering, replay, downgrade.

The head-end answers a call (`seal_call`) with `seal_answer`, under a key derived from the
call's key encapsulation; the meter opens it only with the key of the call it answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    CALL_ID_SIZE,
    AnswerForAnotherCall,
    AnswerKey,
    Direction,
    Downlink,
    EnvelopeBuffer,
    HeadEndChain,
    MalformedMessage,
    OpenedCall,
    ProtocolPeerError,
    ProtocolUsageError,
    ReplayedDownlink,
    SealedCall,
    Suite,
    SuiteDowngrade,
    TrailingData,
    UnexpectedAnswer,
    WrongDirection,
    envelope,
    envelope_length,
    open_call,
    open_downlink,
    open_uplink,
    peek_header,
    seal_answer,
    seal_call,
    seal_downlink,
    seal_uplink,
)
from tests.protocol import conftest as c
from tests.protocol import strategies as s
from tests.protocol.conftest import Parties


def _call(parties: Parties, count: int = 2) -> tuple[SealedCall, OpenedCall]:
    up = c.uplink(count)
    sealed = seal_call(up, meter=parties.meter, headend=parties.headend.public())
    opened = open_call(
        sealed.data,
        headend=parties.headend,
        meter=parties.meter.public(),
        meter_id=c.METER_ID,
        chain=HeadEndChain.start(c.CHAIN_KEY),
    )
    return sealed, opened


def _answer(parties: Parties, opened: OpenedCall, *, seed: bytes | None = None) -> bytes:
    assert opened.answer_key is not None
    down = c.downlink(opened.opened.uplink.nonce)
    return seal_answer(down, headend=parties.headend, answer_key=opened.answer_key, seed=seed)


def _open_answer(
    parties: Parties, data: bytes, key: AnswerKey | None, nonce: bytes | None = None
) -> Downlink:
    return open_downlink(
        data,
        meter=parties.meter,
        headend=parties.headend.public(),
        meter_id=c.METER_ID,
        expected_nonce=c.uplink(1).nonce if nonce is None else nonce,
        now=c.T0,
        answer_key=key,
    )


def test_call_and_answer_round_trip(parties: Parties) -> None:
    sealed, opened = _call(parties)
    assert peek_header(sealed.data).direction is Direction.CALL
    assert opened.answer_key is not None
    assert opened.answer_key.key == sealed.answer_key.key
    assert opened.answer_key.call_id == sealed.answer_key.call_id
    assert len(sealed.answer_key.call_id) == CALL_ID_SIZE
    assert len(opened.opened.accepted) == 2
    data = _answer(parties, opened)
    head = peek_header(data)
    assert head.direction is Direction.ANSWER
    assert head.suite is parties.suite
    assert head.sender_key_id == parties.headend.key_id
    assert head.recipient_key_id == parties.meter.key_id
    down = _open_answer(parties, data, sealed.answer_key)
    assert down == c.downlink(opened.opened.uplink.nonce)
    assert down.enable_code is not None


def test_answer_is_smaller_than_a_full_seal_in_asymmetric_suites(parties: Parties) -> None:
    _, opened = _call(parties)
    down = c.downlink(opened.opened.uplink.nonce)
    full = seal_downlink(down, headend=parties.headend, meter=parties.meter.public())
    answer = _answer(parties, opened)
    encapsulation = {Suite.EC_MODERN: 32, Suite.NIST_P256: 33, Suite.RSA: 384, Suite.SYMMETRIC: 0}
    assert len(answer) == len(full) - encapsulation[parties.suite] + CALL_ID_SIZE


def test_a_call_opens_as_a_plain_uplink_and_a_plain_uplink_has_no_answer_key(
    parties: Parties,
) -> None:
    sealed, opened = _call(parties)
    plain = open_uplink(
        sealed.data,
        headend=parties.headend,
        meter=parties.meter.public(),
        meter_id=c.METER_ID,
        chain=HeadEndChain.start(c.CHAIN_KEY),
    )
    assert plain == opened.opened
    data = seal_uplink(c.uplink(2), meter=parties.meter, headend=parties.headend.public())
    opened_plain = open_call(
        data,
        headend=parties.headend,
        meter=parties.meter.public(),
        meter_id=c.METER_ID,
        chain=HeadEndChain.start(c.CHAIN_KEY),
    )
    assert opened_plain.answer_key is None
    assert len(opened_plain.opened.accepted) == 2


def test_every_call_has_its_own_answer_key(parties: Parties) -> None:
    first, _ = _call(parties)
    second, _ = _call(parties)
    assert first.answer_key.key != second.answer_key.key
    assert first.answer_key.call_id != second.answer_key.call_id
    # the same call sealed from the same seed is the same call (and key), except rsa padding
    up = c.uplink(1)
    seeded = [
        seal_call(up, meter=parties.meter, headend=parties.headend.public(), seed=bytes(32))
        for _ in range(2)
    ]
    if parties.suite is not Suite.RSA:
        assert seeded[0].answer_key.key == seeded[1].answer_key.key
    else:
        assert seeded[0].answer_key.key != seeded[1].answer_key.key


def test_answer_without_a_call_key_is_refused(parties: Parties) -> None:
    """After a restart the meter holds no answer key: the answer is refused, it calls again."""
    sealed, opened = _call(parties)
    data = _answer(parties, opened)
    with pytest.raises(UnexpectedAnswer) as info:
        _open_answer(parties, data, None)
    assert isinstance(info.value, ReplayedDownlink)
    assert str(info.value.opaque()) == "invalid message"
    assert _open_answer(parties, data, sealed.answer_key).enable_code is not None


def test_answer_to_another_call_or_replayed_is_refused(parties: Parties) -> None:
    first, opened_first = _call(parties)
    old_answer = _answer(parties, opened_first)
    second, _ = _call(parties)
    with pytest.raises(AnswerForAnotherCall):
        _open_answer(parties, old_answer, second.answer_key)
    # an answer whose header names the outstanding call but was keyed for another fails
    forged = bytearray(old_answer)
    head_end = 4 + len(c.METER_ID) + 16
    forged[head_end : head_end + CALL_ID_SIZE] = second.answer_key.call_id
    with pytest.raises(ProtocolPeerError):
        _open_answer(parties, bytes(forged), second.answer_key)
    assert _open_answer(parties, old_answer, first.answer_key).enable_code is not None


def test_every_single_byte_change_of_an_answer_is_rejected(parties: Parties) -> None:
    sealed, opened = _call(parties)
    good = _answer(parties, opened)
    for pos in range(len(good)):
        bad = bytearray(good)
        bad[pos] ^= 0x01
        with pytest.raises(ProtocolPeerError):
            _open_answer(parties, bytes(bad), sealed.answer_key)
    for end in range(len(good)):
        with pytest.raises(ProtocolPeerError):
            _open_answer(parties, good[:end], sealed.answer_key)
    with pytest.raises(TrailingData):
        _open_answer(parties, good + b"\x00", sealed.answer_key)
    assert _open_answer(parties, good, sealed.answer_key).enable_code is not None


def test_kind_bytes_cannot_be_swapped(parties: Parties) -> None:
    """No downgrade or upgrade by rewriting the envelope kind: each kind opens only as itself."""
    sealed, opened = _call(parties)
    answer = _answer(parties, opened)
    down = c.downlink(opened.opened.uplink.nonce)
    full = seal_downlink(down, headend=parties.headend, meter=parties.meter.public())
    as_downlink = answer[:2] + bytes((Direction.DOWNLINK.value,)) + answer[3:]
    as_answer = full[:2] + bytes((Direction.ANSWER.value,)) + full[3:]
    for bad in (as_downlink, as_answer):
        with pytest.raises(ProtocolPeerError):
            _open_answer(parties, bad, sealed.answer_key)
    # a call relabelled as a plain uplink (or back) does not open: the kind is authenticated
    chain = HeadEndChain.start(c.CHAIN_KEY)
    as_uplink = sealed.data[:2] + bytes((Direction.UPLINK.value,)) + sealed.data[3:]
    plain = seal_uplink(c.uplink(2), meter=parties.meter, headend=parties.headend.public())
    as_call = plain[:2] + bytes((Direction.CALL.value,)) + plain[3:]
    for bad in (as_uplink, as_call):
        with pytest.raises(ProtocolPeerError):
            open_call(
                bad,
                headend=parties.headend,
                meter=parties.meter.public(),
                meter_id=c.METER_ID,
                chain=chain,
            )
    # an answer or a call is never taken for the other direction
    with pytest.raises(WrongDirection):
        open_uplink(
            answer,
            headend=parties.headend,
            meter=parties.meter.public(),
            meter_id=c.METER_ID,
            chain=chain,
        )
    with pytest.raises(WrongDirection):
        _open_answer(parties, sealed.data, sealed.answer_key)


def test_answer_in_another_suite_is_a_downgrade(parties: Parties) -> None:
    sealed, opened = _call(parties)
    answer = _answer(parties, opened)
    other = next(s for s in Suite if s is not parties.suite)
    relabelled = answer[:1] + bytes((other.wire_id,)) + answer[2:]
    with pytest.raises((SuiteDowngrade, MalformedMessage)):
        _open_answer(parties, relabelled, sealed.answer_key)


def test_full_seal_still_opens_while_a_call_is_outstanding(parties: Parties) -> None:
    """Pushed downlinks and head-ends without answers seal in full; the meter takes both."""
    sealed, opened = _call(parties)
    down = c.downlink(opened.opened.uplink.nonce)
    full = seal_downlink(down, headend=parties.headend, meter=parties.meter.public())
    assert _open_answer(parties, full, sealed.answer_key) == down
    assert _open_answer(parties, full, None) == down


def test_seal_answer_misuse_is_a_usage_error(parties: Parties) -> None:
    sealed, opened = _call(parties)
    key = opened.answer_key
    assert key is not None
    down = c.downlink(opened.opened.uplink.nonce)
    with pytest.raises(ProtocolUsageError):
        seal_answer(replace(down, nonce=bytes(16)), headend=parties.headend, answer_key=key)
    with pytest.raises(ProtocolUsageError):
        seal_answer(
            replace(down, meter_id="SM-9999", enable_code=None),
            headend=parties.headend,
            answer_key=key,
        )
    with pytest.raises(ProtocolUsageError):
        seal_answer(down, headend=c.intruder_for(parties.suite), answer_key=key)
    with pytest.raises(ProtocolUsageError):
        seal_answer(down, headend=parties.headend, answer_key=b"key")  # type: ignore[arg-type]
    data = seal_answer(down, headend=parties.headend, answer_key=key)
    with pytest.raises(ProtocolUsageError):
        _open_answer(parties, data, b"key")  # type: ignore[arg-type]
    with pytest.raises(ProtocolUsageError):
        open_downlink(
            data,
            meter=parties.meter,
            headend=parties.headend.public(),
            meter_id="SM-0002",
            expected_nonce=down.nonce,
            now=c.T0,
            answer_key=sealed.answer_key,
        )


def test_answer_key_never_shows_its_key(parties: Parties) -> None:
    sealed, _ = _call(parties)
    text = repr(sealed.answer_key) + str(sealed.answer_key)
    assert sealed.answer_key.key.hex() not in text
    assert sealed.answer_key.call_id.hex() in text


def test_stream_cuts_answers_and_calls(parties: Parties) -> None:
    sealed, opened = _call(parties)
    answer = _answer(parties, opened)
    for data in (sealed.data, answer):
        assert envelope_length(data) == len(data)
        buffer = EnvelopeBuffer()
        for i in range(len(data)):
            buffer.feed(data[i : i + 1])
        buffer.feed(data)
        assert list(buffer.envelopes()) == [data, data]


@settings(max_examples=150, deadline=None)
@given(tail=st.binary(max_size=200), cut=st.integers(0, 60))
def test_garbage_answers_give_typed_errors(tail: bytes, cut: int) -> None:
    p = c.parties_for(Suite.EC_MODERN)
    sealed, opened = _call(p, 1)
    good = _answer(p, opened, seed=bytes(32))
    data = good[:cut] + tail
    with contextlib.suppress(ProtocolPeerError):
        _open_answer(p, data, sealed.answer_key)


def test_a_call_in_a_bytearray_opens_with_the_same_key() -> None:
    p = c.parties_for(Suite.SYMMETRIC)
    sealed = seal_call(c.uplink(1), meter=p.meter, headend=p.headend.public())
    opened = open_call(
        bytearray(sealed.data),  # type: ignore[arg-type]
        headend=p.headend,
        meter=p.meter.public(),
        meter_id=c.METER_ID,
        chain=HeadEndChain.start(c.CHAIN_KEY),
    )
    assert opened.answer_key is not None
    assert opened.answer_key.key == sealed.answer_key.key


def test_an_answer_in_a_bytearray_opens() -> None:
    p = c.parties_for(Suite.EC_MODERN)
    sealed, opened = _call(p, 1)
    data = _answer(p, opened)
    down = _open_answer(p, bytearray(data), sealed.answer_key)  # type: ignore[arg-type]
    assert down == c.downlink(opened.opened.uplink.nonce)


@settings(max_examples=60, deadline=None)
@given(down=s.downlinks(), suite=st.sampled_from([Suite.EC_MODERN, Suite.SYMMETRIC]))
def test_any_downlink_round_trips_as_an_answer_to_its_call(down: Downlink, suite: Suite) -> None:
    """Whatever the downlink, the answer opens to the same message, and only for its call."""
    p = c.parties_for(suite)
    up = replace(c.uplink(1), meter_id=down.meter_id, registrations=(), status=None)
    sealed = seal_call(up, meter=p.meter, headend=p.headend.public())
    opened = open_call(
        sealed.data,
        headend=p.headend,
        meter=p.meter.public(),
        meter_id=down.meter_id,
        chain=HeadEndChain.start(c.CHAIN_KEY),
    )
    assert opened.answer_key is not None
    answer_down = replace(down, nonce=up.nonce, enable_code=None)
    data = seal_answer(answer_down, headend=p.headend, answer_key=opened.answer_key)
    got = open_downlink(
        data,
        meter=p.meter,
        headend=p.headend.public(),
        meter_id=down.meter_id,
        expected_nonce=up.nonce,
        now=c.T0,
        answer_key=sealed.answer_key,
    )
    assert got == answer_down
    other = seal_call(up, meter=p.meter, headend=p.headend.public())
    with pytest.raises(AnswerForAnotherCall):
        open_downlink(
            data,
            meter=p.meter,
            headend=p.headend.public(),
            meter_id=down.meter_id,
            expected_nonce=up.nonce,
            now=c.T0,
            answer_key=other.answer_key,
        )


@pytest.mark.parametrize("suite", [Suite.EC_MODERN, Suite.SYMMETRIC])
def test_fast_answer_open_agrees_with_the_checked_path(suite: Suite) -> None:
    """The answer opener's fast path accepts exactly what the checked path accepts."""
    p = c.parties_for(suite)
    sealed, opened = _call(p, 1)
    good = _answer(p, opened, seed=bytes(32))
    other = seal_call(c.uplink(1), meter=p.meter, headend=p.headend.public()).answer_key
    candidates = [good, good[:-1], good + b"\x00", good[:10]]
    candidates += [good[:i] + bytes((good[i] ^ 0x01,)) + good[i + 1 :] for i in range(len(good))]

    def outcome(call: Callable[[], object]) -> object:
        try:
            return call()
        except ProtocolPeerError as exc:
            return type(exc)

    for data in candidates:
        for meter_id, key in ((c.METER_ID, sealed.answer_key), (c.METER_ID, other)):
            fast = outcome(
                partial(envelope._open_answer, data, meter_id, p.meter, p.headend.public(), key)
            )
            checked = outcome(
                partial(
                    envelope._open_answer_checked,
                    data,
                    meter_id,
                    p.meter,
                    p.headend.public(),
                    key,
                    suite,
                )
            )
            assert fast == checked
    assert isinstance(
        envelope._open_answer(good, c.METER_ID, p.meter, p.headend.public(), sealed.answer_key),
        bytes,
    )
