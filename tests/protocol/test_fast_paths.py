"""The inlined fast paths accept exactly what the field-by-field paths accept, with equal results.

`codec._fast_registration`, `_fastpath.fast_uplink` and the fast header check of `envelope._open`
hand anything they do not accept to the checked paths; these properties show they never
accept more, never return anything different, and `split_decimal` splits every decimal as
the general path does. `encode_downlink`'s one-join answer encoding gives the field-by-field
bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    Downlink,
    MalformedMessage,
    ProtocolPeerError,
    RegisterUsage,
    Suite,
    Uplink,
    _fastpath,
    _wire,
    codec,
    encode_registration,
    envelope,
    generate_keys,
)
from sealmeter.protocol._layout import TYPE_UPLINK
from sealmeter.protocol._wire import Reader
from tests.protocol import conftest as c
from tests.protocol import strategies as s


def _checked(data: bytes) -> tuple[object, int] | None:
    if len(data) < 2:
        return None  # not even the header: the decoder reports it before any field
    reader = Reader(data, "registration")
    reader.skip_to(2)
    with contextlib.suppress(MalformedMessage):
        reg = codec._checked_registration(reader)
        return reg, reader.position
    return None


def _mutations(data: bytes, draw: st.DrawFn) -> bytes:
    how = draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes((data[i] ^ draw(st.integers(1, 255)),)) + data[i + 1 :]
    if how == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if how == "extend":
        return data + draw(st.binary(min_size=1, max_size=8))
    i = draw(st.integers(0, len(data)))
    return data[:i] + draw(st.binary(max_size=12)) + data[i:]


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fast_registration_agrees_with_checked_path(data: st.DataObject) -> None:
    raw = encode_registration(data.draw(s.registrations()))
    for candidate in (raw, _mutations(raw, data.draw)):
        fast = codec._fast_registration(candidate, 2)
        checked = _checked(candidate)
        if fast is not None:
            # never accepts what the checked path rejects, never decodes differently
            assert checked is not None
            assert fast == checked
            assert repr(fast[0]) == repr(checked[0])  # Decimal exponents and all
        elif candidate == raw:
            raise AssertionError("the fast path refused a valid registration")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_fast_registration_on_garbage_never_accepts_more(garbage: bytes) -> None:
    candidate = b"\x01\x01" + garbage
    fast = codec._fast_registration(candidate, 2)
    if fast is not None:
        assert fast == _checked(candidate)


@settings(max_examples=500, deadline=None)
@given(
    st.integers(-(2**63) + 1, 2**63 - 1) | st.integers(-1000, 1000),
    st.integers(-128, 127),
)
def test_split_decimal_matches_general_path(mantissa: int, exponent: int) -> None:
    value = _wire.make_decimal(mantissa, exponent)
    assert _wire.split_decimal(value) == (mantissa, exponent)
    assert _wire.split_decimal(value) == _wire._split_decimal_general(value)


def test_split_decimal_keeps_signs_zeros_and_notation() -> None:
    for text in ["0.00", "-0.00", "1E+5", "123.4500", "-7", "0", "-0", "1E-7", "0E-10", "0E+3"]:
        value = Decimal(text)
        assert _wire.split_decimal(value) == _wire._split_decimal_general(value), text


def _outcome(call: Callable[[], object]) -> object:
    try:
        return call()
    except ProtocolPeerError as exc:
        return type(exc)


@pytest.mark.parametrize("suite", list(Suite))
def test_fast_envelope_open_agrees_with_checked_path(suite: Suite) -> None:
    meter = generate_keys(suite)
    box = meter if suite is Suite.SYMMETRIC else generate_keys(suite)
    data = envelope._seal(
        b"reading", envelope.Direction.UPLINK, "SM-1", meter, box.public(), bytes(32)
    )
    up = envelope.Direction.UPLINK
    pub = meter.public()
    candidates = [data, data[:-1], data + b"\x00", data[:10]]
    candidates += [data[:i] + bytes((data[i] ^ 0x01,)) + data[i + 1 :] for i in range(len(data))]
    for candidate in candidates:
        for meter_id in ("SM-1", "SM-2", ""):
            fast = _outcome(partial(envelope._open, candidate, up, meter_id, box, pub))
            checked = _outcome(
                partial(envelope._open_checked, candidate, up, meter_id, box, pub, suite)
            )
            assert fast == checked
    assert envelope._open(data, up, "SM-1", box, pub) == b"reading"


def _checked_uplink(data: bytes) -> object:
    """The checked uplink decoder's outcome: (uplink, encodings) or the error type."""
    try:
        uplink = codec._decode(data, "uplink", TYPE_UPLINK, codec._get_uplink)
    except MalformedMessage as exc:
        return type(exc)
    return uplink, tuple(codec.fresh_registration_encoding(r) for r in uplink.registrations)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fast_uplink_agrees_with_checked_path(data: st.DataObject) -> None:
    up = data.draw(s.uplinks())
    raw = codec.encode_uplink(up)
    for candidate in (raw, _mutations(raw, data.draw), _mutations(raw, data.draw)):
        fast = _fastpath.fast_uplink(candidate)
        checked = _checked_uplink(candidate)
        if fast is not None:
            # never accepts what the checked path rejects, never decodes differently
            assert isinstance(checked, tuple)
            assert fast == checked
            assert repr(fast[0]) == repr(checked[0])  # Decimal exponents and all
            # what each registration remembers is exactly its canonical encoding
            for reg, encoded in zip(fast[0].registrations, fast[1], strict=True):
                assert codec.fresh_registration_encoding(reg) == encoded
                assert codec.encode_registration(reg) is encoded
        elif candidate == raw:
            raise AssertionError("the fast path refused a valid uplink")
        outcome = _outcome(partial(codec.decode_uplink_with_encodings, candidate))
        assert outcome == (fast if fast is not None else checked)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fast_uplink_on_garbage_never_accepts_more(garbage: bytes) -> None:
    for candidate in (b"\x01\x02" + garbage, b"\x01\x02\x01A" + garbage):
        fast = _fastpath.fast_uplink(candidate)
        if fast is not None:
            assert fast == _checked_uplink(candidate)


