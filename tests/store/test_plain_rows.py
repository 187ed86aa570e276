"""The ingest hot path's store shortcuts, on both databases: plain rows, positional reads.

The ingest hot path hands the store registrations that name no schedule in a shorter row
form; the store fills the constant columns in its statement. These tests pin that such a
row reads back as the same record as its full form, that duplicates are still ignored, that
a batch mixing both forms keeps its order, and that a row of any other width is refused;
and that the batch read's meters (read by position) equal those read by column name.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sealmeter.store import (
    IngestBatch,
    MeterAdvance,
    MeterState,
    Store,
    StoreUsageError,
    walk_pages,
)
from sealmeter.store import _schema as s
from sealmeter.store._batch import (
    PLAIN_COLUMNS,
    REGISTRATION_COLUMNS,
    SQLITE_CHUNK,
    widen_plain,
)
from sealmeter.store._rows import METER_COLUMNS
from tests.store.test_store import meter as _meter

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T0_US = int(T0.timestamp()) * 1_000_000


def _plain(meter_id: str, seq: int, kind: str = "real_time") -> tuple[Any, ...]:
    row = {
        "meter_id": meter_id,
        "seq": seq,
        "kind": kind,
        "time_us": T0_US + seq * 3_600_000_000 + 17,
        "schedule_version": 0,
        "registers": f'[["1.8.1",{seq},"0.{seq:02d}",null],["1.8.2",3,"1E+2",null]]',
        "usage": seq + 3,
        "charge": f"{Decimal(f'0.{seq:02d}') + Decimal('1E+2')}",
        "auth_code": bytes([seq]) * 32,
        "received_us": T0_US + 99,
    }
    return tuple(row[c] for c in PLAIN_COLUMNS)


def _advance(meter_id: str, old: int, new: int) -> MeterAdvance:
    return MeterAdvance(meter_id, old, new, f"chain-{new}".encode(), T0, activate=True)


def test_a_plain_row_reads_back_as_its_full_row_would(store: Store) -> None:
    store.add_meter(_meter("p1"))
    store.add_meter(_meter("f1"))
    plain = [_plain("p1", s, kind) for s, kind in ((1, "real_time"), (2, "status"))]
    full = [widen_plain(_plain("f1", s, kind)) for s, kind in ((1, "real_time"), (2, "status"))]
    assert all(len(r) == len(REGISTRATION_COLUMNS) for r in full)
    store.write_batch(
        IngestBatch(
            advances=[_advance("p1", 0, 2), _advance("f1", 0, 2)],
            registration_rows=plain + full,
        )
    )
    got_plain = store.list_registrations(meter_id="p1").items
    got_full = store.list_registrations(meter_id="f1").items
    assert [r.seq for r in got_plain] == [1, 2]
    assert [r.kind for r in got_plain] == ["real_time", "status"]
    assert got_plain[0].schedule_id == ""
    assert got_plain[0].start is None
    assert got_plain[0].expected_charge is None
    assert got_plain[0].charge == Decimal("100.01")
    assert got_plain[0].time == T0 + timedelta(hours=1, microseconds=17)
    for p, f in zip(got_plain, got_full, strict=True):
        assert p == replace(f, meter_id="p1")


def test_plain_duplicates_are_stored_once(store: Store) -> None:
    store.add_meter(_meter("p1"))
    store.write_batch(
        IngestBatch(
            advances=[_advance("p1", 0, 2)], registration_rows=[_plain("p1", 1), _plain("p1", 2)]
        )
    )
    store.write_batch(
        IngestBatch(
            advances=[_advance("p1", 2, 3)],
            registration_rows=[_plain("p1", 2), _plain("p1", 3), _plain("p1", 3)],
        )
    )
    assert [r.seq for r in store.list_registrations(meter_id="p1").items] == [1, 2, 3]
    assert store.counts()["registrations"] == 3


def test_a_batch_mixing_both_forms_is_stored_in_its_order(store: Store) -> None:
    store.add_meter(_meter("m1"))
    rows = [
        _plain("m1", 1),
        _plain("m1", 2),
        widen_plain(_plain("m1", 3)),
        _plain("m1", 4),
        widen_plain(_plain("m1", 5)),
    ]
    store.write_batch(IngestBatch(advances=[_advance("m1", 0, 5)], registration_rows=rows))
    page = store.list_registrations(limit=2)
    seqs = [r.seq for r in page.items]
    while page.next_cursor is not None:
        page = store.list_registrations(limit=2, cursor=page.next_cursor)
        seqs += [r.seq for r in page.items]
    assert seqs == [1, 2, 3, 4, 5]  # storage order (the listing's key) is the batch's order


@pytest.mark.parametrize("width", [0, 9, 11, 12, 14])
def test_a_row_of_another_width_is_refused_and_nothing_is_written(store: Store, width: int) -> None:
    store.add_meter(_meter("m1"))
    bad = tuple(range(width))
    with pytest.raises(StoreUsageError, match=f"has {width} values"):
        store.write_batch(
            IngestBatch(advances=[_advance("m1", 0, 2)], registration_rows=[_plain("m1", 1), bad])
        )
    assert store.counts()["registrations"] == 0
    assert store.get_meter("m1").record.last_seq == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_rows_in_chunks_keep_order_and_skip_every_duplicate(store: Store, seed: int) -> None:
    """More rows than one multi-row statement holds (SQLite: `SQLITE_CHUNK` a statement),
    both forms mixed at random, duplicates inside a chunk, across chunks and of rows stored
    by an earlier batch: each registration is stored once, in the batch's order."""
    rng = random.Random(seed)
    store.add_meter(_meter("m1"))
    store.write_batch(
        IngestBatch(
            advances=[_advance("m1", 0, 5)],
            registration_rows=[_plain("m1", s) for s in range(1, 6)],
        )
    )
    rows: list[tuple[Any, ...]] = []
    for seq in range(6, 6 + 3 * SQLITE_CHUNK + 7):
        row = _plain("m1", seq) if rng.random() < 0.8 else widen_plain(_plain("m1", seq))
        rows.append(row)
        if rng.random() < 0.1:
            rows.append(row)  # the same registration again, right after
        if rng.random() < 0.1:
            rows.append(_plain("m1", rng.randrange(1, seq + 1)))  # an earlier one again
    last = 5 + 3 * SQLITE_CHUNK + 7
    store.write_batch(IngestBatch(advances=[_advance("m1", 5, last)], registration_rows=rows))
    seqs = [r.seq for r in walk_pages(lambda c: store.list_registrations(cursor=c, limit=100))]
    assert seqs == list(range(1, last + 1)), f"seed {seed}"
    assert store.counts()["registrations"] == last


