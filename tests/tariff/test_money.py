"""Money: exact segment charges, block tiers, the rounding rule, meter-side reconciliation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.tariff import (
    ScheduleBook,
    UsageDataError,
    UsageSeries,
    bill,
    load_shipped,
    round_money,
    schedule_from_dict,
    segment_charge,
)
from sealmeter.tariff.calendar import local_midnight
from tests.tariff.conftest import base_schedule


def tiered() -> object:
    data = base_schedule()
    data["bands"][0] = {
        "name": "day",
        "obis": "1.8.1",
        "tiers": [
            {"price": "0.10", "up_to_kwh": "1"},
            {"price": "0.20", "up_to_kwh": "3"},
            {"price": "0.50"},
        ],
    }
    return schedule_from_dict(data)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("38.7345", "GBP", "38.73"),
        ("8.245", "GBP", "8.25"),  # half up
        ("8.244999", "GBP", "8.24"),
        ("-1.005", "EUR", "-1.01"),  # half away from zero
        ("0", "EUR", "0.00"),
        ("12.5", "JPY", "13"),
        ("1.0005", "KWD", "1.001"),
    ],
)
def test_round_money_is_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    result = round_money(Decimal(amount), currency)
    assert str(result) == rounded


def test_segment_charge_is_exact_energy_times_price() -> None:
    e7 = load_shipped("uk-e7-eon-next-flex")
    assert segment_charge(e7, "1.8.2", 1) == Decimal("0.00017181")
    assert segment_charge(e7, "1.8.1", Decimal("123.456")) == Decimal("0.040184928")
    assert segment_charge(e7, "1.8.1", 0) == 0


def test_segment_charge_across_tier_limits() -> None:
    schedule = tiered()
    # 0.5 kWh used before: 0.5 kWh at 0.10, 2 kWh at 0.20, 0.5 kWh at 0.50.
    assert segment_charge(schedule, "1.8.1", 3000, used_before_wh=500) == Decimal("0.70")
    assert segment_charge(schedule, "1.8.1", 1000, used_before_wh=5000) == Decimal("0.5")


@pytest.mark.parametrize("bad", [-1, Decimal("0.0001"), 1.5, Decimal("NaN"), True])
def test_segment_charge_refuses_bad_energy(bad: object) -> None:
    with pytest.raises(UsageDataError):
        segment_charge(load_shipped("uk-e7-eon-next-flex"), "1.8.1", bad)  # type: ignore[arg-type]


def test_segment_charge_refuses_unknown_register() -> None:
    with pytest.raises(ValueError, match=r"1\.8\.9"):
        segment_charge(load_shipped("uk-e7-eon-next-flex"), "1.8.9", 1)


def meter_walk(
    book: ScheduleBook, start: datetime, end: datetime, watts: int
) -> dict[str, Decimal]:
    """What a meter does: close a segment at every `until` and at every local month start,
    charge it with segment_charge on the register's usage so far in that billing month."""
    charges: dict[str, Decimal] = {}
    used: dict[tuple[str, date], Decimal] = {}
    at = start
    while at < end:
        found = book.band_at(at)
        month = at.astimezone(found.schedule.zone).date().replace(day=1)
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        month_end = datetime.fromtimestamp(local_midnight(found.schedule, following), UTC)
        stop = min(end, month_end) if found.until is None else min(end, found.until, month_end)
        wh = Decimal(watts) * Decimal(int((stop - at).total_seconds())) / 3600
        before = used.get((found.obis, month), Decimal(0))
        charges[found.obis] = charges.get(found.obis, Decimal(0)) + segment_charge(
            found.schedule, found.obis, wh, before
        )
        used[found.obis, month] = before + wh
        at = stop
    return charges


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 400 * 86_400).map(lambda s: s - s % 60),
    hours=st.integers(1, 24 * 20),
    watts=st.sampled_from([360, 720, 1800, 3600]),
    name=st.sampled_from(["uk-e7-eon-next-flex", "de-neustadt-donau-ht-nt", "tiered"]),
)
def test_meter_segments_reconcile_with_the_head_end_bill_to_the_cent(
    start: int, hours: int, watts: int, name: str
) -> None:
    schedule = tiered() if name == "tiered" else load_shipped(name)
    t0 = datetime(2023, 1, 2, tzinfo=UTC) + timedelta(seconds=start)
    t1 = t0 + timedelta(hours=hours)
    book = ScheduleBook().offer(schedule)  # type: ignore[arg-type]
    meter = meter_walk(book, t0, t1, watts)
    # Head-end: the same usage as minute intervals, billed in bulk.
    first = int(t0.timestamp())
    starts = np.arange(first, int(t1.timestamp()), 60, dtype=np.int64)
    usage = UsageSeries(starts, starts + 60, np.full(len(starts), watts * 1000 // 60, np.int64))
    head_end = bill(book, usage)
    for line in head_end.registers:
        assert Fraction(meter[line.obis]) == line.exact_charge
        assert round_money(meter[line.obis], head_end.currency) == line.charge
    assert set(meter) == {r.obis for r in head_end.registers}


_PRICES = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("2"), places=6)
_LIMITS = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("50"), places=3)


@given(
    prices=st.lists(_PRICES, min_size=1, max_size=3),
    limits=st.lists(_LIMITS, min_size=2, max_size=2, unique=True),
    energy=st.integers(0, 10**7),
    before=st.integers(0, 10**8),
)
@settings(max_examples=300, deadline=None)
def test_the_integer_path_gives_the_fractions_decimal_digit_for_digit(
    prices: list[Decimal], limits: list[Decimal], energy: int, before: int
) -> None:
    from sealmeter.tariff.money import exact_decimal, tiered_charge

    ups = sorted(limits)[: len(prices) - 1]
    data = base_schedule()
    data["bands"][0] = {
        "name": "day",
        "obis": "1.8.1",
        "tiers": [
            {"price": str(p), **({"up_to_kwh": str(ups[k])} if k < len(ups) else {})}
            for k, p in enumerate(prices)
        ],
    }
    schedule = schedule_from_dict(data)
    band = schedule.register("1.8.1")
    exact = exact_decimal(tiered_charge(band, Fraction(energy), Fraction(before)))
    fast = segment_charge(schedule, "1.8.1", energy, before)  # ints: the integer path
    assert fast.as_tuple() == exact.as_tuple()
    # Decimal arguments take the Fraction path: the same value and digits again
    assert segment_charge(schedule, "1.8.1", Decimal(energy), Decimal(before)).as_tuple() == (
        fast.as_tuple()
    )