def _compare_uplink_paths(candidate: bytes) -> None:
    fast = _fastpath.fast_uplink(candidate)
    checked = _checked_uplink(candidate)
    if fast is not None:
        assert fast == checked
        assert repr(fast[0]) == repr(checked[0])


@settings(max_examples=8, deadline=None)
@given(s.uplinks())
def test_fast_uplink_agrees_on_every_byte_flip_truncation_and_extension(up: Uplink) -> None:
    raw = codec.encode_uplink(up)
    assert _fastpath.fast_uplink(raw) is not None
    for i in range(len(raw)):
        for mask in (0x01, 0x02, 0x80, 0xFF):
            _compare_uplink_paths(raw[:i] + bytes((raw[i] ^ mask,)) + raw[i + 1 :])
        _compare_uplink_paths(raw[:i])
    _compare_uplink_paths(raw + b"\x00")


def test_fast_uplink_refuses_an_auth_code_over_64_bytes() -> None:
    reg = replace(c.draft(), seq=1, auth_code=bytes(64))
    up = Uplink(reg.meter_id, reg.time, bytes(16), (reg,))
    raw = codec.encode_uplink(up)
    code_at = 3 + len(reg.meter_id) + 26 + len(codec.encode_registration(reg)) - 2 - 65
    assert raw[code_at] == 64
    longer = raw[:code_at] + b"\x41" + bytes(65) + raw[code_at + 65 :]
    assert _fastpath.fast_uplink(longer) is None
    assert _checked_uplink(longer) is MalformedMessage


def test_fast_uplink_agrees_on_every_change_to_a_batch_of_one_layout() -> None:
    # registrations after the first that share its layout take `_fast_uplink`'s one-struct
    # branch: every byte of them flipped, cut or extended must still agree
    up = c.uplink(3)
    raw = codec.encode_uplink(up)
    assert _fastpath.fast_uplink(raw) == _checked_uplink(raw)
    for i in range(len(raw)):
        for mask in (0x01, 0x40, 0x80, 0xFF):
            _compare_uplink_paths(raw[:i] + bytes((raw[i] ^ mask,)) + raw[i + 1 :])
        _compare_uplink_paths(raw[:i])
        _compare_uplink_paths(raw[:i] + b"\x00" + raw[i:])
    # a later registration with another layout (a longer schedule id) still decodes
    other = replace(c.draft(45), seq=9, schedule_id="residential-2026-b", auth_code=bytes(32))
    mixed = replace(up, registrations=(*up.registrations, other))
    raw = codec.encode_uplink(mixed)
    fast = _fastpath.fast_uplink(raw)
    assert fast is not None
    assert fast == _checked_uplink(raw)
    assert fast[0] == mixed


