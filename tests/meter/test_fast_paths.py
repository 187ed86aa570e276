"""The module's speed caches give the answers of the reference paths they stand in for.

Each cache (rate spans per book and shared by equal books, ...) is checked against the
computation it replaces on random inputs: same rate, same instant of change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.errors import UsageError
from sealmeter.meter import CreditFrame, Meter, MeterConfig
from sealmeter.meter.charging import Schedules
from sealmeter.protocol import Registration, encode_registration
from sealmeter.tariff import RateSchedule, ScheduleBook
from sealmeter.tariff.calendar import local_midnight
from sealmeter.tariff.shipped import load_shipped, shipped_names

from .conftest import DEVICE_KEY, make_meter, schedule

_BOOKS: list[tuple[RateSchedule, ...]] = [
    (schedule(),),
    (
        schedule(),
        schedule(version=2, valid_from="2026-06-01T00:00:00Z"),
    ),
    *[(load_shipped(name),) for name in shipped_names()],
]
_START = datetime(2025, 10, 20, tzinfo=UTC)  # a month before the test schedule, DST inside

instants = st.lists(
    st.integers(0, 600 * 86_400_000_000).map(lambda us: _START + timedelta(microseconds=us)),
    min_size=1,
    max_size=40,
)


@given(st.sampled_from(range(len(_BOOKS))), instants, st.booleans())
@settings(max_examples=150, deadline=None)
def test_cached_rate_span_equals_the_tariff_core(
    book: int, whens: list[datetime], ordered: bool
) -> None:
    # meters ask in time order (a segment starts where the last ended); try both orders
    whens = sorted(whens) if ordered else whens
    cached = Schedules(ScheduleBook(_BOOKS[book]))
    twin = Schedules(ScheduleBook(_BOOKS[book]))  # shares the table of equal books
    for when in whens:
        want = Schedules(ScheduleBook(_BOOKS[book])).compute_rate_span(when)
        assert cached.rate_span(when) == want
        assert twin.rate_span(when) == want
        # and inside the span found: every later instant before the change
        until = want[1]
        if until is not None:
            probe = when + (until - when) / 2
            assert cached.rate_span(probe) == cached.compute_rate_span(probe)


@given(instants)
@settings(max_examples=50, deadline=None)
def test_span_boundaries_are_where_the_rate_changes(whens: list[datetime]) -> None:
    book = Schedules(ScheduleBook(_BOOKS[0]))
    for when in sorted(whens):
        rate, until = book.rate_span(when)
        if until is None:
            continue
        assert book.rate_span(until - timedelta(microseconds=1))[0] == rate
        assert book.rate_span(until) == book.compute_rate_span(until)


def _reference_local_day(book: Schedules, at: datetime) -> tuple[str, datetime | None]:
    """What the module computed inline before `local_day` was shared."""
    schedule = book.in_force(at)
    month = at.astimezone(schedule.zone if schedule else UTC).strftime("%Y-%m")
    if schedule is None:
        return month, None
    day = at.astimezone(schedule.zone).date() + timedelta(days=1)
    return month, datetime.fromtimestamp(local_midnight(schedule, day), UTC)


@given(st.sampled_from(range(len(_BOOKS))), instants)
@settings(max_examples=100, deadline=None)
def test_shared_local_day_equals_the_inline_computation(book: int, whens: list[datetime]) -> None:
    first = Schedules(ScheduleBook(_BOOKS[book]))
    twin = Schedules(ScheduleBook(_BOOKS[book]))
    for when in whens:
        want = _reference_local_day(Schedules(ScheduleBook(_BOOKS[book])), when)
        assert first.local_day(when) == want
        assert twin.local_day(when) == want


def _fields(reg: Registration) -> list[tuple[str, str, type]]:
    names = [n for n in Registration.__slots__ if not n.startswith("_")]
    return [(n, repr(getattr(reg, n)), type(getattr(reg, n))) for n in names]


@given(st.lists(st.integers(0, 4000), min_size=1, max_size=8), st.integers(0, 23))
@settings(max_examples=25, deadline=None)
def test_queued_registrations_equal_a_fresh_decode_of_the_log(days: list[int], hour: int) -> None:
    # the module keeps the registrations it sealed instead of decoding its own log entries;
    # a rebooted module decodes every entry from NVM: both must see the very same values
    start = datetime(2026, 3, 2, tzinfo=UTC)
    meter, _, device = make_meter(start, schedules=(schedule(),))
    at = start
    for mwh in days:
        meter.feed_intervals(at, timedelta(hours=1), [mwh] * 24)
        at += timedelta(days=1)
    meter.advance_to(at + timedelta(hours=hour))
    live = meter.queued_registrations()
    assert live
    fresh = Meter.boot(device, DEVICE_KEY).queued_registrations()
    assert [_fields(r) for r in live] == [_fields(r) for r in fresh]
    assert [encode_registration(r) for r in live] == [encode_registration(r) for r in fresh]


def test_a_naive_instant_is_still_a_usage_error_after_cached_answers() -> None:
    book = Schedules(ScheduleBook(_BOOKS[0]))
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    book.rate_span(at)
    book.local_day(at)
    naive = at.replace(tzinfo=None) + timedelta(minutes=1)
    with pytest.raises(UsageError):
        book.rate_span(naive)
    with pytest.raises(UsageError):
        book.local_day(naive)


@given(
    st.lists(st.lists(st.integers(0, 900_000), min_size=24, max_size=24), min_size=1, max_size=6),
    st.sampled_from(["day-night", "shipped"]),
    st.integers(0, 23),
)
@settings(max_examples=25, deadline=None)
def test_registrations_priced_from_the_credit_check_equal_a_fresh_price(
    days: list[list[int]], book: str, hour: int
) -> None:
    # With a charge limit the credit check prices the open segment, and the registration
    # closing it reuses that price and the registers laid out per rate; without a limit
    # nothing is priced ahead, so every registration is priced and laid out afresh. Both
    # meters (same seed, same chain key) must seal the very same registrations.
    start = datetime(2026, 3, 2, tzinfo=UTC)
    tariff = schedule() if book == "day-night" else load_shipped("de-neustadt-donau-ht-nt")
    meters = []
    for limit in (Decimal("1000000"), None):
        cfg = MeterConfig("fast-1", unit_wh=10, credit=CreditFrame(timedelta(days=30), limit))
        meter, _, _ = make_meter(start, config=cfg, schedules=(tariff,), seed=7)
        meters.append(meter)
    at = start
    for hours in days:
        for meter in meters:
            meter.feed_intervals(at, timedelta(hours=1), hours)
        at += timedelta(days=1)
    for meter in meters:
        meter.advance_to(at + timedelta(hours=hour))
    priced, fresh = (m.queued_registrations() for m in meters)
    assert priced
    assert [encode_registration(r) for r in priced] == [encode_registration(r) for r in fresh]
    assert meters[0].register_totals() == meters[1].register_totals()
