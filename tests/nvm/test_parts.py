"""EEPROM and NOR flash semantics: writes, programs, erases, wear, regions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.nvm import (
    Eeprom,
    NorFlash,
    NvmDevice,
    NvmUsageError,
    OutOfBounds,
    ProgramLimitExceeded,
    Technology,
)

POLARITIES = [0xFF, 0x00]


@pytest.mark.parametrize("erased", POLARITIES)
def test_eeprom_starts_erased_and_write_replaces_bytes(erased: int) -> None:
    part = Eeprom(64, erased=erased)
    assert part.read(0, 64) == bytes([erased]) * 64
    part.write(3, b"\x12\x34")
    part.write(3, b"\xf0")
    assert part.read(2, 4) == bytes([erased, 0xF0, 0x34, erased])


def test_eeprom_write_costs_one_cycle_per_word_touched() -> None:
    part = Eeprom(64, word_size=4)
    part.write(2, b"\x00\x00\x00")  # bytes 2..4 touch words 0 and 1
    part.write(8, b"\x00")
    assert part.cycles()[:4] == [1, 1, 1, 0]
    part.erase(0, 8)
    assert part.cycles()[:3] == [2, 2, 1]
    assert part.geometry.technology is Technology.EEPROM


@pytest.mark.parametrize("erased", POLARITIES)
def test_flash_program_only_moves_bits_away_from_erased(erased: int) -> None:
    part = NorFlash(512, page_size=256, erased=erased)
    programmed = erased ^ 0xFF
    part.program(0, bytes([erased ^ 0x0F]))
    part.program(0, bytes([erased ^ 0xF0]))
    assert part.read(0, 1)[0] == programmed
    # asking for erased bits over programmed ones leaves them programmed, as on a real part
    part.program(1, bytes([programmed]))
    part.program(1, bytes([erased]))
    assert part.read(1, 1)[0] == programmed
    assert part.cycles() == [0, 0]  # programming costs no erase cycle


def test_flash_erase_is_per_page_and_costs_one_cycle() -> None:
    part = NorFlash(1024, page_size=256)
    part.program(300, b"\x00")
    part.erase(256, 512)
    assert part.read(300, 1) == b"\xff"
    assert part.cycles() == [0, 1, 1, 0]
    with pytest.raises(NvmUsageError, match="page aligned"):
        part.erase(10, 256)


def test_flash_program_limit_is_enforced_until_erase() -> None:
    part = NorFlash(512, page_size=256, program_limit=3)
    for bit in range(3):
        part.program(0, bytes([0xFF ^ (1 << bit)]))
    with pytest.raises(ProgramLimitExceeded, match="erase the page first"):
        part.program(0, b"\x7f")
    part.program(1, b"\x00")  # another word is unaffected
    part.erase(0, 256)
    part.program(0, b"\x7f")
    assert part.read(0, 1) == b"\x7f"


@pytest.mark.parametrize(
    ("offset", "length"), [(-1, 1), (60, 5), (64, 1), (0, 65)], ids=["neg", "tail", "end", "long"]
)
def test_out_of_range_access_is_a_typed_error(offset: int, length: int) -> None:
    part = Eeprom(64)
    with pytest.raises(OutOfBounds):
        part.read(offset, length)
    with pytest.raises(OutOfBounds):
        part.write(offset, b"\x00" * max(length, 1))


@pytest.mark.parametrize(
    "kwargs",
    [{"erased": 0x0F}, {"size": 10, "word_size": 4}, {"endurance": 0}, {"size": 0}],
)
def test_impossible_geometry_is_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(NvmUsageError):
        Eeprom(**kwargs)


def test_parts_follow_the_device_protocol() -> None:
    assert isinstance(Eeprom(64), NvmDevice)
    assert isinstance(NorFlash(512), NvmDevice)
    assert isinstance(Eeprom(64).region("r", 16), NvmDevice)


def test_regions_do_not_overlap_and_enforce_their_bounds() -> None:
    part = NorFlash(2048, page_size=256)
    a = part.region("counter", 512)
    b = part.region("log", 256)
    assert (a.offset, b.offset) == (0, 512)
    b.program(0, b"\x00")
    assert part.read(512, 1) == b"\x00"
    assert a.read(0, 1) == b"\xff"
    with pytest.raises(OutOfBounds):
        b.read(250, 10)
    with pytest.raises(OutOfBounds):
        b.erase(256, 256)
    assert part.region("counter", 512).offset == 0  # same name, same region
    with pytest.raises(NvmUsageError, match="already exists"):
        part.region("counter", 256)
    with pytest.raises(NvmUsageError, match="multiple of the cell group"):
        part.region("keys", 100)
    with pytest.raises(OutOfBounds, match="does not fit"):
        part.region("big", 2048)
    assert b.cycles() == [0]
    assert b.geometry.size == 256


@given(
    writes=st.lists(st.tuples(st.integers(0, 63), st.binary(min_size=1, max_size=8)), max_size=30),
)
def test_eeprom_matches_a_plain_bytearray_model(writes: list[tuple[int, bytes]]) -> None:
    part = Eeprom(72)
    model = bytearray(b"\xff" * 72)
    for offset, data in writes:
        part.write(offset, data)
        model[offset : offset + len(data)] = data
    assert part.read(0, 72) == bytes(model)
    assert part.ops == len(writes)


def test_region_write_and_program_are_technology_specific() -> None:
    eeprom = Eeprom(64).region("r", 16)
    flash = NorFlash(512, page_size=256).region("r", 256)
    eeprom.write(0, b"\x01")
    flash.program(0, b"\x01")
    with pytest.raises(NvmUsageError, match="has no program"):
        eeprom.program(0, b"\x00")
    with pytest.raises(NvmUsageError, match="has no write"):
        flash.write(0, b"\x00")
    assert (eeprom.read(0, 1), flash.read(0, 1)) == (b"\x01", b"\x01")
    assert "eeprom" in repr(eeprom)
