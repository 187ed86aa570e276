"""Deterministic binary encoding of the messages (the documented fixed layout, docs/protocol.md).

Every encoded message starts with the format version byte and a message-type byte. Decoders
take the whole message, check every length and value, and return the typed message or raise a
`MalformedMessage` subclass; trailing bytes are an error. Encoding is canonical: decoding then
encoding gives the same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import Enum
from typing import TypeVar

from sealmeter.protocol._fastpath import fast_uplink
from sealmeter.protocol._layout import (
    BAND,
    BAND_SIZE,
    BATTERY,
    CLOCK,
    EPOCH,
    EVENT,
    FORMAT_VERSION,
    KINDS,
    LENGTHS,
    MICROSECOND,
    MIN_I64,
    POW10,
    REG_FIXED,
    REG_FIXED_SIZE,
    REG_HEADER,
    STATUS_FIXED,
    TAMPER,
    TIME_NONCE_COUNT,
    TYPE_DOWNLINK,
    TYPE_REGISTRATION,
    TYPE_UPLINK,
    UPLINK_HEADER,
    multiply_exact,
    unpack_band,
    unpack_reg_fixed,
)
from sealmeter.protocol._wire import Reader, Writer, make_decimal, split_decimal
from sealmeter.protocol.errors import (
    MalformedMessage,
    ProtocolUsageError,
    TrailingData,
    UnsupportedVersion,
)
from sealmeter.protocol.messages import (
    Command,
    CommandKind,
    CreditFrame,
    Downlink,
    EnableCode,
    RegisterUsage,
    Registration,
    ScheduleUpdate,
    Status,
    TamperEvent,
    Uplink,
    build_unchecked,
    cached_encoding,
    is_announcement_shaped,
    register_usage_unchecked,
    remember_encoding,
    to_wire_time,
)

__all__ = [
    "FORMAT_VERSION",
    "decode_downlink",
    "decode_registration",
    "decode_uplink",
    "decode_uplink_with_encodings",
    "encode_downlink",
    "encode_registration",
    "encode_uplink",
    "registration_body",
]

_ENUM_ERR = "{what}: {field} value {value} is not a known {enum}"


_E = TypeVar("_E", bound=Enum)
_T = TypeVar("_T")

_TRAILER_KEY_ANNOUNCEMENT = b"\x01"
_U16 = struct.Struct(">H")
_new = object.__new__
_set = object.__setattr__


def _setter(cls: type, name: str) -> Callable[[object, object], None]:
    """The slot's own setter: sets a field of a frozen slots dataclass, skipping its checks."""
    setter: Callable[[object, object], None] = vars(cls)[name].__set__
    return setter


_set_obis = _setter(RegisterUsage, "obis")
_set_usage = _setter(RegisterUsage, "usage")
_set_charge = _setter(RegisterUsage, "charge")
_REG_SETTERS = tuple(
    _setter(Registration, name)
    for name in (
        "seq",
        "kind",
        "meter_id",
        "registers",
        "schedule_id",
        "schedule_version",
        "time",
        "auth_code",
        "currency",
    )
)


def _enum(reader_what: str, field: str, cls: type[_E], value: int) -> _E:
    try:
        return cls(value)
    except ValueError:
        raise MalformedMessage(
            _ENUM_ERR.format(what=reader_what, field=field, value=value, enum=cls.__name__)
        ) from None


def _put_time(w: Writer, value: datetime) -> None:
    w.i64(to_wire_time(value))


def _get_time(r: Reader, field: str) -> datetime:
    return _time_of(r.i64(field), field)


def _time_of(micros: int, field: str) -> datetime:
    try:
        return EPOCH + timedelta(0, 0, micros)  # from_wire_time, inlined (hot path)
    except OverflowError:
        raise MalformedMessage(
            f"{field}: {micros} microseconds is outside the datetime range"
        ) from None


def _header(w: Writer, kind: int) -> None:
    w.u8(FORMAT_VERSION)
    w.u8(kind)


