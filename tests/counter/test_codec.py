"""Coded records (B, SB, C2, frame headers): vectors, redundancy, garbage acceptance."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.counter import (
    MAX_VALUE,
    RECORD_SIZE,
    CounterCorrupted,
    CounterFull,
    CounterUsageError,
    RecordTag,
    decode_record,
    encode_record,
    try_decode,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "records.json").read_text())


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: f"{v['tag']}-{v['gen']}")
def test_valid_vectors_encode_and_decode(vector: dict[str, Any]) -> None:
    tag = RecordTag[vector["tag"]]
    raw = bytes.fromhex(vector["hex"])
    assert encode_record(tag, vector["gen"], vector["value"]) == raw
    record = decode_record(raw, tag)
    assert (record.gen, record.value) == (vector["gen"], vector["value"])


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["why"])
def test_invalid_vectors_are_rejected(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    assert try_decode(raw, RecordTag[vector["tag"]]) is None
    with pytest.raises(CounterCorrupted, match="redundancy code"):
        decode_record(raw, RecordTag[vector["tag"]], "area B")


@pytest.mark.parametrize("tag", list(RecordTag))
@pytest.mark.parametrize("fill", [0x00, 0xFF])
def test_erased_and_programmed_patterns_are_never_records(tag: RecordTag, fill: int) -> None:
    assert try_decode(bytes([fill]) * RECORD_SIZE, tag) is None


def test_every_single_and_double_bit_flip_is_caught() -> None:
    raw = encode_record(RecordTag.VALUE, 12, 345678)
    nbits = 8 * RECORD_SIZE
    as_int = int.from_bytes(raw, "big")
    for i in range(nbits):
        for j in range(i, nbits):
            flipped = as_int ^ (1 << i) ^ (1 << j) if j != i else as_int ^ (1 << i)
            assert try_decode(flipped.to_bytes(RECORD_SIZE, "big"), RecordTag.VALUE) is None


def test_random_garbage_is_essentially_never_accepted() -> None:
    """Measure the acceptance rate: random strings, and random strings with the right tag."""
    rng = random.Random(2026)
    samples = 200_000
    accepted = sum(
        try_decode(rng.randbytes(RECORD_SIZE), RecordTag.VALUE) is not None for _ in range(samples)
    )
    tagged = sum(
        try_decode(bytes([RecordTag.VALUE]) + rng.randbytes(RECORD_SIZE - 1), RecordTag.VALUE)
        is not None
        for _ in range(samples)
    )
    # expected 2**-40 and 2**-32 per sample: any acceptance here would mean a broken code
    assert accepted == 0
    assert tagged == 0


@given(
    tag=st.sampled_from(list(RecordTag)),
    gen=st.integers(0, 2**24 - 1),
    value=st.integers(0, MAX_VALUE),
)
def test_round_trip(tag: RecordTag, gen: int, value: int) -> None:
    record = decode_record(encode_record(tag, gen, value), tag)
    assert (record.tag, record.gen, record.value) == (tag, gen, value)
    other = next(t for t in RecordTag if t is not tag)
    assert try_decode(encode_record(tag, gen, value), other) is None


@given(st.binary(max_size=3 * RECORD_SIZE))
def test_garbage_never_crashes(data: bytes) -> None:
    for tag in RecordTag:
        assert try_decode(data, tag) is None or len(data) == RECORD_SIZE


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(CounterFull, match="counter is full"):
        encode_record(RecordTag.VALUE, 0, MAX_VALUE + 1)
    with pytest.raises(CounterUsageError):
        encode_record(RecordTag.VALUE, 2**24, 0)
    with pytest.raises(CounterFull):
        encode_record(RecordTag.VALUE, 0, -1)