def test_the_batch_read_gives_the_meters_get_meter_gives(store: Store) -> None:
    """`load_for_ingest` reads meter rows by position (`stored_meter_from_values`): the
    same records as the by-name reader, with every optional column set and unset."""
    store.add_meter(_meter("a1"))
    store.add_meter(_meter("b2"))
    store.write_batch(IngestBatch(advances=[_advance("a1", 0, 4)]))
    store.update_meter(
        "a1",
        state=MeterState.BLOCKED.value,
        blocked_reason="fraud suspected",
        pending_command="unblock",
        schedule_id="tariff-1",
        feeder="F9",
        last_seen_us=T0_US + 123_456_789,
        credit_frame_s=86_401,
        report_interval_s=3_599,
        rollover=b"rollover-state",
    )
    fast, _pending, _disputed = store.load_for_ingest_with_disputes(["a1", "b2", "nope"])
    assert set(fast) == {"a1", "b2"}
    for meter_id in ("a1", "b2"):
        assert fast[meter_id] == store.get_meter(meter_id)
    assert fast["a1"].record.last_seen == T0 + timedelta(seconds=123, microseconds=456_789)
    assert fast["a1"].record.state is MeterState.BLOCKED
    assert fast["b2"].record.last_seen is None


def test_the_positional_meter_columns_are_the_tables() -> None:
    """A column added to `meters` must be added to `METER_COLUMNS` too (or the batch read
    would take one column for another)."""
    assert tuple(c.name for c in s.meters.columns) == METER_COLUMNS
