"""The store on both databases: migrations, meters, pagination, batches, atomicity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.store import (
    AlertKind,
    AlreadyExists,
    BadCursor,
    ConcurrentUpdate,
    IngestBatch,
    MeterAdvance,
    MeterRecord,
    MeterState,
    NewAlert,
    NewEnableCode,
    NewMeter,
    NotFound,
    Page,
    RegisterReading,
    RegistrationRecord,
    Severity,
    Store,
    StoreConfigError,
    current_revision,
    head_revision,
    migrate,
    open_engine,
    walk_pages,
)
from sealmeter.store._engine import SYNC_ENV
from sealmeter.store._schema import metadata
from tests.store.conftest import Database

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def meter(meter_id: str, customer: str = "c1") -> NewMeter:
    rec = MeterRecord(
        meter_id=meter_id,
        customer_ref=customer,
        suite="ec-modern",
        feeder="F1",
        schedule_id=None,
        credit_frame=timedelta(days=7),
        report_interval=timedelta(days=1),
        state=MeterState.PROVISIONED,
        key_version=1,
        provisioned_at=T0,
        last_seq=0,
        last_seen=None,
    )
    return NewMeter(rec, b"pk-" + meter_id.encode(), b"chain-0")


def registration(meter_id: str, seq: int, charge: str = "1.00") -> RegistrationRecord:
    return RegistrationRecord(
        meter_id=meter_id,
        seq=seq,
        kind="real_time",
        start=None,
        time=T0 + timedelta(hours=seq),
        schedule_id="s",
        schedule_version=1,
        registers=(RegisterReading("1.8.1", 100 * seq, Decimal(charge), Decimal(charge)),),
        charge=Decimal(charge),
        expected_charge=Decimal(charge),
        auth_code=bytes([seq % 256]) * 32,
        received_at=T0,
    )


def advance(meter_id: str, old: int, new: int) -> MeterAdvance:
    return MeterAdvance(meter_id, old, new, f"chain-{new}".encode(), T0, activate=True)


def test_migrations_reach_head_and_match_the_tables(store: Store) -> None:
    assert current_revision(store.engine) == head_revision()
    migrate(store.engine)  # idempotent
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_meter_round_trip_and_errors(store: Store) -> None:
    store.add_meter(meter("m1"))
    got = store.get_meter("m1")
    assert got.record == meter("m1").record
    assert got.public_keys == b"pk-m1"
    assert got.chain_state == b"chain-0"
    with pytest.raises(AlreadyExists, match="m1"):
        store.add_meter(meter("m1"))
    with pytest.raises(NotFound, match="nope"):
        store.get_meter("nope")
    with pytest.raises(NotFound):
        store.update_meter("nope", state="blocked")


def test_key_rollover_keeps_history(store: Store) -> None:
    store.add_meter(meter("m1"))
    assert store.rollover_key("m1", b"pk-new", T0 + timedelta(days=1)) == 2
    got = store.get_meter("m1")
    assert got.public_keys == b"pk-new"
    assert got.record.key_version == 2
    with pytest.raises(NotFound):
        store.rollover_key("ghost", b"x", T0)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(0, 23), limit=st.integers(1, 7))
def test_pages_cover_every_meter_exactly_once(store: Store, n: int, limit: int) -> None:
    existing = {m.meter_id for m in store.all_meters()}
    for i in range(n):
        mid = f"p{i:03d}"
        if mid not in existing:
            store.add_meter(meter(mid))
    want = sorted(m.meter_id for m in store.all_meters())
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_meters(cursor=cursor, limit=limit)
        assert len(page.items) <= limit
        seen.extend(m.meter_id for m in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == want


@pytest.mark.parametrize("cursor", ["not-a-number", str(2**63), str(-(2**63) - 1), "9" * 30])
def test_garbage_cursor_is_a_usage_error(store: Store, cursor: str) -> None:
    # a number past the keys' signed 64 bits raised SQLite's OverflowError (a 500 in the API)
    with pytest.raises(BadCursor):
        store.list_registrations(cursor=cursor)
    with pytest.raises(BadCursor):
        store.list_enable_codes(cursor=cursor)


def test_duplicate_registrations_are_stored_once(store: Store) -> None:
    store.add_meter(meter("m1"))
    batch = IngestBatch(
        advances=[advance("m1", 0, 3)],
        registrations=[registration("m1", s) for s in (1, 2, 3)],
    )
    store.write_batch(batch)
    again = IngestBatch(
        advances=[advance("m1", 3, 4)],
        registrations=[registration("m1", s) for s in (2, 3, 4, 4)],
    )
    store.write_batch(again)
    regs = store.list_registrations(meter_id="m1").items
    assert [r.seq for r in regs] == [1, 2, 3, 4]
    assert regs[0] == registration("m1", 1)
    got = store.get_meter("m1")
    assert got.record.last_seq == 4
    assert got.record.state is MeterState.ACTIVE
    assert got.chain_state == b"chain-4"


def test_a_lost_race_rolls_back_the_whole_batch(store: Store) -> None:
    store.add_meter(meter("m1"))
    store.add_meter(meter("m2"))
    store.write_batch(IngestBatch(advances=[advance("m1", 0, 1)]))
    stale = IngestBatch(
        advances=[advance("m2", 0, 1), advance("m1", 0, 1)],  # m1 is already at 1
        registrations=[registration("m2", 1), registration("m1", 1)],
    )
    with pytest.raises(ConcurrentUpdate, match="moved"):
        store.write_batch(stale)
    assert store.list_registrations().items == ()
    assert store.get_meter("m2").record.last_seq == 0


@pytest.mark.parametrize(
    "fail_at", ["advances", "registrations", "alerts", "enable_codes"], ids=str
)
def test_a_failure_between_statements_writes_nothing(database: Database, fail_at: str) -> None:
    class Boom(RuntimeError):
        pass

    def hook(step: str) -> None:
        if step == fail_at:
            raise Boom(step)

    plain = database.open()
    plain.add_meter(meter("m1"))
    faulty = Store(plain.engine, hook=hook)
    batch = IngestBatch(
        advances=[advance("m1", 0, 2)],
        registrations=[registration("m1", 1), registration("m1", 2)],
        alerts=[_alert("a1")],
        enable_codes=[NewEnableCode("m1", 2, b"n" * 16, T0, T0, timedelta(days=7))],
    )
    with pytest.raises(Boom):
        faulty.write_batch(batch)
    assert plain.list_registrations().items == ()
    assert plain.list_alerts().items == ()
    assert plain.list_enable_codes().items == ()
    assert plain.get_meter("m1").record.last_seq == 0
    plain.write_batch(batch)  # the same batch, retried, goes through whole
    assert [r.seq for r in plain.list_registrations().items] == [1, 2]
    plain.close()


def _alert(key: str, meter_id: str | None = "m1") -> NewAlert:
    return NewAlert(AlertKind.TAMPER, Severity.CRITICAL, meter_id, "F1", "x", T0, T0, key)


def test_alerts_are_deduplicated_and_acknowledged(store: Store) -> None:
    store.raise_alerts([_alert("k1"), _alert("k1"), _alert("k2")])
    store.raise_alerts([_alert("k2")])
    alerts = store.list_alerts().items
    assert len(alerts) == 2
    assert store.open_tamper_meters() == {"m1"}
    acked = store.acknowledge_alert(alerts[0].alert_id, T0 + timedelta(hours=1))
    assert acked.acknowledged_at == T0 + timedelta(hours=1)
    assert len(store.list_alerts(open_only=True).items) == 1
    with pytest.raises(NotFound):
        store.acknowledge_alert(999_999, T0)


def test_time_filters_are_half_open(store: Store) -> None:
    store.add_meter(meter("m1"))
    store.write_batch(
        IngestBatch(
            advances=[advance("m1", 0, 5)],
            registrations=[registration("m1", s) for s in range(1, 6)],
        )
    )
    got = store.list_registrations(
        meter_id="m1", since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4)
    ).items
    assert [r.seq for r in got] == [2, 3]
    # A registration is stamped when its segment closes: billing periods are (since, until].
    between = store.registrations_between(["m1"], T0 + timedelta(hours=4), T0 + timedelta(days=1))
    assert [r.seq for r in between] == [5]
    ending = store.registrations_between(["m1"], T0 + timedelta(hours=2), T0 + timedelta(hours=4))
    assert [r.seq for r in ending] == [3, 4]


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql://x@h/db", "unsupported database"),
        ("postgresql://postgres@127.0.0.1/test", "psycopg"),
        ("::not a url::", "cannot parse"),
    ],
)
def test_unusable_urls_are_usage_errors(url: str, match: str) -> None:
    with pytest.raises(StoreConfigError, match=match):
        open_engine(url)


def test_schema_names_are_checked() -> None:
    with pytest.raises(StoreConfigError, match="schema"):
        open_engine("sqlite://", schema="x")
    with pytest.raises(StoreConfigError, match="identifier"):
        open_engine("postgresql+psycopg://postgres@127.0.0.1/test", schema='x"; drop')


@pytest.mark.parametrize(("setting", "level"), [(None, 1), ("full", 2), ("EXTRA", 3)])
def test_sqlite_is_wal_with_the_chosen_synchronous_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, level: int
) -> None:
    if setting is None:
        monkeypatch.delenv(SYNC_ENV, raising=False)
    else:
        monkeypatch.setenv(SYNC_ENV, setting)
    engine = open_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == level
    finally:
        engine.dispose()


def test_an_unknown_synchronous_level_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SYNC_ENV, "sometimes")
    with pytest.raises(StoreConfigError, match="NORMAL, FULL or EXTRA"):
        open_engine("sqlite://")


@given(items=st.lists(st.integers(), max_size=40), size=st.integers(1, 7))
def test_walk_pages_yields_every_item_once_in_order(items: list[int], size: int) -> None:
    calls: list[str | None] = []

    def fetch(cursor: str | None) -> Page[int]:
        calls.append(cursor)
        start = int(cursor or 0)
        end = start + size
        return Page(tuple(items[start:end]), str(end) if end < len(items) else None)

    assert list(walk_pages(fetch)) == items
    assert len(calls) == max(1, -(-len(items) // size))
