"""Band lookup and next-change instants in local time, across DST, leap days and year ends."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.tariff import (
    NoScheduleInForce,
    band_at,
    bill,
    load_shipped,
    parse_usage_csv,
    schedule_from_dict,
)
from sealmeter.tariff.calendar import band_index_at, timeline
from tests.tariff.conftest import base_schedule


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def london_half_past_one() -> Any:
    """A London schedule whose band changes at 01:30 local, inside both DST hours."""
    data = base_schedule()
    data["timezone"] = "Europe/London"
    data["seasons"] = None
    data["rules"] = [
        {
            "days": ["workday", "saturday", "sunday", "holiday"],
            "slots": [
                {"from": "00:00", "to": "01:30", "band": "day"},
                {"from": "01:30", "to": "24:00", "band": "night"},
            ],
        }
    ]
    return schedule_from_dict(data)


@pytest.mark.parametrize(
    ("instant", "band", "until"),
    [
        # DE winter workday: HT 06-22 local (CET = UTC+1).
        ("2023-01-10T04:59:59Z", "NT", "2023-01-10T05:00:00Z"),
        ("2023-01-10T05:00:00Z", "HT", "2023-01-10T21:00:00Z"),
        # Friday evening NT runs to Saturday 06:00 local.
        ("2023-01-13T21:00:00Z", "NT", "2023-01-14T05:00:00Z"),
        # Saturday 13:00 local ends HT; NT through Sunday to Monday 06:00 local.
        ("2023-01-14T12:00:00Z", "NT", "2023-01-16T05:00:00Z"),
        # Spring DST Sunday 26 Mar 2023: Monday 06:00 local is CEST (UTC+2).
        ("2023-03-26T00:30:00Z", "NT", "2023-03-27T04:00:00Z"),
        # Summer workday ends HT at 18:00 CEST; the 30 Sep -> 1 Oct season change falls
        # on a weekend; Monday 2 Oct is winter, HT 06-22 CEST.
        ("2023-09-29T16:00:00Z", "NT", "2023-09-30T04:00:00Z"),
        ("2023-10-02T04:00:00Z", "HT", "2023-10-02T20:00:00Z"),
        # 3 Oct is a holiday (Tag der Deutschen Einheit): NT all day.
        ("2023-10-02T20:00:00Z", "NT", "2023-10-04T04:00:00Z"),
        # Autumn DST Sunday 29 Oct 2023 (25 h): NT until Monday 06:00 CET = 05:00Z.
        ("2023-10-28T12:00:00Z", "NT", "2023-10-30T05:00:00Z"),
        # Year end: 30 Dec 2022 is a Friday; 31 Dec Saturday HT 06-13; 1 Jan holiday.
        ("2022-12-31T05:00:00Z", "HT", "2022-12-31T12:00:00Z"),
        ("2022-12-31T12:00:00Z", "NT", "2023-01-02T05:00:00Z"),
    ],
)
def test_band_and_next_change_in_german_local_time(instant: str, band: str, until: str) -> None:
    found = band_at([load_shipped("de-neustadt-donau-ht-nt")], _utc(instant))
    assert (found.name, found.until) == (band, _utc(until))
    assert found.obis == {"HT": "1.8.1", "NT": "1.8.2"}[band]


def test_repeated_hour_is_split_at_its_wall_clock_boundary_each_time() -> None:
    schedule = london_half_past_one()
    # 29 Oct 2023: 01:00-02:00 BST (00:00-01:00Z) then 01:00-02:00 GMT (01:00-02:00Z).
    instants, bands = timeline(
        schedule,
        int(_utc("2023-10-29T00:00:00Z").timestamp()),
        int(_utc("2023-10-29T03:00:00Z").timestamp()),
    )
    names = [
        (datetime.fromtimestamp(t, UTC).isoformat(), schedule.bands[b].name)
        for t, b in zip(instants, bands, strict=True)
    ]
    assert names == [
        ("2023-10-28T23:00:00+00:00", "day"),  # local midnight BST
        ("2023-10-29T00:30:00+00:00", "night"),  # 01:30 BST
        ("2023-10-29T01:00:00+00:00", "day"),  # clocks go back: 01:00 GMT is "day" again
        ("2023-10-29T01:30:00+00:00", "night"),  # 01:30 GMT
    ]
    found = band_at([schedule], _utc("2023-10-29T01:10:00Z"))
    assert (found.name, found.until) == ("day", _utc("2023-10-29T01:30:00Z"))


def test_skipped_hour_has_no_boundary_and_the_band_after_it_applies() -> None:
    schedule = london_half_past_one()
    # 26 Mar 2023: 01:00 GMT jumps to 02:00 BST; 01:30 local never happens.
    found = band_at([schedule], _utc("2023-03-26T00:59:59Z"))
    assert (found.name, found.until) == ("day", _utc("2023-03-26T01:00:00Z"))
    after = band_at([schedule], _utc("2023-03-26T01:00:00Z"))
    assert after.name == "night"
    assert after.until == _utc("2023-03-26T23:00:00Z")  # midnight BST


def test_leap_day_belongs_to_its_season() -> None:
    data = base_schedule()
    data["seasons"] = [
        {"name": "winter", "from": "10-01", "to": "02-29"},
        {"name": "summer", "from": "03-01", "to": "09-30"},
    ]
    data["rules"] = [
        {
            "seasons": ["winter"],
            "days": ["workday", "saturday", "sunday", "holiday"],
            "slots": [{"from": "00:00", "to": "24:00", "band": "night"}],
        },
        {
            "seasons": ["summer"],
            "days": ["workday", "saturday", "sunday", "holiday"],
            "slots": [{"from": "00:00", "to": "24:00", "band": "day"}],
        },
    ]
    schedule = schedule_from_dict(data)
    leap = band_at([schedule], _utc("2024-02-29T12:00:00+01:00"))
    assert leap.name == "night"
    assert leap.until == _utc("2024-03-01T00:00:00+01:00")
    # In a common year 28 Feb is the last winter day.
    assert band_at([schedule], _utc("2023-02-28T23:59:59+01:00")).until == _utc(
        "2023-03-01T00:00:00+01:00"
    )


def test_instant_outside_validity_is_refused() -> None:
    schedule = load_shipped("de-neustadt-donau-ht-nt")
    with pytest.raises(NoScheduleInForce, match="2022-06-30"):
        band_at([schedule], _utc("2022-06-30T12:00:00Z"))


def test_naive_instant_is_refused() -> None:
    schedule = load_shipped("de-neustadt-donau-ht-nt")
    with pytest.raises(ValueError, match="naive"):
        band_at([schedule], datetime(2023, 1, 1))


ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/Chicago",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # DST changes at midnight: some local days start at 01:00
    "America/Havana",  # DST changes at midnight as well
    "Asia/Kolkata",  # no DST, half-hour offset
    "UTC",
]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.integers(1_672_531_200, 1_767_225_600),  # 2023 .. 2026
    days=st.integers(1, 20),
)
def test_timeline_agrees_with_direct_lookup_everywhere(zone: str, start: int, days: int) -> None:
    data = base_schedule()
    data["timezone"] = zone
    schedule = schedule_from_dict(data)
    end = start + days * 86_400
    instants, bands = timeline(schedule, start, end)
    assert instants[0] <= start
    assert all(a < b for a, b in itertools.pairwise(instants))
    assert all(a != b for a, b in itertools.pairwise(bands))
    # Boundaries may run on to the end of the last local day; keep those before `end`.
    kept = sum(1 for t in instants if t < end)
    instants, bands = instants[:kept], bands[:kept]
    # Check every segment's band at its start, middle and last second.
    edges = [*instants[1:], end]
    for t0, t1, b in zip(instants, edges, bands, strict=True):
        if t1 <= start:
            continue
        for t in {max(t0, start), (max(t0, start) + t1) // 2, t1 - 1}:
            if start <= t < end:
                assert band_index_at(schedule, t) == b
    # And the lookup at a sample of instants.
    for t in range(start, end, 3_607):
        k = max(i for i, x in enumerate(instants) if x <= t)
        assert band_index_at(schedule, t) == bands[k]


@settings(max_examples=40, deadline=None)
@given(zone=st.sampled_from(ZONES), start=st.integers(1_672_531_200, 1_767_225_600))
def test_until_is_the_first_instant_the_band_changes(zone: str, start: int) -> None:
    data = base_schedule()
    data["timezone"] = zone
    schedule = schedule_from_dict(data)
    when = datetime.fromtimestamp(start, UTC)
    found = band_at([schedule], when)
    assert found.until is not None
    assert found.until > when
    change = int(found.until.timestamp())
    assert band_index_at(schedule, change) != band_index_at(schedule, start)
    for t in range(start, change, max(1, (change - start) // 50)):
        assert schedule.bands[band_index_at(schedule, t)].name == found.name
    assert schedule.bands[band_index_at(schedule, change - 1)].name == found.name
    assert found.until - when <= timedelta(days=3)


def test_repeated_hour_is_billed_twice_in_its_bands() -> None:
    # 1 kW from local midnight (BST) to 03:00 GMT on 29 Oct 2023: 4 hours of real time.
    usage = parse_usage_csv(
        "start,end,energy_wh\n2023-10-29T00:00:00+01:00,2023-10-29T03:00:00+00:00,4000\n"
    )
    result = bill(london_half_past_one(), usage)
    lines = {r.band: (r.energy_wh, str(r.charge)) for r in result.registers}
    # day: 00:00-01:30 BST (1.5 h) and 01:00-01:30 GMT (0.5 h); night: the rest (2 h).
    assert lines == {"day": (2000, "0.60"), "night": (2000, "0.40")}
    # Standing charge 0.5/day for 4 of the day's 25 hours: 0.08.
    assert str(result.standing_charge) == "0.08"
    assert str(result.total) == "1.08"


def test_single_band_schedule_never_changes_until_its_validity_ends() -> None:
    data = base_schedule()
    data["valid_to"] = "2030-01-01T00:00:00Z"
    data["seasons"] = None
    data["rules"] = [
        {
            "days": ["workday", "saturday", "sunday", "holiday"],
            "slots": [{"from": "00:00", "to": "24:00", "band": "day"}],
        }
    ]
    found = band_at([schedule_from_dict(data)], _utc("2023-05-05T12:00:00Z"))
    assert (found.name, found.until) == ("day", _utc("2030-01-01T00:00:00Z"))
    data.pop("valid_to")
    assert band_at([schedule_from_dict(data)], _utc("2023-05-05T12:00:00Z")).until is None