def _check_header(r: Reader, kind: int, what: str) -> None:
    version = r.u8("version")
    if version != FORMAT_VERSION:
        raise UnsupportedVersion(
            f"{what} has format version {version}; this implementation speaks {FORMAT_VERSION}"
        )
    got = r.u8("message type")
    if got != kind:
        raise MalformedMessage(f"{what} expected message type {kind}, found {got}")


# -- registration -------------------------------------------------------------------------


def _registration_parts(reg: Registration, parts: list[bytes]) -> None:
    """Append the registration's body fields (no header, no code) to `parts`."""
    meter_id = reg.meter_id.encode()
    schedule_id = reg.schedule_id.encode()
    currency = reg.currency.encode()
    parts += (
        REG_FIXED.pack(
            reg.seq,
            reg.kind.value,
            reg.schedule_version,
            to_wire_time(reg.time),
            len(reg.registers),
        ),
        LENGTHS[len(meter_id)],
        meter_id,
        LENGTHS[len(schedule_id)],
        schedule_id,
        LENGTHS[len(currency)],
        currency,
    )
    for band in reg.registers:
        obis = band.obis.encode()
        mantissa, exponent = split_decimal(band.charge)
        parts += (LENGTHS[len(obis)], obis, BAND.pack(band.usage, exponent, mantissa))


def registration_body(reg: Registration) -> bytes:
    """The canonical bytes a registration's authentication code covers (all but the code)."""
    encoded = encode_registration(reg)
    return encoded[: len(encoded) - 1 - len(reg.auth_code)]


def fresh_registration_encoding(reg: Registration) -> bytes:
    """`encode_registration` computed from the fields, ignoring any remembered encoding.

    For tests and checks that the remembered bytes are the canonical ones.
    """
    parts = [REG_HEADER]
    _registration_parts(reg, parts)
    parts += (LENGTHS[len(reg.auth_code)], reg.auth_code)
    return b"".join(parts)


def _fast_registration(data: bytes, pos: int) -> tuple[Registration, int] | None:
    """The registration at `pos` and the offset after it, or None if anything is off.

    The same checks as `_checked_registration` (which runs on None to name the fault),
    inlined on the raw buffer: the decoder's hot path, run for every registration of a batch.
    """
    size = len(data)
    end = pos + REG_FIXED_SIZE
    if end > size:
        return None
    seq, kind_id, schedule_version, micros, count = unpack_reg_fixed(data, pos)
    kind = KINDS.get(kind_id)
    if kind is None:
        return None
    try:
        time = EPOCH + timedelta(0, 0, micros)
        # three length-prefixed texts: meter_id, schedule_id, currency
        if end >= size:
            return None
        start = end + 1
        end = start + data[end]
        if end >= size or end == start:
            return None
        meter_id = data[start:end].decode()
        start = end + 1
        end = start + data[end]
        if end >= size:
            return None
        schedule_id = data[start:end].decode()
        start = end + 1
        end = start + data[end]
        if end > size or end == start:
            return None
        currency = data[start:end].decode()
        registers = []
        for _ in range(count):
            if end >= size:
                return None
            start = end + 1
            end = start + data[end]
            if end + BAND_SIZE > size or end == start:
                return None
            obis = data[start:end].decode()
            usage, exponent, mantissa = unpack_band(data, end)
            end += BAND_SIZE
            if not -64 <= exponent <= 63 or mantissa == MIN_I64:
                return None
            charge = multiply_exact(mantissa, POW10[exponent])
            band = _new(RegisterUsage)  # register_usage_unchecked, inlined (hot path)
            _set_obis(band, obis)
            _set_usage(band, usage)
            _set_charge(band, charge)
            registers.append(band)
    except (UnicodeDecodeError, OverflowError):
        return None
    if end >= size:
        return None
    start = end + 1
    end = start + data[end]
    if end > size or end - start > 64:
        return None
    # build_unchecked(Registration, ...), inlined (hot path); setters in _REG_SETTERS order
    reg = _new(Registration)
    set_seq, set_kind, set_meter, set_regs, set_sched, set_ver, set_time, set_code, set_cur = (
        _REG_SETTERS
    )
    set_seq(reg, seq)
    set_kind(reg, kind)
    set_meter(reg, meter_id)
    set_regs(reg, tuple(registers))
    set_sched(reg, schedule_id)
    set_ver(reg, schedule_version)
    set_time(reg, time)
    set_code(reg, data[start:end])
    set_cur(reg, currency)
    return reg, end


