"""Billing and reconciliation with the tariff core, against hand-computed bills."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sealmeter.tariff
from sealmeter.headend import AlertKind, BoxKeys, HeadEnd, ScheduleError
from sealmeter.headend._billing import plain_rows, registration_row
from sealmeter.headend.testing import MeterSide
from sealmeter.headend.verify_bill import verify_export
from sealmeter.protocol import RegisterUsage, Registration, RegistrationKind
from sealmeter.store._batch import widen_plain
from tests.headend.conftest import T0
from tests.store.conftest import Database

MakeMeter = Callable[..., MeterSide]
DATA = Path(sealmeter.tariff.__file__).parent / "data"
HTNT = (DATA / "de-neustadt-donau-ht-nt.toml").read_text()
BERLIN = ZoneInfo("Europe/Berlin")
# Prices of the shipped German HT/NT tariff: HT 0.2437 EUR/kWh (1.8.1), NT 0.2021 (1.8.2),
# standing charge 8.325 EUR per month.
HT_1200 = Decimal("0.29244")  # 1.2 kWh x 0.2437
NT_300 = Decimal("0.06063")  # 0.3 kWh x 0.2021


def _meter_on_htnt(he: HeadEnd, make_meter: MakeMeter) -> MeterSide:
    he.publish_schedule(HTNT, T0 - timedelta(days=1))
    m = make_meter("de1", seed=3)
    he.provision(m.provisioning("anna", schedule_id="de-swn-donau-ht-nt"), T0)
    return m


def test_a_month_bill_equals_the_hand_computed_one(headend: HeadEnd, make_meter: MakeMeter) -> None:
    m = _meter_on_htnt(headend, make_meter)
    for h in range(3):
        m.register(
            T0 + timedelta(hours=h),
            {"1.8.1": (1200, HT_1200), "1.8.2": (300, NT_300)},
            schedule_id="de-swn-donau-ht-nt",
            schedule_version=1,
        )
    m.accept(headend.handle_uplink(m.uplink(T0 + timedelta(hours=3)), T0), T0)
    march = datetime(2026, 3, 1, tzinfo=BERLIN)
    april = datetime(2026, 4, 1, tzinfo=BERLIN)
    bill = headend.bill("anna", march, april)
    # by hand: HT 3.6 kWh x 0.2437 = 0.87732 -> 0.88; NT 0.9 kWh x 0.2021 = 0.18189 -> 0.18;
    # standing charge one whole month = 8.325 -> 8.33 (half up); total 9.39
    assert [(line.register, line.usage, line.charge) for line in bill.lines] == [
        ("1.8.1", 3600, Decimal("0.88")),
        ("1.8.2", 900, Decimal("0.18")),
    ]
    assert bill.standing_charge == Decimal("8.33")
    assert bill.total == Decimal("9.39")
    assert bill.meter_total == Decimal("1.06")
    assert (bill.registrations, bill.mismatches, bill.currency) == (3, 0, "EUR")
    assert headend.list_alerts(kind=AlertKind.CHARGE_MISMATCH).items == ()
    # a period without registrations bills the standing charge only
    empty = headend.bill("anna", april, datetime(2026, 5, 1, tzinfo=BERLIN))
    assert (empty.lines, empty.total) == ((), Decimal("8.33"))


def test_a_meter_that_overcharges_raises_a_mismatch_alert(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = _meter_on_htnt(headend, make_meter)
    m.register(
        T0,
        {"1.8.1": (1200, Decimal("0.30")), "1.8.2": (300, NT_300)},
        schedule_id="de-swn-donau-ht-nt",
        schedule_version=1,
    )
    m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    (reg,) = headend.list_registrations().items
    assert reg.expected_charge == HT_1200 + NT_300
    assert not reg.reconciled
    alerts = headend.list_alerts(kind=AlertKind.CHARGE_MISMATCH).items
    assert len(alerts) == 1
    assert "0.36063" in alerts[0].detail
    bill = headend.bill("anna", T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert bill.mismatches == 1
    assert bill.total - bill.standing_charge == Decimal("0.29") + Decimal("0.06")


def test_an_unpublished_schedule_cannot_be_reconciled(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = _meter_on_htnt(headend, make_meter)
    m.register(T0, {"1.8.1": (10, Decimal("0.01"))}, schedule_id="nope", schedule_version=9)
    m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    assert [a.kind for a in headend.list_alerts().items] == [AlertKind.SCHEDULE_UNKNOWN]
    assert headend.list_registrations().items[0].expected_charge is None


def test_schedule_publication_versions_and_delivery(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = _meter_on_htnt(headend, make_meter)
    with pytest.raises(ScheduleError, match="not newer"):
        headend.publish_schedule(HTNT, T0)
    with pytest.raises(ScheduleError, match="neither valid JSON nor TOML"):
        headend.publish_schedule("id = [", T0)
    with pytest.raises(ScheduleError, match="invalid"):
        headend.publish_schedule(HTNT.replace('price = "0.2437"', 'price = "-1"'), T0)
    (delivery,) = headend.schedule_deliveries()
    assert (delivery.version, delivery.sent_at, delivery.confirmed_at) == (1, None, None)
    down = m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    (update,) = down.schedules
    assert (update.schedule_id, update.version) == ("de-swn-donau-ht-nt", 1)
    assert sealmeter.tariff.RateSchedule.from_bytes(update.schedule_bytes).id == update.schedule_id
    assert headend.schedule_deliveries()[0].sent_at == T0
    later = T0 + timedelta(hours=1)
    status = m.status(later, schedule_id="de-swn-donau-ht-nt", schedule_version=1)
    down = m.accept(headend.handle_uplink(m.uplink(later, status), later), later)
    assert down.schedules == ()
    assert headend.schedule_deliveries()[0].confirmed_at == later
    assert headend.schedule_deliveries(pending_only=True) == []
    # the meter keeps reporting the schedule it holds: the delivery keeps its first
    # confirmation, and a report of a version never delivered confirms nothing
    again = later + timedelta(hours=1)
    status = m.status(again, schedule_id="de-swn-donau-ht-nt", schedule_version=1)
    m.accept(headend.handle_uplink(m.uplink(again, status), again), again)
    status = m.status(again, schedule_id="de-swn-donau-ht-nt", schedule_version=7)
    m.accept(headend.handle_uplink(m.uplink(again, status), again), again)
    assert [(d.version, d.confirmed_at) for d in headend.schedule_deliveries()] == [(1, later)]
    # a new version goes out to the meters on that schedule
    v2 = HTNT.replace("version = 1", "version = 2").replace(
        'valid_from = "2022-07-01T00:00:00+02:00"', 'valid_from = "2026-04-01T00:00:00+02:00"'
    )
    headend.publish_schedule(v2, later)
    assert [d.version for d in headend.schedule_deliveries(pending_only=True)] == [2]


def test_a_mismatch_withholds_the_enable_code_until_the_operator_resolves_it(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    m = _meter_on_htnt(headend, make_meter)
    good = {"1.8.1": (1200, HT_1200), "1.8.2": (300, NT_300)}
    sched = {"schedule_id": "de-swn-donau-ht-nt", "schedule_version": 1}
    m.register(T0, {"1.8.1": (1200, Decimal("0.30")), "1.8.2": (300, NT_300)}, **sched)
    down = m.accept(headend.handle_uplink(m.uplink(T0), T0), T0)
    assert down.enable_code is None  # authentic, stored, answered, but not consistent
    assert [r.seq for r in m.queue] == [1]  # so the meter keeps it queued
    assert len(headend.list_registrations().items) == 1
    assert headend.list_enable_codes().items == ()
    (withheld,) = headend.list_alerts(kind=AlertKind.ENABLE_CODE_WITHHELD).items
    assert "registration 1" in withheld.detail
    assert "0.36063" in withheld.detail
    # consistent data does not release the code while the mismatch is open
    t1 = T0 + timedelta(hours=1)
    m.register(t1, good, **sched)
    down = m.accept(headend.handle_uplink(m.uplink(t1), t1), t1)
    assert down.enable_code is None
    assert [r.seq for r in m.queue] == [1, 2]
    assert len(headend.list_registrations().items) == 2  # stored exactly once
    # the operator settles it: the next uplink gets its code, acknowledging everything
    assert headend.resolve_mismatches("de1", t1) == 1
    assert headend.list_alerts(open_only=True).items == ()
    t2 = T0 + timedelta(hours=2)
    m.register(t2, good, **sched)
    down = m.accept(headend.handle_uplink(m.uplink(t2), t2), t2)
    assert down.enable_code is not None
    assert down.enable_code.acked_seq == 3
    assert m.queue == []
    assert [c.acked_seq for c in headend.list_enable_codes().items] == [3]
    # a new mismatch withholds again
    t3 = T0 + timedelta(hours=3)
    m.register(t3, {"1.8.1": (1, Decimal("9.99"))}, **sched)
    assert m.accept(headend.handle_uplink(m.uplink(t3), t3), t3).enable_code is None


TIERED = HTNT.replace('id = "de-swn-donau-ht-nt"', 'id = "tiered"').replace(
    'price = "0.2437"     # 24,37 ct/kWh gross',
    'tiers = [{ price = "0.10", up_to_kwh = "1" }, { price = "0.20", up_to_kwh = "3" },'
    ' { price = "0.50" }]',
)


@pytest.mark.parametrize("restart", [False, True])
def test_tiered_bands_are_reconciled_with_the_month_so_far(
    database: Database, box_keys: BoxKeys, make_meter: MakeMeter, restart: bool
) -> None:
    """Hand-computed block prices: 0.10 EUR/kWh to 1 kWh, 0.20 to 3 kWh, 0.50 beyond.

    The month is the Berlin month the segment started in; with `restart`, every uplink goes
    to a fresh head-end, which rebuilds the month from the stored registrations.
    """
    he = HeadEnd(database.open(), box_keys)
    he.publish_schedule(TIERED, T0 - timedelta(days=1))
    m = make_meter("tier1", seed=5)
    he.provision(m.provisioning("tom", schedule_id="tiered"), T0)
    sched = {"schedule_id": "tiered", "schedule_version": 1}
    april_midnight = datetime(2026, 4, 1, tzinfo=BERLIN).astimezone(UTC)  # 03-31 22:00 UTC
    plan = [  # (time, usage Wh, charge by hand)
        (T0, 800, Decimal("0.08")),  # 800 Wh at 0.10
        (T0 + timedelta(hours=1), 600, Decimal("0.10")),  # 200 at 0.10 + 400 at 0.20
        (T0 + timedelta(hours=2), 2000, Decimal("0.52")),  # 1600 at 0.20 + 400 at 0.50
        # closes the segment from 10:00 on 2 March: still March, all at 0.50
        (april_midnight, 500, Decimal("0.25")),
        # starts at midnight of 1 April in Berlin (still March in UTC): a fresh month
        (april_midnight + timedelta(hours=1), 500, Decimal("0.05")),
        (april_midnight + timedelta(hours=2), 700, Decimal("0.09")),  # 500 at 0.10 + 200 at 0.20
    ]
    sends = [[0, 1, 2], [3], [4, 5]]
    for group in sends:
        for i in group:
            at, usage, charge = plan[i]
            m.register(at, {"1.8.1": (usage, charge)}, **sched)
        at = plan[group[-1]][0]
        if restart:
            he.close()
            he = HeadEnd(database.open(), box_keys)
        down = m.accept(he.handle_uplink(m.uplink(at), at), at)
        assert down.enable_code is not None, [a.detail for a in he.list_alerts().items]
    regs = he.list_registrations().items
    assert [r.expected_charge for r in regs] == [charge for _, _, charge in plan]
    assert all(r.reconciled for r in regs)
    assert he.list_alerts(kind=AlertKind.CHARGE_MISMATCH).items == ()
    # the customer's offline check recomputes the same block prices
    check = verify_export(he.export_registrations("tier1"), public_keys=m.keys.public().to_bytes())
    assert check.problems == ()
    assert [(line.register, line.charge) for line in check.lines] == [("1.8.1", Decimal("1.09"))]
    he.close()


def test_a_tiered_charge_from_the_first_tier_is_a_mismatch(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    headend.publish_schedule(TIERED, T0 - timedelta(days=1))
    m = make_meter("tier2", seed=6)
    headend.provision(m.provisioning("tia", schedule_id="tiered"), T0)
    sched = {"schedule_id": "tiered", "schedule_version": 1}
    m.register(T0, {"1.8.1": (900, Decimal("0.09"))}, **sched)
    m.register(T0 + timedelta(hours=1), {"1.8.1": (900, Decimal("0.09"))}, **sched)  # wrong
    t = T0 + timedelta(hours=1)
    assert m.accept(headend.handle_uplink(m.uplink(t), t), t).enable_code is None
    (alert,) = headend.list_alerts(kind=AlertKind.CHARGE_MISMATCH).items
    assert "0.09" in alert.detail
    assert "0.17" in alert.detail  # 100 at 0.10 + 800 at 0.20


@settings(max_examples=60, deadline=None)
@given(
    regs=st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from(["1.8.0", "1.8.1", "1.8.2", 'odd"name']),
                    st.integers(0, 10**9),
                    st.decimals(0, 10**6, places=6),
                ),
                max_size=4,
                unique_by=lambda x: x[0],
            ),
            st.integers(0, 10**6),  # seconds after T0
        ),
        max_size=5,
    )
)
def test_the_fast_rows_equal_the_general_ones(
    regs: list[tuple[list[tuple[str, int, Decimal]], int]],
) -> None:
    """`plain_rows` (no schedule named) builds exactly the rows `registration_row` builds."""
    made = [
        Registration(
            seq=i + 1,
            kind=RegistrationKind.REAL_TIME,
            meter_id="m",
            registers=tuple(RegisterUsage(o, u, c) for o, u, c in registers),
            schedule_id="",
            schedule_version=0,
            time=T0 + timedelta(seconds=s, microseconds=i),
            auth_code=bytes([i]) * 32,
        )
        for i, (registers, s) in enumerate(regs)
    ]
    fast: list[tuple[object, ...]] = []
    plain_rows("m", made, 42, fast)
    assert [widen_plain(row) for row in fast] == [
        registration_row("m", reg, None, 42)[0] for reg in made
    ]


_MONEY = st.builds(
    lambda mantissa, exponent: Decimal(mantissa).scaleb(exponent),
    st.integers(0, 10**12),
    st.integers(-12, 12),
)


@settings(max_examples=150, deadline=None)
@given(
    regs=st.lists(
        st.tuples(
            st.lists(
                st.tuples(
                    st.sampled_from(["1.8.1", "1.8.2", "2.8.0", "x\\y"]),
                    st.integers(0, 2**40),
                    _MONEY,
                ),
                max_size=3,
                unique_by=lambda x: x[0],
            ),
            st.integers(-(10**9), 10**9),  # seconds from T0, before 1970 too
            st.integers(0, 999_999),
            st.sampled_from(list(RegistrationKind)),
        ),
        max_size=6,
    )
)
def test_the_fast_rows_equal_the_general_ones_for_any_amount_kind_and_instant(
    regs: list[tuple[list[tuple[str, int, Decimal]], int, int, RegistrationKind]],
) -> None:
    """`plain_rows` equals `registration_row` for amounts with any exponent (sums keep the
    general builder's exponent), every kind, zero to three registers, any microsecond."""
    made = [
        Registration(
            seq=i + 1,
            kind=kind,
            meter_id="m",
            registers=tuple(RegisterUsage(o, u, c) for o, u, c in registers),
            schedule_id="",
            schedule_version=0,
            time=T0 + timedelta(seconds=s, microseconds=us),
            auth_code=bytes([i]) * 16,
        )
        for i, (registers, s, us, kind) in enumerate(regs)
    ]
    fast: list[tuple[object, ...]] = []
    plain_rows("m", made, 7, fast)
    assert [widen_plain(row) for row in fast] == [
        registration_row("m", reg, None, 7)[0] for reg in made
    ]


def test_tiers_count_the_usage_of_earlier_registrations_of_the_same_batch(
    headend: HeadEnd, make_meter: MakeMeter
) -> None:
    """A tiered schedule starting mid-uplink counts the month's earlier registrations."""
    headend.publish_schedule(TIERED, T0 - timedelta(days=1))
    m = make_meter("tier3", seed=7)
    headend.provision(m.provisioning("tess", schedule_id="tiered"), T0)
    m.register(T0, {"1.8.1": (800, Decimal(0))})  # before the schedule: no schedule named
    t1 = T0 + timedelta(hours=1)
    m.register(t1, {"1.8.1": (600, Decimal("0.10"))}, schedule_id="tiered", schedule_version=1)
    assert m.accept(headend.handle_uplink(m.uplink(t1), t1), t1).enable_code is not None
    assert [r.expected_charge for r in headend.list_registrations().items] == [
        None,
        Decimal("0.10"),  # 200 Wh at 0.10 (800 Wh used before) + 400 Wh at 0.20
    ]


def test_a_stored_schedule_is_parsed_once_and_a_bad_one_fails_every_time() -> None:
    from sealmeter.headend._schedules import parse_schedule, parse_stored_schedule

    canonical = parse_schedule(HTNT).canonical
    first = parse_stored_schedule(canonical)
    assert parse_stored_schedule(canonical) is first  # remembered, not parsed again
    assert first == parse_schedule(canonical)  # and the same as a fresh parse
    broken = canonical.replace('"version"', '"versio"', 1)
    for _ in range(2):
        with pytest.raises(ScheduleError):
            parse_stored_schedule(broken)


def test_the_bill_csv_export_never_hands_a_spreadsheet_a_formula() -> None:
    import csv
    import io

    from sealmeter.headend._export import bills_to_csv
    from sealmeter.store import Bill, BillLine

    bill = Bill(
        customer_ref="=cmd|' /C calc'!A0",
        meter_ids=("-m1", "m2"),
        period_start=T0,
        period_end=T0 + timedelta(days=30),
        lines=(BillLine("+1.8.1", 1000, Decimal("0.25")),),
        total_usage=1000,
        standing_charge=Decimal("-1.00"),
        total=Decimal("-0.75"),
        meter_total=Decimal("0.25"),
        registrations=1,
        mismatches=0,
        currency="EUR",
    )
    rows = list(csv.DictReader(io.StringIO(bills_to_csv([bill]))))
    assert {r["customer_ref"] for r in rows} == {"'=cmd|' /C calc'!A0"}
    assert {r["meters"] for r in rows} == {"'-m1 m2"}
    assert rows[0]["line"] == "'+1.8.1"
    assert rows[-1]["charge"] == "-0.75"  # a number stays a number
