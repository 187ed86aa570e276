"""Schedule changes: the newest valid version applies from its valid_from; older never wins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sealmeter.errors import PeerError
from sealmeter.tariff import RateSchedule, ScheduleBook, StaleSchedule, schedule_from_dict
from tests.tariff.conftest import base_schedule


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def version(n: int, valid_from: str, day_price: str = "0.30", **extra: Any) -> RateSchedule:
    data = base_schedule()
    data["version"] = n
    data["valid_from"] = valid_from
    data["bands"][0]["price"] = day_price
    data.update(extra)
    return schedule_from_dict(data)


V1 = version(1, "2023-01-01T00:00:00Z")
V2 = version(2, "2023-06-01T12:00:00+02:00", "0.40")


def test_offer_newer_is_held_and_takes_over_at_valid_from() -> None:
    book = ScheduleBook().offer(V1).offer(V2)
    assert book.active(_utc("2023-06-01T11:59:59+02:00")) is V1
    assert book.active(_utc("2023-06-01T12:00:00+02:00")) is V2
    assert book.upcoming(_utc("2023-05-01T00:00:00Z")) is V2
    assert book.newest_version() == 2


@pytest.mark.parametrize("stale", [1, 2])
def test_older_or_equal_version_never_replaces_a_newer_one(stale: int) -> None:
    book = ScheduleBook().offer(V1).offer(V2)
    with pytest.raises(StaleSchedule, match="not newer") as info:
        book.offer(version(stale, "2023-07-01T00:00:00Z", "0.01"))
    assert isinstance(info.value, PeerError)
    assert book.active(_utc("2023-08-01T00:00:00Z")) is V2


def test_band_segment_is_cut_exactly_at_the_schedule_change() -> None:
    book = ScheduleBook().offer(V1).offer(V2)
    # 1 Jun 2023 is a Thursday: "day" from 06:00 to 22:00 local under both versions.
    before = book.band_at(_utc("2023-06-01T10:00:00+02:00"))
    assert (before.name, before.unit_price, before.version) == ("day", V1.band("day").unit_price, 1)
    assert before.until == _utc("2023-06-01T12:00:00+02:00")
    after = book.band_at(before.until)
    assert (after.name, str(after.unit_price), after.version) == ("day", "0.40", 2)
    assert after.until == _utc("2023-06-01T22:00:00+02:00")


def test_a_limited_higher_version_hands_back_to_the_lower_one() -> None:
    promo = version(3, "2023-07-01T00:00:00+02:00", "0.10", valid_to="2023-07-08T00:00:00+02:00")
    book = ScheduleBook().offer(V1).offer(V2).offer(promo)
    assert book.active(_utc("2023-07-03T12:00:00+02:00")) is promo
    assert book.active(_utc("2023-07-08T00:00:00+02:00")) is V2
    # Friday 7 Jul, 23:00 local is "night" under both; the segment still ends at the change.
    found = book.band_at(_utc("2023-07-07T23:00:00+02:00"))
    assert (found.version, found.until) == (3, _utc("2023-07-08T00:00:00+02:00"))


def test_pruned_drops_what_can_no_longer_apply_and_keeps_the_rest() -> None:
    book = ScheduleBook().offer(V1).offer(V2)
    assert book.pruned(_utc("2023-05-01T00:00:00Z")).schedules == (V1, V2)
    assert book.pruned(_utc("2023-06-02T00:00:00Z")).schedules == (V2,)
    assert ScheduleBook().offer(V1).offer(V2, now=_utc("2023-06-02T00:00:00Z")).schedules == (V2,)


def test_no_schedule_before_the_first_valid_from() -> None:
    book = ScheduleBook().offer(V2)
    assert book.active(_utc("2023-01-01T00:00:00Z")) is None
    assert book.upcoming(_utc("2023-01-01T00:00:00Z")) is V2