def _get_registration(r: Reader) -> Registration:
    data, pos = r.buffer()
    fast = _fast_registration(data, pos)
    if fast is None:
        reg = _checked_registration(r)
    else:
        reg = fast[0]
        r.skip_to(fast[1])
    remember_encoding(reg, REG_HEADER + data[pos : r.position])
    return reg


def _checked_registration(r: Reader) -> Registration:
    """The registration at the reader, every field checked one by one with a precise error."""
    seq, kind_id, schedule_version, micros, count = r.unpack(REG_FIXED, "registration")
    kind = KINDS.get(kind_id)
    if kind is None:
        raise MalformedMessage(f"registration: kind value {kind_id} is not a known kind")
    time = _time_of(micros, "time")
    meter_id = r.text("meter_id")
    schedule_id = r.text("schedule_id")
    currency = r.text("currency")
    if not meter_id or not currency:
        raise MalformedMessage("registration: meter_id and currency must not be empty")
    registers = []
    for _ in range(count):
        obis, usage, exponent, mantissa = r.text_and(BAND, "register")
        if not obis or not -64 <= exponent <= 63 or mantissa == MIN_I64:
            raise MalformedMessage(
                f"registration: register {obis!r} has an empty name or an out-of-range charge"
            )
        registers.append(register_usage_unchecked(obis, usage, make_decimal(mantissa, exponent)))
    code_len = r.u8("auth_code length")
    if code_len > 64:
        raise MalformedMessage(f"registration: auth_code of {code_len} bytes is over 64")
    return build_unchecked(
        Registration,
        seq=seq,
        kind=kind,
        meter_id=meter_id,
        registers=tuple(registers),
        schedule_id=schedule_id,
        schedule_version=schedule_version,
        time=time,
        auth_code=r.take(code_len, "auth_code"),
        currency=currency,
    )


def encode_registration(reg: Registration) -> bytes:
    """Encode one registration with its authentication code (for storage or the chain).

    A registration sealed by `MeterChain.seal` or decoded from bytes remembers its encoding
    (it is immutable), so it is encoded only once.
    """
    encoded = cached_encoding(reg)
    if encoded is None:
        encoded = fresh_registration_encoding(reg)
        if isinstance(reg, Registration):
            remember_encoding(reg, encoded)
    return encoded


def decode_registration(data: bytes) -> Registration:
    """Decode one registration encoded by `encode_registration`; raise `MalformedMessage`."""
    return _decode(data, "registration", TYPE_REGISTRATION, _get_registration)


# -- status ---------------------------------------------------------------------------------


def _put_optional_time(w: Writer, value: datetime | None) -> None:
    if value is None:
        w.u8(0)
    else:
        w.u8(1)
        _put_time(w, value)


def _get_optional_time(r: Reader, field: str) -> datetime | None:
    return _get_time(r, field) if r.flag(field) else None


def _status_parts(st: Status, parts: list[bytes]) -> None:
    """Append the status's fields (after its presence byte) to `parts`."""
    valid_to, peak_time = st.schedule_valid_to, st.peak_load_time
    meter_id = st.meter_id.encode()
    schedule_id = st.schedule_id.encode()
    firmware = st.firmware.encode()
    parts += (
        STATUS_FIXED.pack(
            (st.time - EPOCH) // MICROSECOND,  # to_wire_time, inlined (hot path)
            st.schedule_version,
            (st.schedule_valid_from - EPOCH) // MICROSECOND,
            valid_to is not None,
            0 if valid_to is None else (valid_to - EPOCH) // MICROSECOND,
            st.peak_load_w,
            peak_time is not None,
            0 if peak_time is None else (peak_time - EPOCH) // MICROSECOND,
            (st.next_contact - EPOCH) // MICROSECOND,
            st.battery.value,
            st.battery_mv,
            st.clock.value,
            st.blocked,
            len(st.tamper_events),
        ),
        LENGTHS[len(meter_id)],
        meter_id,
        LENGTHS[len(schedule_id)],
        schedule_id,
        LENGTHS[len(firmware)],
        firmware,
    )
    for ev in st.tamper_events:
        parts.append(EVENT.pack(ev.kind.value, to_wire_time(ev.time)))


