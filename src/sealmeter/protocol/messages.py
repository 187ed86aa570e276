"""The typed messages of the protocol: what a meter sends up and what a head-end sends down.

All are frozen dataclasses that check their own fields on construction (a bad field raises
`ProtocolUsageError` locally; the decoder turns it into `MalformedMessage`). Times are aware
UTC datetimes (integers of microseconds on the wire); money is `Decimal`, never float.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sealmeter.protocol.errors import ProtocolUsageError

__all__ = [
    "NONCE_SIZE",
    "BatteryState",
    "ClockState",
    "Command",
    "CommandKind",
    "CreditFrame",
    "Downlink",
    "EnableCode",
    "RegisterUsage",
    "Registration",
    "RegistrationKind",
    "ScheduleUpdate",
    "Status",
    "TamperEvent",
    "TamperKind",
    "Uplink",
]

NONCE_SIZE = 16
"""Length in bytes of the meter's fresh nonce that a downlink must echo."""

_MAX_TEXT = 255
_MAX_COUNT = 65535
_MAX_U64 = 2**64 - 1
_MAX_U32 = 2**32 - 1
_MAX_MANTISSA = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RegistrationKind(enum.Enum):
    """Why a registration was made (the seed's type designator R)."""

    REAL_TIME = 1
    STATUS = 2
    EVENT = 3


class TamperKind(enum.Enum):
    """What a tamper sensor or the supply watchdog detected."""

    HOUSING_OPENED = 1
    SEAL_LOOP_BROKEN = 2
    BYPASS = 3
    DISCONNECTION = 4
    SUPPLY_OUTAGE = 5
    MODULE_REMOVED = 6
    AUTHORISED_OPENING = 7


class BatteryState(enum.Enum):
    """Health of the backup battery that keeps the clock and NVM alive."""

    OK = 1
    LOW = 2
    FAILED = 3


class ClockState(enum.Enum):
    """Trust in the meter's real-time clock."""

    SYNCED = 1
    DRIFTING = 2
    LOST = 3


class CommandKind(enum.Enum):
    """What a head-end command tells the meter to do."""

    BLOCK = 1
    UNBLOCK = 2
    INSPECTION_RESET = 3
    KEY_ROLLOVER = 4