def test_fast_uplink_refuses_bad_fields_in_a_batch_of_one_layout() -> None:
    # the one-struct branch checks the code length and the charge as the checked path does
    first = replace(c.draft(), seq=1, auth_code=bytes(64))
    zero = RegisterUsage("1.8.2", 0, Decimal(0))
    second = replace(first, seq=2, registers=(first.registers[0], zero))
    up = Uplink(first.meter_id, first.time, bytes(16), (first, second))
    raw = codec.encode_uplink(up)
    assert _fastpath.fast_uplink(raw) is not None
    code_at = len(raw) - 1 - 65  # the second's code length (then no status: one 0 byte)
    assert raw[code_at] == 64
    longer = raw[:code_at] + b"\x41" + bytes(65) + raw[code_at + 65 :]
    assert _fastpath.fast_uplink(longer) is None
    assert _checked_uplink(longer) is MalformedMessage
    mantissa_at = code_at - 8  # the zero band's mantissa: 0x80 00.. is the smallest i64
    assert raw[mantissa_at : mantissa_at + 8] == bytes(8)
    smallest = raw[:mantissa_at] + b"\x80" + raw[mantissa_at + 1 :]
    assert _fastpath.fast_uplink(smallest) is None
    assert _checked_uplink(smallest) is MalformedMessage


@settings(max_examples=150, deadline=None)
@given(meter_id=s.ids, repeat=st.booleans())
def test_cached_envelope_header_is_the_documented_layout(meter_id: str, repeat: bool) -> None:
    """The header `_seal` and `_open` take from the header cache is the documented bytes.

    Cold (first use of the meter id) or warm (sealed before), the envelope starts with
    version, suite, direction, meter id and the two key ids, and opens; another meter id
    never gets this one's header.
    """
    p = c.parties_for(Suite.SYMMETRIC)
    down = replace(c.downlink(), meter_id=meter_id, enable_code=None)
    for _ in range(2 if repeat else 1):
        data = envelope.seal_downlink(down, headend=p.headend, meter=p.meter.public())
        mid = meter_id.encode()
        expected = (
            bytes((1, Suite.SYMMETRIC.wire_id, envelope.Direction.DOWNLINK.value, len(mid)))
            + mid
            + p.headend.key_id
            + p.meter.key_id
        )
        assert data.startswith(expected)
        opened = envelope.open_downlink(
            data,
            meter=p.meter,
            headend=p.headend.public(),
            meter_id=meter_id,
            expected_nonce=down.nonce,
            now=c.T0,
        )
        assert opened == down
        with pytest.raises(ProtocolPeerError):
            envelope.open_downlink(
                data,
                meter=p.meter,
                headend=p.headend.public(),
                meter_id=meter_id + "x",
                expected_nonce=down.nonce,
                now=c.T0,
            )
    up = replace(c.uplink(1, with_status=False), meter_id=meter_id, registrations=())
    sealed = envelope.seal_uplink(up, meter=p.meter, headend=p.headend.public())
    assert sealed[2] == envelope.Direction.UPLINK.value
    assert sealed[4 : 4 + len(mid)] == mid


@given(s.downlinks(), st.booleans())
@settings(max_examples=300)
def test_encode_downlink_joins_the_same_bytes_as_field_by_field(
    down: Downlink, code_only: bool
) -> None:
    """The one-join encoding of an enable-code answer equals the field-by-field encoding."""
    if code_only:
        down = replace(down, schedules=(), commands=())
    encoded = codec.encode_downlink(down)
    assert encoded == codec._encode_downlink_fields(down)
    assert codec.decode_downlink(encoded) == down
