"""Primitive fields of the fixed binary layout: big-endian integers, length-prefixed text/bytes.

`Writer` appends fields; `Reader` takes them off a buffer and raises `TruncatedMessage` or
`MalformedMessage` (never another exception) when the bytes do not hold the field asked for.
"""

from __future__ import annotations

import struct
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from sealmeter.protocol.errors import MalformedMessage, TrailingData, TruncatedMessage

__all__ = ["EXACT_DECIMAL", "Reader", "Writer", "make_decimal", "split_decimal"]

_U8 = struct.Struct(">B")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_DEC = struct.Struct(">bq")
_LENGTHS = [bytes((n,)) for n in range(256)]


_EXACT = Context(prec=64, Emin=-999_999, Emax=999_999, traps=[InvalidOperation])
EXACT_DECIMAL = _EXACT
"""The decimal context of the wire: wide enough that no charge is ever rounded."""
_SCALES = {e: Decimal(1).scaleb(-e, context=_EXACT) for e in range(-64, 65)}


def make_decimal(mantissa: int, exponent: int) -> Decimal:
    """The exact decimal mantissa * 10**exponent, keeping `exponent` as its exponent.

    Uses its own context, so a caller's `decimal` precision can never round a charge.
    """
    return Decimal(mantissa).scaleb(exponent, context=_EXACT)


def split_decimal(value: Decimal) -> tuple[int, int]:
    """(mantissa, exponent) of a finite decimal, so that make_decimal gives it back."""
    # Fast path: a decimal in plain notation ("-12.50", "7") shows every digit of its
    # mantissa and, after the point, exactly -exponent digits. Anything else (scientific
    # notation, a positive exponent) takes the general path.
    text = str(value)
    point = text.find(".")
    digits = text if point < 0 else text[:point] + text[point + 1 :]
    if digits.lstrip("-").isdigit() and digits.isascii():
        return int(digits), 0 if point < 0 else point + 1 - len(text)
    return _split_decimal_general(value)


def _split_decimal_general(value: Decimal) -> tuple[int, int]:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = _SCALES.get(exponent)
    if scale is None:
        return int(value.scaleb(-exponent, context=_EXACT)), exponent
    # exact: the product has the value's digits and exponent 0 (64 digits of precision)
    return int(_EXACT.multiply(value, scale)), exponent


