"""Coded records with a redundancy code: the stored form of B, SB, C2 and frame headers.

A record is 12 bytes: a tag byte naming what it is, a 24-bit generation, a 32-bit value and a
32-bit redundancy code (CRC-32 of the first 8 bytes, XORed with a constant). The tag is never
0x00 or 0xFF, so neither an erased nor a fully programmed area (of either polarity) decodes as
a record; a torn write decodes only if it happens to produce all 12 bytes of a valid record,
which for random garbage happens with probability below 2**-40 (measured in the tests).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from sealmeter.counter.errors import CounterCorrupted, CounterFull, CounterUsageError

__all__ = [
    "MAX_GENERATION",
    "MAX_VALUE",
    "RECORD_SIZE",
    "Record",
    "RecordTag",
    "decode_record",
    "encode_record",
    "try_decode",
]

RECORD_SIZE = 12
MAX_VALUE = 2**32 - 1
MAX_GENERATION = 2**24 - 1
_CODE_MASK = 0x5EA1_3E7E
_LAYOUT = struct.Struct(">B3sI")


class RecordTag(enum.IntEnum):
    """What a record holds; the tag keeps records of one kind from passing as another."""

    VALUE = 0xB5
    """Coded counter value of area B or its backup SB (seed: value + CR / SCR)."""
    UPDATE = 0xC2
    """Update-in-progress indicator C2; its value is the `UpdateKind`."""
    FRAME = 0xF7
    """Frame header of the levelled counter (generation = frame sequence number)."""
    TOTAL = 0x9E
    """Whole total of the naive counter."""
    DIRECT = 0xD1
    """Frame header of a levelled counter whose bit field failed: the value is the header's."""


@dataclass(frozen=True)
class Record:
    """A decoded record: its tag, generation and value."""

    tag: RecordTag
    gen: int
    value: int


def encode_record(tag: RecordTag, gen: int, value: int) -> bytes:
    """The 12 bytes of a record; raise if `gen` or `value` do not fit."""
    if not 0 <= value <= MAX_VALUE:
        raise CounterFull(
            f"value {value} does not fit a coded record (max {MAX_VALUE}); the counter is full"
        )
    if not 0 <= gen <= MAX_GENERATION:
        raise CounterUsageError(f"generation {gen} outside 0..{MAX_GENERATION}")
    body = _LAYOUT.pack(int(tag), gen.to_bytes(3, "big"), value)
    return body + struct.pack(">I", zlib.crc32(body) ^ _CODE_MASK)


def try_decode(data: bytes, tag: RecordTag) -> Record | None:
    """The record in `data` if it is a valid record of kind `tag`, else None."""
    if len(data) != RECORD_SIZE or data[0] != tag:
        return None
    body = data[:8]
    (code,) = struct.unpack(">I", data[8:])
    if zlib.crc32(body) ^ _CODE_MASK != code:
        return None
    _, gen, value = _LAYOUT.unpack(body)
    return Record(tag, int.from_bytes(gen, "big"), value)


def decode_record(data: bytes, tag: RecordTag, where: str = "record") -> Record:
    """The record in `data`; raise `CounterCorrupted` naming `where` if it is not valid."""
    record = try_decode(data, tag)
    if record is None:
        raise CounterCorrupted(
            f"{where} fails its redundancy code (bytes {data.hex()}); the counter is stopped, "
            "restore it from the last confirmed reading"
        )
    return record