def _optional_time(flag: int, micros: int, field: str) -> datetime | None:
    if flag == 1:
        return _time_of(micros, field)
    if flag == 0 and micros == 0:
        return None
    raise MalformedMessage(f"status: {field} has presence byte {flag} and value {micros}")


def _get_status(r: Reader) -> Status:
    (
        micros,
        schedule_version,
        valid_from,
        has_valid_to,
        valid_to,
        peak_load_w,
        has_peak_time,
        peak_time,
        next_contact,
        battery_id,
        battery_mv,
        clock_id,
        blocked,
        count,
    ) = r.unpack(STATUS_FIXED, "status")
    battery = BATTERY.get(battery_id)
    clock = CLOCK.get(clock_id)
    if battery is None or clock is None or blocked > 1:
        raise MalformedMessage(
            f"status: battery {battery_id}, clock {clock_id} or blocked {blocked} is not known"
        )
    meter_id = r.text("status meter_id")
    if not meter_id:
        raise MalformedMessage("status: meter_id must not be empty")
    schedule_id = r.text("schedule_id")
    firmware = r.text("firmware")
    events = []
    for _ in range(count):
        kind_id, event_micros = r.unpack(EVENT, "tamper event")
        kind = TAMPER.get(kind_id)
        if kind is None:
            raise MalformedMessage(f"status: tamper kind {kind_id} is not known")
        events.append(
            build_unchecked(TamperEvent, kind=kind, time=_time_of(event_micros, "tamper time"))
        )
    # built field by field without Status's checks (see build_unchecked): the decoder's hot path
    status = _new(Status)
    _set(status, "meter_id", meter_id)
    _set(status, "time", _time_of(micros, "status time"))
    _set(status, "tamper_events", tuple(events))
    _set(status, "schedule_id", schedule_id)
    _set(status, "schedule_version", schedule_version)
    _set(status, "schedule_valid_from", _time_of(valid_from, "schedule_valid_from"))
    _set(
        status,
        "schedule_valid_to",
        _optional_time(has_valid_to, valid_to, "schedule_valid_to"),
    )
    _set(status, "peak_load_w", peak_load_w)
    _set(status, "peak_load_time", _optional_time(has_peak_time, peak_time, "peak_load_time"))
    _set(status, "next_contact", _time_of(next_contact, "next_contact"))
    _set(status, "battery", battery)
    _set(status, "battery_mv", battery_mv)
    _set(status, "clock", clock)
    _set(status, "firmware", firmware)
    _set(status, "blocked", blocked == 1)
    return status


# -- uplink ---------------------------------------------------------------------------------


def encode_uplink(up: Uplink) -> bytes:
    """Encode an uplink batch (the plaintext that `seal_uplink` encrypts)."""
    meter_id = up.meter_id.encode()
    parts = [
        UPLINK_HEADER,
        LENGTHS[len(meter_id)],
        meter_id,
        TIME_NONCE_COUNT.pack(to_wire_time(up.time), up.nonce, len(up.registrations)),
    ]
    for reg in up.registrations:
        # each registration's own encoding without its two header bytes (remembered once
        # sealed or decoded: see encode_registration)
        encoded = cached_encoding(reg)
        parts.append((encode_registration(reg) if encoded is None else encoded)[2:])
    if up.status is None:
        parts.append(b"\x00")
    else:
        parts.append(b"\x01")
        _status_parts(up.status, parts)
    if up.key_announcement:  # optional trailer: absent (no bytes at all) when empty
        parts += (_TRAILER_KEY_ANNOUNCEMENT, _U16.pack(len(up.key_announcement)))
        parts.append(up.key_announcement)
    return b"".join(parts)


