"""A plain JSON form of protocol messages, for test vectors a second implementation can read.

Datetimes are ISO 8601 in UTC, money a decimal string, bytes lowercase hex, enums their name,
timedeltas whole microseconds; field names are the dataclass field names.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

__all__ = ["to_json"]


def to_json(value: Any) -> Any:
    """The JSON form of a message (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value // timedelta(microseconds=1)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value
