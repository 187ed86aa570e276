"""Schedules: loading, validation errors naming the field, canonical bytes and digests."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.errors import PeerError, UsageError
from sealmeter.tariff import (
    MalformedScheduleBytes,
    RateSchedule,
    ScheduleError,
    load_schedule,
    load_shipped,
    schedule_from_bytes,
    schedule_from_dict,
    shipped_names,
)
from tests.tariff.conftest import base_schedule, load_json

INVALID = load_json("invalid_schedules.json")["cases"]


def _edit(data: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    for path, value in case.get("set", []):
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    for path in case.get("delete", []):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return data


def test_base_schedule_is_valid() -> None:
    schedule = schedule_from_dict(base_schedule())
    assert schedule.band("night").unit_price == Decimal("0.20")
    assert schedule.register("1.8.1").name == "day"


@pytest.mark.parametrize("case", INVALID, ids=[c["why"] for c in INVALID])
def test_bad_schedule_gives_typed_error_naming_the_field(case: dict[str, Any]) -> None:
    with pytest.raises(ScheduleError) as info:
        schedule_from_dict(_edit(base_schedule(), case))
    assert info.value.field == case["field"]
    assert case["field"] in str(info.value)
    assert isinstance(info.value, UsageError)


@pytest.mark.parametrize("name", shipped_names())
def test_shipped_tariffs_round_trip_through_canonical_bytes(name: str) -> None:
    schedule = load_shipped(name)
    data = schedule.to_bytes()
    again = RateSchedule.from_bytes(data)
    assert again == schedule
    assert again.to_bytes() == data
    assert again.digest() == schedule.digest()
    assert schedule_from_dict(json.loads(data)) == schedule


def test_canonical_bytes_are_sorted_compact_json() -> None:
    data = schedule_from_dict(base_schedule()).to_bytes()
    parsed = json.loads(data)
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert parsed["bands"][1]["price"] == "0.2"  # normalised decimal, as a string


def test_equal_schedules_written_differently_have_one_canonical_form() -> None:
    a = base_schedule()
    b = base_schedule()
    b["bands"][0]["price"] = Decimal("0.300")
    b["valid_from"] = "2023-01-01T01:00:00+01:00"
    assert schedule_from_dict(a).to_bytes() == schedule_from_dict(b).to_bytes()


def test_a_changed_price_changes_the_digest() -> None:
    a = base_schedule()
    b = base_schedule()
    b["bands"][0]["price"] = "0.31"
    assert schedule_from_dict(a).digest() != schedule_from_dict(b).digest()


def test_non_canonical_bytes_are_refused() -> None:
    data = schedule_from_dict(base_schedule()).to_bytes()
    pretty = json.dumps(json.loads(data), indent=1).encode()
    with pytest.raises(MalformedScheduleBytes, match="not canonical"):
        schedule_from_bytes(pretty)


def test_every_truncation_and_trailing_data_is_refused() -> None:
    data = schedule_from_dict(base_schedule()).to_bytes()
    for cut in range(len(data)):
        with pytest.raises(MalformedScheduleBytes):
            schedule_from_bytes(data[:cut])
    for tail in (b" ", b"\n", b"{}", b"\x00"):
        with pytest.raises(MalformedScheduleBytes):
            schedule_from_bytes(data + tail)


def test_every_single_byte_flip_is_refused_or_changes_the_digest() -> None:
    schedule = schedule_from_dict(base_schedule())
    data = schedule.to_bytes()
    for i in range(0, len(data), 7):
        tampered = bytearray(data)
        tampered[i] ^= 0x01
        try:
            other = schedule_from_bytes(bytes(tampered))
        except MalformedScheduleBytes:
            continue
        assert other.digest() != schedule.digest()


@given(st.binary(max_size=300))
def test_garbage_bytes_give_only_a_typed_error(data: bytes) -> None:
    with contextlib.suppress(MalformedScheduleBytes):
        schedule_from_bytes(data)
    assert issubclass(MalformedScheduleBytes, PeerError)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    ["id", "bands", "rules", "version", "price", "slots", "from", "to"]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=10,
    )
)
def test_garbage_json_gives_only_a_typed_error(value: object) -> None:
    with contextlib.suppress(MalformedScheduleBytes):
        schedule_from_bytes(json.dumps(value).encode())


def test_toml_and_json_files_load_the_same_schedule(tmp_path: Path) -> None:
    as_json = tmp_path / "s.json"
    as_json.write_text(json.dumps(base_schedule()))
    as_toml = tmp_path / "s.toml"
    as_toml.write_text(
        'id = "test-two-band"\nversion = 1\nvalid_from = "2023-01-01T00:00:00Z"\n'
        'timezone = "Europe/Berlin"\ncurrency = "EUR"\n'
        'standing_charge = { amount = 0.5, per = "day" }\n'
        '[[bands]]\nname = "day"\nobis = "1.8.1"\nprice = 0.30\n'
        '[[bands]]\nname = "night"\nobis = "1.8.2"\nprice = 0.20\n'
        '[[seasons]]\nname = "summer"\nfrom = "04-01"\nto = "09-30"\n'
        '[[seasons]]\nname = "winter"\nfrom = "10-01"\nto = "03-31"\n'
        '[[rules]]\ndays = ["workday", "saturday"]\nslots = [\n'
        ' { from = "00:00", to = "06:00", band = "night" },\n'
        ' { from = "06:00", to = "22:00", band = "day" },\n'
        ' { from = "22:00", to = "24:00", band = "night" },\n]\n'
        '[[rules]]\ndays = ["sunday", "holiday"]\n'
        'slots = [{ from = "00:00", to = "24:00", band = "night" }]\n'
    )
    assert load_schedule(as_toml) == load_schedule(as_json)


def test_unreadable_and_broken_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="cannot read"):
        load_schedule(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("id = [")
    with pytest.raises(ScheduleError, match="not valid TOML"):
        load_schedule(broken)


def test_unknown_shipped_name_lists_the_known_ones() -> None:
    with pytest.raises(ScheduleError, match="uk-e7-eon-next-flex"):
        load_shipped("nope")