def _get_uplink(r: Reader) -> Uplink:
    """The uplink at the reader, checked field by field (the hot path: `_fastpath`)."""
    meter_id = r.text("meter_id")
    data, pos = r.buffer()
    if pos + TIME_NONCE_COUNT.size <= len(data):
        # time, nonce and registration count in one step (field by field below if short)
        micros, nonce, count = TIME_NONCE_COUNT.unpack_from(data, pos)
        time = _time_of(micros, "time")
        pos += TIME_NONCE_COUNT.size
    else:
        time = _get_time(r, "time")
        nonce = r.take(16, "nonce")
        count = r.u16("registration count")  # raises: fewer bytes than the step above needs
        data, pos = r.buffer()
    regs = []
    for _ in range(count):
        fast = _fast_registration(data, pos)
        if fast is None:
            r.skip_to(pos)
            reg = _checked_registration(r)
            end = r.position
        else:
            reg, end = fast
        remember_encoding(reg, REG_HEADER + data[pos:end])
        regs.append(reg)
        pos = end
    r.skip_to(pos)
    status = _get_status(r) if r.flag("status present") else None
    announcement = _get_trailer(r) if r.position < len(data) else b""
    if not meter_id:
        raise MalformedMessage("uplink: meter_id must not be empty")
    for reg in regs:
        if reg.meter_id != meter_id:
            raise MalformedMessage(
                f"uplink of meter {meter_id!r} holds registration {reg.seq} of {reg.meter_id!r}"
            )
    if status is not None and status.meter_id != meter_id:
        raise MalformedMessage(f"uplink of meter {meter_id!r} holds another meter's status")
    return build_unchecked(
        Uplink,
        meter_id=meter_id,
        time=time,
        nonce=nonce,
        registrations=tuple(regs),
        status=status,
        key_announcement=announcement,
    )


def _get_trailer(r: Reader) -> bytes:
    """The optional key-announcement trailer; anything else after the status is trailing data."""
    data, pos = r.buffer()
    if data[pos : pos + 1] == _TRAILER_KEY_ANNOUNCEMENT and pos + 3 <= len(data):
        end = pos + 3 + _U16.unpack_from(data, pos + 1)[0]
        announcement = data[pos + 3 : end]
        if end <= len(data) and is_announcement_shaped(announcement):
            r.skip_to(end)
            return announcement
    raise TrailingData(
        f"uplink has {len(data) - pos} unexpected bytes after its end at offset {pos} (not a "
        "key-announcement trailer); an extended message is never accepted"
    )


def decode_uplink(data: bytes) -> Uplink:
    """Decode an uplink encoded by `encode_uplink`; raise `MalformedMessage` on bad bytes."""
    if type(data) is bytes:
        fast = fast_uplink(data)
        if fast is not None:
            return fast[0]
    return _decode(data, "uplink", TYPE_UPLINK, _get_uplink)


def decode_uplink_with_encodings(data: bytes) -> tuple[Uplink, tuple[bytes, ...]]:
    """Decode an uplink and return, beside it, each registration's `encode_registration` bytes.

    Lets the head-end check the chain and store registrations without re-encoding them.
    """
    if type(data) is bytes:
        fast = fast_uplink(data)
        if fast is not None:
            return fast
    uplink = _decode(data, "uplink", TYPE_UPLINK, _get_uplink)
    return uplink, tuple(encode_registration(reg) for reg in uplink.registrations)


# -- downlink -------------------------------------------------------------------------------


