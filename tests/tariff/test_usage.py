"""Usage input: CSV parsing with errors naming the line, interval checks, unit events."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealmeter.tariff import (
    Interval,
    NoScheduleInForce,
    UsageDataError,
    UsageSeries,
    bill,
    load_shipped,
    parse_usage_csv,
)

HEADER = "start,end,energy_wh\n"


def test_csv_with_offsets_and_z_parses_to_utc_seconds_and_mwh() -> None:
    usage = parse_usage_csv(
        HEADER + "2023-03-26T01:00:00+01:00,2023-03-26T03:00:00+02:00,12.5\n"
        "2023-03-26T01:00:00Z,2023-03-26T01:15:00Z,3\n\n"
    )
    assert usage.start_s.tolist() == [1679788800, 1679792400]
    assert usage.end_s.tolist() == [1679792400, 1679793300]
    assert usage.energy_mwh.tolist() == [12_500, 3_000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("begin,end,kwh\n", "header"),
        (HEADER + "2023-01-01T00:00:00Z,2023-01-01T01:00:00Z\n", "line 2: expected 3 fields"),
        (HEADER + "yesterday,2023-01-01T01:00:00Z,1\n", "line 2"),
        (HEADER + "2023-01-01T00:00:00,2023-01-01T01:00:00,1\n", "line 2: .*naive|aware"),
        (HEADER + "2023-01-01T00:00:00Z,2023-01-01T01:00:00Z,-1\n", "line 2: .*>= 0"),
        (HEADER + "2023-01-01T00:00:00Z,2023-01-01T01:00:00Z,1.0001\n", "3 decimals"),
        (HEADER + "2023-01-01T00:00:00Z,2023-01-01T01:00:00Z,NaN\n", "finite"),
        (HEADER + "2023-01-01T00:00:00.5Z,2023-01-01T01:00:00Z,1\n", "whole s"),
        (HEADER + "2023-01-01T01:00:00Z,2023-01-01T00:00:00Z,1\n", "ends before it starts"),
        (
            HEADER + "2023-01-01T00:00:00Z,2023-01-01T01:00:00Z,1\n"
            "2023-01-01T00:30:00Z,2023-01-01T02:00:00Z,1\n",
            "overlap",
        ),
    ],
)
def test_bad_csv_gives_typed_error_saying_where(text: str, message: str) -> None:
    with pytest.raises(UsageDataError, match=message):
        parse_usage_csv(text)


@given(st.text(max_size=200))
def test_garbage_csv_gives_only_a_typed_error(text: str) -> None:
    with contextlib.suppress(UsageDataError):
        parse_usage_csv(HEADER + text)


def test_float_energy_is_refused_to_keep_money_exact() -> None:
    t = datetime(2023, 1, 1, tzinfo=UTC)
    with pytest.raises(UsageDataError, match="never float"):
        UsageSeries.from_intervals([Interval(t, t + timedelta(hours=1), 1.5)])  # type: ignore[arg-type]


def test_arrays_must_match_in_length_and_be_integers() -> None:
    with pytest.raises(UsageDataError, match="same length"):
        UsageSeries(np.zeros(2, np.int64), np.zeros(3, np.int64), np.zeros(2, np.int64))
    with pytest.raises(UsageDataError, match="integer"):
        UsageSeries(np.zeros(2), np.zeros(2), np.zeros(2))


def test_unit_events_are_billed_in_the_band_of_their_instant() -> None:
    e7 = load_shipped("uk-e7-eon-next-flex")
    times = [
        datetime.fromisoformat("2023-06-16T00:29:59+01:00"),  # day
        datetime.fromisoformat("2023-06-16T00:30:00+01:00"),  # night starts exactly here
        datetime.fromisoformat("2023-06-16T07:29:59+01:00"),  # night
        datetime.fromisoformat("2023-06-16T07:30:00+01:00"),  # day
    ]
    result = bill(e7, UsageSeries.from_events(times, wh_per_event=Decimal("0.5")))
    lines = {r.band: r.energy_wh for r in result.registers}
    assert lines == {"day": 1, "night": 1}
    assert result.peak is None  # instants have no duration, hence no power


def test_usage_outside_every_schedule_is_refused_with_the_instant() -> None:
    de = load_shipped("de-neustadt-donau-ht-nt")
    with pytest.raises(NoScheduleInForce, match="2022-06-30T21:00"):
        bill(
            de, parse_usage_csv(HEADER + "2022-06-30T23:00:00+02:00,2022-07-01T01:00:00+02:00,5\n")
        )


def test_empty_usage_is_refused() -> None:
    with pytest.raises(UsageDataError, match="no usage"):
        bill(load_shipped("uk-e7-eon-next-flex"), parse_usage_csv(HEADER))


def test_a_byte_order_mark_before_the_header_is_skipped() -> None:
    text = "start,end,energy_wh\n2026-01-01T00:00:00+00:00,2026-01-01T01:00:00+00:00,500\n"
    with_bom = parse_usage_csv("\ufeff" + text)
    plain = parse_usage_csv(text)
    assert (list(with_bom.energy_mwh), list(with_bom.start_s)) == (
        list(plain.energy_mwh),
        list(plain.start_s),
    )


def test_usage_near_the_end_of_the_calendar_is_a_typed_error() -> None:
    from sealmeter.tariff import bill, load_shipped

    start = int(datetime(9998, 12, 30, tzinfo=UTC).timestamp())
    usage = UsageSeries(np.array([start]), np.array([start + 86_400]), np.array([1_000_000]))
    with pytest.raises(UsageDataError, match="cannot be billed"):
        bill(load_shipped("uk-e7-eon-next-flex"), usage)
