"""Conversions between Python values and their stored forms (microseconds, seconds, strings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sealmeter.clock import ensure_utc
from sealmeter.store._records import RegisterReading

__all__ = [
    "ID_SIZE",
    "MAX_STORED_INT",
    "MAX_STORED_VERSION",
    "dur_to_s",
    "is_storable_id",
    "registers_from_json",
    "registers_to_json",
    "s_to_dur",
    "to_us",
    "us_to_dt",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ID_SIZE = 64
"""Characters of the id columns (meter, schedule, feeder): `String(64)` on every store."""
MAX_STORED_INT = 2**63 - 1
"""The largest integer an integer column holds (`BigInteger` on PostgreSQL, SQLite's INTEGER)."""
MAX_STORED_VERSION = 2**31 - 1
"""The largest schedule or key version a version column holds (`Integer` on PostgreSQL)."""


def is_storable_id(value: str, size: int = ID_SIZE) -> bool:
    """Whether every store keeps `value` exactly in an id column of `size` characters.

    1 to `size` printable characters: PostgreSQL refuses a longer value and any NUL, SQLite
    would keep either, so an id outside this rule is one no record can carry on both.
    """
    return 0 < len(value) <= size and value.isprintable()


def to_us(when: datetime) -> int:
    """An aware instant as integer microseconds since the Unix epoch."""
    delta = (when if when.tzinfo is UTC else ensure_utc(when)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def us_to_dt(us: int) -> datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=us)


def opt_us_to_dt(us: int | None) -> datetime | None:
    """Like `us_to_dt`, passing None through."""
    return None if us is None else us_to_dt(us)


def dur_to_s(span: timedelta) -> int:
    """A duration as whole seconds."""
    return int(span.total_seconds())


def s_to_dur(seconds: int) -> timedelta:
    """Whole seconds as a duration."""
    return timedelta(seconds=seconds)


def registers_to_json(registers: tuple[RegisterReading, ...]) -> str:
    """Registers as compact JSON: [[register, usage, "charge", "expected" or null], ...]."""
    parts = [
        f'[{json.dumps(r.register)},{int(r.usage)},"{r.charge}",'
        + ("null]" if r.expected is None else f'"{r.expected}"]')
        for r in registers
    ]
    return "[" + ",".join(parts) + "]"


def registers_from_json(text: str) -> tuple[RegisterReading, ...]:
    """The inverse of `registers_to_json`."""
    raw: list[list[Any]] = json.loads(text)
    return tuple(
        RegisterReading(str(r), int(u), Decimal(c), None if e is None else Decimal(e))
        for r, u, c, e in raw
    )