class Writer:
    """Appends fixed-layout fields to a growing byte buffer."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        """Start an empty buffer."""
        self._parts: list[bytes] = []

    def u8(self, value: int) -> None:
        """Append an unsigned 8-bit integer."""
        self._parts.append(_U8.pack(value))

    def u16(self, value: int) -> None:
        """Append an unsigned 16-bit big-endian integer."""
        self._parts.append(_U16.pack(value))

    def u32(self, value: int) -> None:
        """Append an unsigned 32-bit big-endian integer."""
        self._parts.append(_U32.pack(value))

    def u64(self, value: int) -> None:
        """Append an unsigned 64-bit big-endian integer."""
        self._parts.append(_U64.pack(value))

    def i64(self, value: int) -> None:
        """Append a signed 64-bit big-endian integer (two's complement)."""
        self._parts.append(_I64.pack(value))

    def raw(self, value: bytes) -> None:
        """Append bytes of a length both sides know (no prefix)."""
        self._parts.append(value)

    def text(self, value: str) -> None:
        """Append UTF-8 text with a one-byte length prefix (at most 255 bytes)."""
        data = value.encode()
        self._parts += (_LENGTHS[len(data)], data)

    def blob16(self, value: bytes) -> None:
        """Append bytes with a two-byte length prefix."""
        self._parts.append(_U16.pack(len(value)) + value)

    def blob32(self, value: bytes) -> None:
        """Append bytes with a four-byte length prefix."""
        self._parts.append(_U32.pack(len(value)) + value)

    def decimal(self, value: Decimal) -> None:
        """Append an exact decimal as a signed exponent byte and a signed 64-bit mantissa."""
        mantissa, exponent = split_decimal(value)
        self._parts.append(_DEC.pack(exponent, mantissa))

    def getvalue(self) -> bytes:
        """Return everything appended so far."""
        return b"".join(self._parts)


class Reader:
    """Takes fixed-layout fields off a byte buffer, checking every length."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        """Read `data`; `what` names the message in error texts."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedMessage(f"{what} must be bytes, got {type(data).__name__}")
        self._data = bytes(data)
        self._pos = 0
        self._what = what

    @property
    def position(self) -> int:
        """Offset of the next unread byte."""
        return self._pos

    def buffer(self) -> tuple[bytes, int]:
        """(the whole buffer, offset of the next unread byte), for decoders' inlined fast paths."""
        return self._data, self._pos

    def skip_to(self, position: int) -> None:
        """Mark everything before `position` as read (after a fast path checked those bytes)."""
        if not self._pos <= position <= len(self._data):
            raise ValueError("skip_to must move forward within the buffer")
        self._pos = position

    def slice(self, start: int, end: int) -> bytes:
        """The bytes between two positions already read (for keeping a field's encoding)."""
        return self._data[start:end]

    def _truncated(self, size: int, field: str) -> TruncatedMessage:
        return TruncatedMessage(
            f"{self._what} is truncated: {field} needs {size} bytes at offset {self._pos}, "
            f"only {len(self._data) - self._pos} remain; resend the whole message"
        )

    def take(self, size: int, field: str) -> bytes:
        """Take exactly `size` bytes for `field`, or raise `TruncatedMessage`."""
        pos = self._pos
        end = pos + size
        if end > len(self._data):
            raise self._truncated(size, field)
        self._pos = end
        return self._data[pos:end]

    def unpack(self, layout: struct.Struct, field: str) -> tuple[Any, ...]:
        """Take a run of fixed-size fields described by `layout` in one step."""
        pos = self._pos
        end = pos + layout.size
        if end > len(self._data):
            raise self._truncated(layout.size, field)
        self._pos = end
        return layout.unpack_from(self._data, pos)

    def u8(self, field: str) -> int:
        """Take an unsigned 8-bit integer."""
        pos = self._pos
        if pos >= len(self._data):
            raise self._truncated(1, field)
        self._pos = pos + 1
        return self._data[pos]

    def u16(self, field: str) -> int:
        """Take an unsigned 16-bit big-endian integer."""
        value: int = self.unpack(_U16, field)[0]
        return value

    def u32(self, field: str) -> int:
        """Take an unsigned 32-bit big-endian integer."""
        value: int = self.unpack(_U32, field)[0]
        return value

    def u64(self, field: str) -> int:
        """Take an unsigned 64-bit big-endian integer."""
        value: int = self.unpack(_U64, field)[0]
        return value

    def i64(self, field: str) -> int:
        """Take a signed 64-bit big-endian integer."""
        value: int = self.unpack(_I64, field)[0]
        return value

    def flag(self, field: str) -> bool:
        """Take a presence/boolean byte that must be 0 or 1."""
        value = self.u8(field)
        if value > 1:
            raise MalformedMessage(f"{self._what}: {field} must be 0 or 1, got {value}")
        return value == 1

    def text(self, field: str) -> str:
        """Take UTF-8 text with a one-byte length prefix."""
        data, pos = self._data, self._pos
        if pos >= len(data):
            raise self._truncated(1, field)
        end = pos + 1 + data[pos]
        if end > len(data):
            self._pos = pos + 1
            raise self._truncated(data[pos], field)
        self._pos = end
        try:
            return data[pos + 1 : end].decode()
        except UnicodeDecodeError:
            raise MalformedMessage(f"{self._what}: {field} is not valid UTF-8") from None

    def text_and(self, layout: struct.Struct, field: str) -> tuple[Any, ...]:
        """Take a text then a run of fixed-size fields: (text, *fields), in one call."""
        text = self.text(field)
        return (text, *self.unpack(layout, field))

    def blob16(self, field: str) -> bytes:
        """Take bytes with a two-byte length prefix."""
        return self.take(self.u16(field), field)

    def blob32(self, field: str) -> bytes:
        """Take bytes with a four-byte length prefix."""
        return self.take(self.u32(field), field)

    def decimal(self, field: str) -> Decimal:
        """Take an exact decimal (signed exponent byte, signed 64-bit mantissa)."""
        exponent, mantissa = self.unpack(_DEC, field)
        return make_decimal(mantissa, exponent)

    def end(self) -> None:
        """Require that every byte was read; extra bytes raise `TrailingData`."""
        extra = len(self._data) - self._pos
        if extra:
            raise TrailingData(
                f"{self._what} has {extra} unexpected bytes after its end at offset {self._pos}; "
                "an extended message is never accepted"
            )
