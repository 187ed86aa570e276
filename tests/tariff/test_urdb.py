"""The OpenEI URDB importer: grids and tiers to bands, seasons and rules; typed errors."""

from __future__ import annotations

import contextlib
import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.tariff import (
    ScheduleError,
    UsageSeries,
    band_at,
    bill,
    load_shipped,
    schedule_from_urdb,
)
from tests.tariff.conftest import load_json

PEAK = [0] * 17 + [1] * 4 + [0] * 3  # 17:00-21:00 peak
SUMMER = [0] * 14 + [1] * 7 + [0] * 3  # 14:00-21:00 peak in Jun-Sep
RATE: dict[str, Any] = {
    "label": "test-rate",
    "name": "Test TOU",
    "startdate": 1672531200,
    "energyratestructure": [
        [{"rate": 0.1, "adj": 0.0125, "unit": "kWh"}],
        [{"rate": 0.25, "max": 500, "unit": "kWh"}, {"rate": 0.35}],
    ],
    "energyweekdayschedule": [PEAK] * 5 + [SUMMER] * 4 + [PEAK] * 3,
    "energyweekendschedule": [[0] * 24] * 12,
    "fixedchargefirstmeter": 9.5,
    "fixedchargeunits": "$/month",
}
INVALID = load_json("invalid_urdb.json")["cases"]
SPECIAL = {
    "ELEVEN_MONTHS": [PEAK] * 11,
    "SHORT_MONTH": [[0] * 23] + [[0] * 24] * 11,
    "BAD_INDEX": [[0] * 5 + [2] + [0] * 18] + [PEAK] * 11,
}


def test_import_builds_bands_seasons_and_rules() -> None:
    s = schedule_from_urdb({"items": [RATE]}, tz="America/Los_Angeles")
    assert [(b.name, b.obis) for b in s.bands] == [("period0", "1.8.1"), ("period1", "1.8.2")]
    assert s.band("period0").unit_price == Decimal("0.1125")  # rate + adj
    assert [(t.price, t.up_to_kwh) for t in s.band("period1").tiers] == [
        (Decimal("0.25"), Decimal(500)),
        (Decimal("0.35"), None),
    ]
    assert [x.name for x in s.seasons] == ["m01-m05", "m06-m09", "m10-m12"]
    assert (s.standing_charge.amount, s.standing_charge.per) == (Decimal("9.5"), "month")
    assert s.valid_from == datetime(2023, 1, 1, tzinfo=UTC)
    at = band_at([s], datetime.fromisoformat("2023-07-05T15:00:00-07:00"))
    assert (at.name, at.until) == ("period1", datetime.fromisoformat("2023-07-05T21:00:00-07:00"))
    weekend = band_at([s], datetime.fromisoformat("2023-07-08T18:00:00-07:00"))
    assert weekend.name == "period0"


def test_imported_tiers_bill_in_blocks() -> None:
    s = schedule_from_urdb(RATE, tz="America/Los_Angeles")
    # Two summer weekday peaks (14:00-21:00): 420 kWh, then 180 kWh.
    start = int(datetime.fromisoformat("2023-07-05T14:00:00-07:00").timestamp())
    starts = np.array([start, start + 86_400], dtype=np.int64)
    usage = UsageSeries(starts, starts + 7 * 3600, np.array([420_000_000, 180_000_000]))
    lines = {r.obis: r for r in bill(s, usage).registers}
    # 500 kWh at 0.25 = 125, then 100 kWh at 0.35 = 35: 160.00. Off-peak: nothing used.
    assert lines["1.8.2"].charge == Decimal("160.00")
    assert lines["1.8.2"].energy_wh == 600_000
    assert lines["1.8.1"].energy_wh == 0


@pytest.mark.parametrize("case", INVALID, ids=[c["why"] for c in INVALID])
def test_bad_urdb_gives_typed_error_naming_the_field(case: dict[str, Any]) -> None:
    record = copy.deepcopy(RATE)
    for key, value in case.get("set", []):
        record[key] = SPECIAL.get(value, value) if isinstance(value, str) else value
    tz = case.get("tz", "America/Chicago")
    with pytest.raises(ScheduleError) as info:
        schedule_from_urdb(record, tz=tz)
    assert info.value.field == case["field"]


