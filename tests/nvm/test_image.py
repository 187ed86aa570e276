"""Save/load of memory images: round trips, stored vectors, and every kind of corruption."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.nvm import (
    Eeprom,
    FaultPlan,
    ImageError,
    NorFlash,
    PowerCut,
    TearMode,
    decode_image,
    encode_image,
    load,
    save,
)

DATA = Path(__file__).parent / "data"
VECTORS: list[dict[str, Any]] = json.loads((DATA / "images.json").read_text())["images"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["file"] for v in VECTORS])
def test_stored_images_load_with_the_documented_content(vector: dict[str, Any]) -> None:
    part = load(DATA / vector["file"])
    geo = part.geometry
    assert (geo.technology.value, geo.size, geo.erased, geo.endurance) == (
        vector["technology"],
        vector["size"],
        vector["erased"],
        vector["endurance"],
    )
    for offset, hexdata in vector["content"].items():
        data = bytes.fromhex(hexdata)
        assert part.read(int(offset), len(data)) == data
    assert part.cycles() == vector["cycles"]
    assert {k: list(v) for k, v in part.regions.items()} == vector["regions"]
    assert encode_image(part) == (DATA / vector["file"]).read_bytes()


def _busy_part() -> NorFlash:
    part = NorFlash(1024, page_size=256, program_limit=5, plan=FaultPlan(seed=3))
    part.region("a", 256).program(0, b"\x00\x0f")
    part.region("b", 512)
    part.erase(512, 256)
    part.inject(FaultPlan(seed=3, cut_at=1, tear=TearMode.RANDOM, weak_on_tear=True))
    with pytest.raises(PowerCut):
        part.program(600, b"\x00" * 16)
    return part


def test_round_trip_keeps_cells_wear_weak_bits_regions_and_power(tmp_path: Path) -> None:
    part = _busy_part()
    path = tmp_path / "flash.img"
    save(part, path)
    again = load(path)
    assert not again.powered
    again.power_on()
    part.power_on()
    assert again.cycles() == part.cycles()
    assert again.regions == part.regions
    assert again.ops == part.ops
    assert again.read(0, 512) == part.read(0, 512)
    # weak bits survive: the torn range reads inconsistently after loading too
    assert len({again.read(600, 16) for _ in range(20)}) > 1
    # the program counts survive: word 0 was programmed once, limit 5
    for _ in range(4):
        again.program(0, b"\x00")
    with pytest.raises(Exception, match="programmed 5 times"):
        again.program(0, b"\x00")


def test_save_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "e.img"
    save(Eeprom(64), path)
    save(Eeprom(128), path)
    assert load(path).geometry.size == 128
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.img"]


def test_missing_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read memory image"):
        load(tmp_path / "absent.img")


def test_every_single_byte_change_is_caught() -> None:
    good = encode_image(Eeprom(32))
    rng = random.Random(4)
    for i in range(len(good)):
        bad = bytearray(good)
        bad[i] ^= rng.randrange(1, 256)
        with pytest.raises(ImageError):
            decode_image(bytes(bad))


def test_every_truncation_and_trailing_data_is_caught() -> None:
    good = encode_image(Eeprom(32))
    for n in range(len(good)):
        with pytest.raises(ImageError):
            decode_image(good[:n])
    with pytest.raises(ImageError):
        decode_image(good + b"\x00")


def _reseal(body: bytes) -> bytes:
    import hashlib

    return body + hashlib.sha256(body).digest()


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"technology": "core"}, "impossible part"),
        ({"erased": 7}, "impossible part"),
        ({"size": "big"}, "not int"),
        ({"regions": {"x": [0, 9999]}}, "invalid span"),
        ({"ops": True}, "not int"),
    ],
)
def test_well_sealed_but_inconsistent_headers_are_rejected(
    header: dict[str, Any], message: str
) -> None:
    good = encode_image(Eeprom(32))
    hlen = int.from_bytes(good[9:13], "big")
    fields = json.loads(good[13 : 13 + hlen])
    fields.update(header)
    head = json.dumps(fields).encode()
    body = good[:9] + len(head).to_bytes(4, "big") + head + good[13 + hlen : -32]
    with pytest.raises(ImageError, match=message):
        decode_image(_reseal(body))


def test_unknown_version_says_to_upgrade() -> None:
    good = encode_image(Eeprom(32))
    body = bytearray(good[:-32])
    body[8] = 9
    with pytest.raises(ImageError, match="upgrade"):
        decode_image(_reseal(bytes(body)))


@given(st.binary(max_size=200))
def test_garbage_gives_a_typed_error(data: bytes) -> None:
    with pytest.raises(ImageError):
        decode_image(data)


@given(st.binary(max_size=120))
def test_garbage_after_a_valid_magic_gives_a_typed_error(data: bytes) -> None:
    with pytest.raises(ImageError):
        decode_image(_reseal(b"SMNVM\r\n\x1a" + data))


def test_part_save_method_matches_the_module_function(tmp_path: Path) -> None:
    part = Eeprom(64)
    part.write(1, b"\x42")
    part.save(tmp_path / "a.img")
    save(part, tmp_path / "b.img")
    assert (tmp_path / "a.img").read_bytes() == (tmp_path / "b.img").read_bytes()
    assert load(tmp_path / "a.img").read(1, 1) == b"\x42"
