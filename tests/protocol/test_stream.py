"""Envelopes cut from a byte stream: fed whole, byte by byte, or in random pieces."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    EnvelopeBuffer,
    HeadEndChain,
    MalformedMessage,
    ProtocolUsageError,
    Suite,
    UnknownSuite,
    UnsupportedVersion,
    envelope_length,
    open_uplink,
    seal_downlink,
    seal_uplink,
)
from tests.protocol import conftest as c


def _stream() -> list[bytes]:
    out = []
    for suite in Suite:
        p = c.parties_for(suite)
        out.append(seal_uplink(c.uplink(2), meter=p.meter, headend=p.headend.public()))
        out.append(seal_downlink(c.downlink(), headend=p.headend, meter=p.meter.public()))
    return out


def test_whole_and_byte_by_byte_give_the_same_envelopes() -> None:
    envelopes = _stream()
    joined = b"".join(envelopes)
    whole = EnvelopeBuffer()
    whole.feed(joined)
    assert whole.envelopes() == envelopes
    assert len(whole) == 0
    trickle = EnvelopeBuffer()
    got = []
    for i in range(len(joined)):
        trickle.feed(joined[i : i + 1])
        got.extend(trickle.envelopes())
    assert got == envelopes


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_random_pieces_give_the_same_envelopes(seed: int) -> None:
    envelopes = _stream()
    joined = b"".join(envelopes)
    rng = random.Random(seed)
    buf = EnvelopeBuffer()
    got, pos = [], 0
    while pos < len(joined):
        step = rng.randint(0, 400)
        buf.feed(joined[pos : pos + step])
        pos += step
        got.extend(buf.envelopes())
    assert got == envelopes, f"seed {seed}"


def test_cut_envelopes_still_open() -> None:
    p = c.parties_for(Suite.EC_MODERN)
    data = seal_uplink(c.uplink(2), meter=p.meter, headend=p.headend.public())
    buf = EnvelopeBuffer()
    buf.feed(data + data[:10])
    (one,) = buf.envelopes()
    opened = open_uplink(one, headend=p.headend, meter=p.meter.public(), meter_id=c.METER_ID,
                         chain=HeadEndChain.start(c.CHAIN_KEY))  # fmt: skip
    assert len(opened.accepted) == 2
    assert len(buf) == 10
    assert envelope_length(data[:10]) is None
    assert envelope_length(data) == len(data)


def test_bad_stream_starts_and_oversize_are_typed_errors() -> None:
    for prefix, error in (
        (b"\x02", UnsupportedVersion),
        (b"\x01\x09", UnknownSuite),
        (b"\x01\x01\x00", MalformedMessage),
        (b"\x01\x01\x55\x00", MalformedMessage),
    ):
        buf = EnvelopeBuffer()
        buf.feed(prefix)
        with pytest.raises(error):
            buf.next_envelope()
    p = c.parties_for(Suite.SYMMETRIC)
    data = seal_uplink(c.uplink(2), meter=p.meter, headend=p.headend.public())
    small = EnvelopeBuffer(max_size=100)
    small.feed(data)
    with pytest.raises(MalformedMessage, match="limit"):
        small.next_envelope()
    with pytest.raises(ProtocolUsageError):
        EnvelopeBuffer(max_size=10)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=800))
def test_garbage_streams_give_envelopes_or_typed_errors(garbage: bytes) -> None:
    buf = EnvelopeBuffer()
    buf.feed(garbage)
    try:
        for envelope in buf.envelopes():
            assert envelope_length(envelope) == len(envelope)
    except MalformedMessage:
        pass