def test_shipped_urdb_tariff_carries_its_zone_and_can_be_overridden() -> None:
    assert load_shipped("us-wi-river-falls-tod").timezone == "America/Chicago"
    assert load_shipped("us-wi-river-falls-tod", tz="America/New_York").timezone == (
        "America/New_York"
    )


URDB_KEYS = [
    "energyratestructure",
    "energyweekdayschedule",
    "energyweekendschedule",
    "fixedchargefirstmeter",
    "fixedchargeunits",
    "flatdemandstructure",
    "demandratestructure",
    "startdate",
    "enddate",
    "label",
    "name",
    "_sealmeter",
    "items",
]
_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-3, 30)
    | st.decimals(allow_nan=True, places=3)
    | st.sampled_from(["kWh", "$/day", "$/month", "Europe/Berlin", "x"])
)
_values = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["rate", "adj", "max", "unit", "timezone", "version"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.dictionaries(st.sampled_from(URDB_KEYS), _values, max_size=4),
    tz=st.sampled_from([None, "America/Chicago", "Nowhere/Zone", ""]),
)
def test_garbage_urdb_gives_only_a_typed_error(edits: dict[str, Any], tz: str | None) -> None:
    record = copy.deepcopy(RATE) | edits
    with contextlib.suppress(ScheduleError):
        schedule_from_urdb(record, tz=tz)


def _monthly(kwh_per_month: int, months: list[tuple[int, int]], zone: str) -> UsageSeries:
    """Daily intervals carrying `kwh_per_month` evenly over each local month of `months`."""
    import calendar
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    starts, ends, mwh = [], [], []
    for year, month in months:
        days = calendar.monthrange(year, month)[1]
        share, rest = divmod(kwh_per_month * 1_000_000, days)
        for d in range(days):
            a = datetime(year, month, 1 + d, tzinfo=tz)
            b = datetime.combine(a.date() + timedelta(days=1), a.time(), tz)
            starts.append(int(a.timestamp()))
            ends.append(int(b.timestamp()))
            mwh.append(share + (rest if d == 0 else 0))
    return UsageSeries(np.array(starts), np.array(ends), np.array(mwh))


def test_a_real_tiered_rate_bills_each_month_afresh_with_its_fixed_charge() -> None:
    # FPL RS-1 (2015) as the URDB served it, with v3's `fixedmonthlycharge`: 2,000 kWh in a
    # month is 1,000 kWh at 0.08721 and 1,000 kWh at 0.10803 $/kWh (195.24 $) plus 7.57 $
    rate = load_json("urdb_fpl_rs1_2015.json")
    schedule = schedule_from_urdb(rate, tz="America/New_York")
    assert (schedule.standing_charge.amount, schedule.standing_charge.per) == (
        Decimal("7.57"),
        "month",
    )
    june = bill(schedule, _monthly(2000, [(2015, 6)], "America/New_York"))
    assert (june.registers[0].charge, june.standing_charge, june.total) == (
        Decimal("195.24"),
        Decimal("7.57"),
        Decimal("202.81"),
    )
    # two months in one bill: the first 1,000 kWh of July are again at the first tier
    summer = bill(schedule, _monthly(2000, [(2015, 6), (2015, 7)], "America/New_York"))
    assert (summer.registers[0].charge, summer.standing_charge, summer.total) == (
        Decimal("390.48"),
        Decimal("15.14"),
        Decimal("405.62"),
    )


def test_indices_written_as_whole_floats_and_a_null_adjustment_are_read() -> None:
    record = copy.deepcopy(RATE)
    record["energyweekdayschedule"] = [
        [float(i) for i in row] for row in RATE["energyweekdayschedule"]
    ]
    record["energyratestructure"] = [
        [{"rate": 0.1, "adj": None, "unit": "kWh"}],
        RATE["energyratestructure"][1],
    ]
    s = schedule_from_urdb(record, tz="America/Los_Angeles")
    reference = schedule_from_urdb(RATE, tz="America/Los_Angeles")
    assert s.rules == reference.rules
    assert s.band("period0").unit_price == Decimal("0.1")