def encode_downlink(down: Downlink) -> bytes:
    """Encode a downlink batch (the plaintext that `seal_downlink` encrypts)."""
    code = down.enable_code
    if code is not None and not down.schedules and not down.commands:
        # the usual answer, an enable code alone, in one join: the same bytes as the
        # field-by-field `_encode_downlink_fields` (`tests/protocol/test_fast_paths.py`)
        meter_id = down.meter_id.encode()
        code_meter = code.meter_id.encode()
        frame = code.credit_frame
        mantissa, exponent = split_decimal(frame.charge_limit)
        return b"".join(
            (
                _DOWNLINK_HEAD,
                _TEXT_LENGTHS[len(meter_id)],
                meter_id,
                _I64.pack(to_wire_time(down.time)),
                down.nonce,
                b"\x01",
                _TEXT_LENGTHS[len(code_meter)],
                code_meter,
                _U64.pack(code.acked_seq),
                code.nonce,
                _I64.pack(to_wire_time(code.expires)),
                _I64.pack(frame.duration // MICROSECOND),
                _DECIMAL.pack(exponent, mantissa),
                b"\x00\x00\x00\x00",  # no schedule updates, no commands
            )
        )
    return _encode_downlink_fields(down)


_DOWNLINK_HEAD = bytes((FORMAT_VERSION, TYPE_DOWNLINK))
_TEXT_LENGTHS = [bytes((n,)) for n in range(256)]
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_DECIMAL = struct.Struct(">bq")


def _encode_downlink_fields(down: Downlink) -> bytes:
    """`encode_downlink` field by field, for every downlink."""
    w = Writer()
    _header(w, TYPE_DOWNLINK)
    w.text(down.meter_id)
    _put_time(w, down.time)
    w.raw(down.nonce)
    code = down.enable_code
    if code is None:
        w.u8(0)
    else:
        w.u8(1)
        w.text(code.meter_id)
        w.u64(code.acked_seq)
        w.raw(code.nonce)
        _put_time(w, code.expires)
        frame = code.credit_frame
        w.i64(frame.duration // MICROSECOND)
        w.decimal(frame.charge_limit)
    w.u16(len(down.schedules))
    for sched in down.schedules:
        w.text(sched.schedule_id)
        w.u32(sched.version)
        _put_time(w, sched.valid_from)
        _put_optional_time(w, sched.valid_to)
        w.blob32(sched.schedule_bytes)
    w.u16(len(down.commands))
    for cmd in down.commands:
        w.u8(cmd.kind.value)
        w.blob16(cmd.argument)
    return w.getvalue()


def _get_downlink(r: Reader) -> Downlink:
    meter_id = r.text("meter_id")
    time = _get_time(r, "time")
    nonce = r.take(16, "nonce")
    code = None
    if r.flag("enable code present"):
        code_meter = r.text("enable code meter_id")
        acked = r.u64("acked_seq")
        code_nonce = r.take(16, "enable code nonce")
        expires = _get_time(r, "expires")
        micros = r.i64("credit frame duration")
        if micros < 0:
            raise MalformedMessage("downlink: credit frame duration is negative")
        try:
            duration = MICROSECOND * micros
        except OverflowError:
            raise MalformedMessage("downlink: credit frame duration is out of range") from None
        frame = CreditFrame(duration, r.decimal("charge_limit"))
        code = EnableCode(code_meter, acked, code_nonce, expires, frame)
    schedules = []
    for _ in range(r.u16("schedule count")):
        schedules.append(
            ScheduleUpdate(
                schedule_id=r.text("schedule_id"),
                version=r.u32("schedule version"),
                valid_from=_get_time(r, "valid_from"),
                valid_to=_get_optional_time(r, "valid_to"),
                schedule_bytes=r.blob32("schedule_bytes"),
            )
        )
    commands = []
    for _ in range(r.u16("command count")):
        kind = _enum("downlink", "command kind", CommandKind, r.u8("command kind"))
        commands.append(Command(kind, r.blob16("command argument")))
    return Downlink(
        meter_id,
        time,
        nonce,
        code,
        tuple(schedules),
        tuple(commands),
    )


def decode_downlink(data: bytes) -> Downlink:
    """Decode a downlink encoded by `encode_downlink`; raise `MalformedMessage` on bad bytes."""
    return _decode(data, "downlink", TYPE_DOWNLINK, _get_downlink)


# -- shared ---------------------------------------------------------------------------------


def _decode(data: bytes, what: str, kind: int, body: Callable[[Reader], _T]) -> _T:
    reader = Reader(data, what)
    _check_header(reader, kind, what)
    try:
        message = body(reader)
    except ProtocolUsageError as exc:
        raise MalformedMessage(f"{what} holds an invalid field: {exc}") from None
    reader.end()
    return message
