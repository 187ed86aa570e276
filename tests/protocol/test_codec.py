"""The fixed binary layout: canonical round trips, and any bytes give a message or a typed error."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    MalformedMessage,
    MeterChain,
    RegisterUsage,
    Registration,
    RegistrationKind,
    TrailingData,
    TruncatedMessage,
    UnsupportedVersion,
    codec,
    decode_downlink,
    decode_registration,
    decode_uplink,
    encode_downlink,
    encode_registration,
    encode_uplink,
)
from sealmeter.protocol.messages import cached_encoding
from tests.protocol import conftest as c
from tests.protocol import strategies as s

CODECS: list[tuple[str, Callable[[Any], bytes], Callable[[bytes], Any], Any]] = [
    ("registration", encode_registration, decode_registration, s.registrations()),
    ("uplink", encode_uplink, decode_uplink, s.uplinks()),
    ("downlink", encode_downlink, decode_downlink, s.downlinks()),
]
DECODERS = [decode_registration, decode_uplink, decode_downlink]


@pytest.mark.parametrize(
    ("name", "encode", "decode", "strategy"), CODECS, ids=[n for n, *_ in CODECS]
)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_round_trip_is_exact_and_canonical(
    name: str,
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    strategy: Any,
    data: st.DataObject,
) -> None:
    message = data.draw(strategy)
    wire = encode(message)
    back = decode(wire)
    assert back == message
    assert encode(back) == wire
    assert wire[0] == 1  # format version byte first


@pytest.mark.parametrize(
    ("name", "encode", "decode", "strategy"), CODECS, ids=[n for n, *_ in CODECS]
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_prefix_is_truncated_and_every_extension_is_trailing(
    name: str,
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    strategy: Any,
    data: st.DataObject,
) -> None:
    wire = encode(data.draw(strategy))
    # fed byte by byte: every proper prefix is an incomplete message, never a message
    for end in range(len(wire)):
        with pytest.raises(MalformedMessage):
            decode(wire[:end])
    extra = data.draw(st.binary(min_size=1, max_size=8))
    with pytest.raises(TrailingData):
        decode(wire + extra)


def test_truncation_error_names_the_field_and_offset() -> None:
    wire = encode_registration(c.sealed_registrations(1)[0][0])
    with pytest.raises(TruncatedMessage, match=r"offset \d+") as info:
        decode_registration(wire[:-3])
    assert "auth_code" in str(info.value)


@pytest.mark.parametrize("decode", DECODERS)
@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=300))
def test_garbage_gives_a_message_or_a_typed_error(
    decode: Callable[[bytes], Any], garbage: bytes
) -> None:
    with contextlib.suppress(MalformedMessage):
        decode(garbage)


@pytest.mark.parametrize(
    ("name", "encode", "decode", "strategy"), CODECS, ids=[n for n, *_ in CODECS]
)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_messages_give_a_message_or_a_typed_error(
    name: str,
    encode: Callable[[Any], bytes],
    decode: Callable[[bytes], Any],
    strategy: Any,
    data: st.DataObject,
) -> None:
    wire = bytearray(encode(data.draw(strategy)))
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(wire) - 1))
        wire[pos] = data.draw(st.integers(0, 255))
    try:
        back = decode(bytes(wire))
    except MalformedMessage:
        return
    assert encode(back) == bytes(wire)  # whatever decodes is canonical


def test_unknown_version_and_wrong_message_type_are_typed() -> None:
    wire = encode_uplink(c.uplink())
    with pytest.raises(UnsupportedVersion):
        decode_uplink(b"\x02" + wire[1:])
    with pytest.raises(MalformedMessage, match="message type"):
        decode_downlink(wire)
    with pytest.raises(MalformedMessage):
        decode_uplink("not bytes")  # type: ignore[arg-type]


def test_invalid_field_values_are_malformed_not_crashes() -> None:
    reg = Registration(
        1,
        RegistrationKind.EVENT,
        "m",
        (RegisterUsage("1.8.0", 5, Decimal("1.5")),),
        "s",
        1,
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    wire = bytearray(encode_registration(reg))
    kind_at = 2 + 8
    wire[kind_at] = 99
    with pytest.raises(MalformedMessage, match="kind"):
        decode_registration(bytes(wire))


def test_money_stays_exact_and_times_keep_microseconds() -> None:
    when = datetime(2026, 7, 1, 3, 4, 5, 678901, tzinfo=UTC)
    reg = Registration(
        7,
        RegistrationKind.REAL_TIME,
        "m",
        (RegisterUsage("1.8.1", 1, Decimal("-0.000001")),),
        "s",
        2,
        when,
    )
    back = decode_registration(encode_registration(reg))
    assert back.time == when
    assert back.registers[0].charge.as_tuple() == Decimal("-0.000001").as_tuple()
    assert back.time.tzinfo is not None
    assert back.time.utcoffset() == timedelta(0)


def test_a_callers_decimal_precision_never_rounds_a_charge() -> None:
    import decimal

    charge = Decimal("1234567890123.456789")
    reg = replace(c.draft(), registers=(RegisterUsage("1.8.1", 1, charge),))
    wire = encode_registration(reg)
    with decimal.localcontext() as ctx:
        ctx.prec = 4
        back = decode_registration(wire)
    assert back.registers[0].charge == charge
    assert str(back.registers[0].charge) == "1234567890123.456789"


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_remembered_encodings_are_the_canonical_bytes(data: st.DataObject) -> None:
    # A registration sealed by the chain or decoded from bytes remembers its encoding, so
    # the round trip above would pass trivially for it: compare with a fresh encoding.
    draft = data.draw(s.registrations())
    assert cached_encoding(draft) is None
    sealed, _ = MeterChain.start(bytes(32)).seal(draft)
    remembered = cached_encoding(sealed)
    assert remembered is not None
    assert remembered == codec.fresh_registration_encoding(sealed)
    back = decode_registration(remembered)
    assert cached_encoding(back) == codec.fresh_registration_encoding(back) == remembered
    # an uplink of registrations with and without remembered encodings encodes the same
    plain = replace(sealed, currency=sealed.currency)  # a copy that remembers nothing
    assert cached_encoding(plain) is None
    up_cached = data.draw(s.uplinks())
    a = replace(up_cached, meter_id=sealed.meter_id, registrations=(sealed,), status=None)
    b = replace(a, registrations=(plain,))
    assert encode_uplink(a) == encode_uplink(b)
    assert decode_uplink(encode_uplink(a)) == a