def _check_text(name: str, value: str, *, allow_empty: bool = False) -> None:
    simple = type(value) is str and value.isascii() and len(value) <= _MAX_TEXT
    if simple and (value or allow_empty):
        return
    if not isinstance(value, str):
        raise ProtocolUsageError(f"{name} must be a str, got {type(value).__name__}")
    if not value and not allow_empty:
        raise ProtocolUsageError(f"{name} must not be empty")
    if len(value.encode("utf-8", "surrogatepass")) > _MAX_TEXT:
        raise ProtocolUsageError(f"{name} is longer than {_MAX_TEXT} bytes of UTF-8; shorten it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ProtocolUsageError(f"{name} is not valid Unicode text: {exc}") from None


def _check_uint(name: str, value: int, maximum: int = _MAX_U64) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolUsageError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ProtocolUsageError(f"{name}={value} is outside 0..{maximum}")


def _check_time(name: str, value: datetime) -> None:
    if not isinstance(value, datetime):
        raise ProtocolUsageError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ProtocolUsageError(f"{name} is a naive datetime; pass an aware UTC datetime")
    if value.utcoffset() != timedelta(0):
        raise ProtocolUsageError(f"{name} must be in UTC; convert with .astimezone(UTC)")


def _check_money(name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal):
        raise ProtocolUsageError(f"{name} must be a Decimal (money is never float)")
    if not value.is_finite():
        raise ProtocolUsageError(f"{name}={value} is not a finite amount")
    _sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    if mantissa > _MAX_MANTISSA or not -64 <= exponent <= 63:
        raise ProtocolUsageError(f"{name}={value} has too many digits or too large an exponent")


def _check_bytes(name: str, value: bytes, *, size: int | None = None, maximum: int) -> None:
    if not isinstance(value, bytes):
        raise ProtocolUsageError(f"{name} must be bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise ProtocolUsageError(f"{name} must be exactly {size} bytes, got {len(value)}")
    if len(value) > maximum:
        raise ProtocolUsageError(f"{name} is longer than {maximum} bytes")


def _check_tuple(name: str, value: tuple[object, ...], item: type) -> None:
    if not isinstance(value, tuple):
        raise ProtocolUsageError(f"{name} must be a tuple, got {type(value).__name__}")
    if len(value) > _MAX_COUNT:
        raise ProtocolUsageError(f"{name} has more than {_MAX_COUNT} items; split the batch")
    for entry in value:
        if not isinstance(entry, item):
            raise ProtocolUsageError(f"{name} holds a {type(entry).__name__}, not {item.__name__}")


@dataclass(frozen=True, slots=True)
class RegisterUsage:
    """Usage and charge of one register (tariff band) since the last registration.

    `obis` names the register (e.g. "1.8.1"), `usage` is in whole units (e.g. Wh), `charge`
    is the exact money owed for it.
    """

    obis: str
    usage: int
    charge: Decimal

    def __post_init__(self) -> None:
        """Check every field so a bad register never reaches the wire."""
        _check_text("obis", self.obis)
        _check_uint("usage", self.usage)
        _check_money("charge", self.charge)


class _Encoded:
    """Base of messages that remember their canonical encoding once it is known.

    `_encoding` is a slot, not a dataclass field: it takes no part in equality, hashing,
    `repr`, `dataclasses.fields` or `replace` (which builds a new object without it). Only
    the codec and the chain set it, to bytes that encode exactly the object's fields, so a
    registration sealed by the chain or decoded from bytes is never encoded a second time.
    """

    __slots__ = ("_encoding",)


@dataclass(frozen=True, slots=True)
class Registration(_Encoded):
    """One registration m1 = (#K, R, V.., F.., t, A_K) of the seed, with a meter id.

    `seq` is the chain position (1 for the first), `auth_code` the MAC-chain code over this
    registration and the previous code (empty in a draft, before `MeterChain.seal`).
    """

    seq: int
    kind: RegistrationKind
    meter_id: str
    registers: tuple[RegisterUsage, ...]
    schedule_id: str
    schedule_version: int
    time: datetime
    auth_code: bytes = b""
    currency: str = "EUR"

    def __post_init__(self) -> None:
        """Check every field so a bad registration never reaches the wire."""
        _check_uint("seq", self.seq)
        if not isinstance(self.kind, RegistrationKind):
            raise ProtocolUsageError("kind must be a RegistrationKind")
        _check_text("meter_id", self.meter_id)
        _check_tuple("registers", self.registers, RegisterUsage)
        _check_text("schedule_id", self.schedule_id, allow_empty=True)
        _check_uint("schedule_version", self.schedule_version, _MAX_U32)
        _check_time("time", self.time)
        _check_bytes("auth_code", self.auth_code, maximum=64)
        _check_text("currency", self.currency)
        _set_encoding(self, None)

    @property
    def total_charge(self) -> Decimal:
        """The charge over all registers of this registration."""
        return sum((r.charge for r in self.registers), Decimal(0))


@dataclass(frozen=True, slots=True)
class TamperEvent:
    """One detection by a tamper sensor or the supply watchdog, and when it happened."""

    kind: TamperKind
    time: datetime

    def __post_init__(self) -> None:
        """Check the kind and that the time is aware UTC."""
        if not isinstance(self.kind, TamperKind):
            raise ProtocolUsageError("kind must be a TamperKind")
        _check_time("time", self.time)


@dataclass(frozen=True, slots=True)
class Status:
    """The meter's status message: tamper history, schedule, peak load, health, deadlines."""

    meter_id: str
    time: datetime
    tamper_events: tuple[TamperEvent, ...]
    schedule_id: str
    schedule_version: int
    schedule_valid_from: datetime
    schedule_valid_to: datetime | None
    peak_load_w: int
    peak_load_time: datetime | None
    next_contact: datetime
    battery: BatteryState
    battery_mv: int
    clock: ClockState
    firmware: str
    blocked: bool = False

    def __post_init__(self) -> None:
        """Check every field so a bad status never reaches the wire."""
        _check_text("meter_id", self.meter_id)
        _check_time("time", self.time)
        _check_tuple("tamper_events", self.tamper_events, TamperEvent)
        _check_text("schedule_id", self.schedule_id, allow_empty=True)
        _check_uint("schedule_version", self.schedule_version, _MAX_U32)
        _check_time("schedule_valid_from", self.schedule_valid_from)
        if self.schedule_valid_to is not None:
            _check_time("schedule_valid_to", self.schedule_valid_to)
        _check_uint("peak_load_w", self.peak_load_w, _MAX_U32)
        if self.peak_load_time is not None:
            _check_time("peak_load_time", self.peak_load_time)
        _check_time("next_contact", self.next_contact)
        if not isinstance(self.battery, BatteryState):
            raise ProtocolUsageError("battery must be a BatteryState")
        _check_uint("battery_mv", self.battery_mv, 65535)
        if not isinstance(self.clock, ClockState):
            raise ProtocolUsageError("clock must be a ClockState")
        _check_text("firmware", self.firmware, allow_empty=True)
        if not isinstance(self.blocked, bool):
            raise ProtocolUsageError("blocked must be a bool")


@dataclass(frozen=True, slots=True)
class Uplink:
    """A batch from meter to head-end: every unacknowledged registration, maybe a status.

    `nonce` is fresh per uplink (`NONCE_SIZE` bytes); the answering downlink must echo it.
    """

    meter_id: str
    time: datetime
    nonce: bytes
    registrations: tuple[Registration, ...] = ()
    status: Status | None = None
    key_announcement: bytes = b""
    """A key rollover announcement (`sealmeter.protocol.rollover`), or empty: an optional
    trailer on the wire, absent when empty (docs/protocol.md, "Key rollover")."""

    def __post_init__(self) -> None:
        """Check the batch; every registration and the status must name this meter."""
        _check_text("meter_id", self.meter_id)
        _check_time("time", self.time)
        _check_bytes("nonce", self.nonce, size=NONCE_SIZE, maximum=NONCE_SIZE)
        _check_tuple("registrations", self.registrations, Registration)
        for reg in self.registrations:
            if reg.meter_id != self.meter_id:
                raise ProtocolUsageError(
                    f"registration {reg.seq} names meter {reg.meter_id!r}, "
                    f"the uplink {self.meter_id!r}"
                )
        if self.status is not None:
            if not isinstance(self.status, Status):
                raise ProtocolUsageError("status must be a Status or None")
            if self.status.meter_id != self.meter_id:
                raise ProtocolUsageError("the status names another meter than the uplink")
        _check_bytes("key_announcement", self.key_announcement, maximum=65535)
        if self.key_announcement and not is_announcement_shaped(self.key_announcement):
            raise ProtocolUsageError(
                "key_announcement must be an encoded KeyAnnouncement (or empty)"
            )


@dataclass(frozen=True, slots=True)
class CreditFrame:
    """How long and how much a meter may run unconfirmed before it blocks."""

    duration: timedelta
    charge_limit: Decimal

    def __post_init__(self) -> None:
        """Check the frame is a non-negative span and a finite amount."""
        if not isinstance(self.duration, timedelta) or self.duration < timedelta(0):
            raise ProtocolUsageError("duration must be a non-negative timedelta")
        _check_money("charge_limit", self.charge_limit)
        if self.charge_limit < 0:
            raise ProtocolUsageError("charge_limit must not be negative")


@dataclass(frozen=True, slots=True)
class EnableCode:
    """The seed's enable code: the meter resets its outstanding charge on an authentic one.

    Bound to the meter id, the highest registration acknowledged, the meter's fresh nonce
    and an expiry; it carries the new credit frame.
    """

    meter_id: str
    acked_seq: int
    nonce: bytes
    expires: datetime
    credit_frame: CreditFrame

    def __post_init__(self) -> None:
        """Check every field so a bad enable code never reaches the wire."""
        _check_text("meter_id", self.meter_id)
        _check_uint("acked_seq", self.acked_seq)
        _check_bytes("nonce", self.nonce, size=NONCE_SIZE, maximum=NONCE_SIZE)
        _check_time("expires", self.expires)
        if not isinstance(self.credit_frame, CreditFrame):
            raise ProtocolUsageError("credit_frame must be a CreditFrame")


@dataclass(frozen=True, slots=True)
class ScheduleUpdate:
    """A new rate schedule: id, version, validity and its canonical bytes (from the tariff core)."""

    schedule_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    schedule_bytes: bytes

    def __post_init__(self) -> None:
        """Check every field; the validity must not end before it starts."""
        _check_text("schedule_id", self.schedule_id)
        _check_uint("version", self.version, _MAX_U32)
        _check_time("valid_from", self.valid_from)
        if self.valid_to is not None:
            _check_time("valid_to", self.valid_to)
            if self.valid_to <= self.valid_from:
                raise ProtocolUsageError("valid_to must be after valid_from")
        _check_bytes("schedule_bytes", self.schedule_bytes, maximum=_MAX_U32)


@dataclass(frozen=True, slots=True)
class Command:
    """A command to the meter; `argument` carries kind-specific bytes (e.g. new key material)."""

    kind: CommandKind
    argument: bytes = b""

    def __post_init__(self) -> None:
        """Check the kind and the argument's size."""
        if not isinstance(self.kind, CommandKind):
            raise ProtocolUsageError("kind must be a CommandKind")
        _check_bytes("argument", self.argument, maximum=65535)


@dataclass(frozen=True, slots=True)
class Downlink:
    """A batch from head-end to meter, answering one uplink (it echoes that uplink's nonce)."""

    meter_id: str
    time: datetime
    nonce: bytes
    enable_code: EnableCode | None = None
    schedules: tuple[ScheduleUpdate, ...] = ()
    commands: tuple[Command, ...] = field(default=())

    def __post_init__(self) -> None:
        """Check the batch; an enable code must name this meter and echo this nonce."""
        _check_text("meter_id", self.meter_id)
        _check_time("time", self.time)
        _check_bytes("nonce", self.nonce, size=NONCE_SIZE, maximum=NONCE_SIZE)
        _check_tuple("schedules", self.schedules, ScheduleUpdate)
        _check_tuple("commands", self.commands, Command)
        if self.enable_code is not None and not isinstance(self.enable_code, EnableCode):
            raise ProtocolUsageError("enable_code must be an EnableCode or None")


_T = TypeVar("_T")

ANNOUNCEMENT_PREFIX = b"\x01\x11"
"""Version and type bytes every key announcement starts with (`protocol.rollover`)."""
MIN_ANNOUNCEMENT = 39
"""Bytes of the shortest possible encoded key announcement."""


def is_announcement_shaped(data: bytes) -> bool:
    """Whether `data` can be a key announcement (prefix and minimum size; decode checks all)."""
    return len(data) >= MIN_ANNOUNCEMENT and data[:2] == ANNOUNCEMENT_PREFIX


def build_unchecked(cls: type[_T], **fields: object) -> _T:
    """Build a message without its `__post_init__` checks, for the decoder only.

    The decoder's layout already guarantees the ranges and types; it checks the rest itself.
    """
    obj = _new(cls)
    set_field = _set
    for name, value in fields.items():
        set_field(obj, name, value)
    return obj


class RegisterUsageSlots:
    """`RegisterUsage`'s slot layout without its frozen `__setattr__`, for the decoder only.

    Plain attribute stores on a slots class are several times faster than the frozen
    dataclass's slot setters; once every field is set, `as_message` turns the object into
    the message class (an allowed `__class__` assignment: the layouts are identical, which
    `_twin_check` proves at import). Nothing else ever sees an object of this class.
    """

    __slots__ = RegisterUsage.__slots__
    obis: str
    usage: int
    charge: Decimal


class RegistrationSlots(_Encoded):
    """`Registration`'s slot layout (with the remembered encoding); see `RegisterUsageSlots`."""

    __slots__ = Registration.__slots__
    seq: int
    kind: RegistrationKind
    meter_id: str
    registers: tuple[RegisterUsage, ...]
    schedule_id: str
    schedule_version: int
    time: datetime
    auth_code: bytes
    currency: str
    _encoding: bytes | None


class TamperEventSlots:
    """`TamperEvent`'s slot layout; see `RegisterUsageSlots`."""

    __slots__ = TamperEvent.__slots__
    kind: TamperKind
    time: datetime


class StatusSlots:
    """`Status`'s slot layout; see `RegisterUsageSlots`."""

    __slots__ = Status.__slots__
    meter_id: str
    time: datetime
    tamper_events: tuple[TamperEvent, ...]
    schedule_id: str
    schedule_version: int
    schedule_valid_from: datetime
    schedule_valid_to: datetime | None
    peak_load_w: int
    peak_load_time: datetime | None
    next_contact: datetime
    battery: BatteryState
    battery_mv: int
    clock: ClockState
    firmware: str
    blocked: bool


class UplinkSlots:
    """`Uplink`'s slot layout; see `RegisterUsageSlots`."""

    __slots__ = Uplink.__slots__
    meter_id: str
    time: datetime
    nonce: bytes
    registrations: tuple[Registration, ...]
    status: Status | None
    key_announcement: bytes


as_message: Callable[[object, type], None] = vars(object)["__class__"].__set__
"""`as_message(obj, cls)`: make a fully set `...Slots` object the message `cls` it mirrors."""


def _twin_check() -> None:
    """Fail at import, not on a peer's message, if a layout twin drifted from its message."""
    for twin, message in (
        (RegisterUsageSlots, RegisterUsage),
        (RegistrationSlots, Registration),
        (TamperEventSlots, TamperEvent),
        (StatusSlots, Status),
        (UplinkSlots, Uplink),
    ):
        as_message(object.__new__(twin), message)  # TypeError if the layouts differ


def register_usage_unchecked(obis: str, usage: int, charge: Decimal) -> RegisterUsage:
    """`RegisterUsage` without its checks (the decoder's hot path; see `build_unchecked`)."""
    obj = _new(RegisterUsage)
    _set(obj, "obis", obis)
    _set(obj, "usage", usage)
    _set(obj, "charge", charge)
    return obj


_new = object.__new__
_set = object.__setattr__
_set_encoding = vars(_Encoded)["_encoding"].__set__
_twin_check()


def cached_encoding(message: object) -> bytes | None:
    """The canonical encoding a message remembers (see `_Encoded`), or None if unknown."""
    value: bytes | None = getattr(message, "_encoding", None)
    return value


def remember_encoding(message: _Encoded, encoding: bytes | None) -> None:
    """Record `encoding` as the canonical bytes of `message`, None for unknown (codec and
    chain only)."""
    _set_encoding(message, encoding)


def to_wire_time(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware UTC datetime (exact)."""
    delta = when - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_wire_time(micros: int) -> datetime:
    """The aware UTC datetime of `micros` microseconds since the Unix epoch."""
    return _EPOCH + timedelta(0, 0, micros)
