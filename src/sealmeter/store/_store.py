"""The head-end store: meters, registrations, logs, alerts and schedules in SQL.

`Store` wraps one SQLAlchemy engine (SQLite or PostgreSQL) and speaks in the records of
`sealmeter.store._records`. It knows nothing of cryptography: public keys and MAC-chain
state are opaque bytes to it. Every method runs in its own transaction; the hot path is
`write_batch`, which writes one `IngestBatch` atomically.

The methods live in mixins by what they keep (`_meters`, `_logs`, `_schedules`) over
`_base.StoreBase`; this module keeps the engine's lifecycle, the ingest hot path and the
counters, and re-exports the records it always exported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import OperationalError

from sealmeter.store import _schema as s
from sealmeter.store._batch import Hook, IngestBatch, write_batch
from sealmeter.store._convert import to_us
from sealmeter.store._engine import DEFAULT_URL, Checkpointer, open_engine
from sealmeter.store._logs import LogStore
from sealmeter.store._meters import MeterStore
from sealmeter.store._migrate import migrate
from sealmeter.store._queries import MAX_PAGE as MAX_PAGE
from sealmeter.store._records import AlertKind, RegistrationRecord
from sealmeter.store._rows import (
    METER_COLUMNS,
    NewMeter,
    PowerEvent,
    StoredMeter,
    registration_record,
    stored_meter_from_values,
)
from sealmeter.store._schedules import ScheduleStore
from sealmeter.store.errors import StoreUnavailable

__all__ = ["NewMeter", "PowerEvent", "Store", "StoredMeter"]


class Store(MeterStore, LogStore, ScheduleStore):
    """Persistence of the head-end over one database (see module docstring)."""

    def __init__(self, engine: Engine, *, hook: Hook | None = None) -> None:
        """Use `engine` (already migrated); `hook(step)` runs between batch statements."""
        self.engine = engine
        self._hook = hook
        self._checkpointer: Checkpointer | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self._checkpointer = Checkpointer(url.database)

    @classmethod
    def open(
        cls, url: str = DEFAULT_URL, *, schema: str | None = None, hook: Hook | None = None
    ) -> Store:
        """Open (and migrate to the newest schema) the database at `url`."""
        engine = open_engine(url, schema=schema)
        try:
            migrate(engine)
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(
                f"cannot open the head-end database: {exc.orig}; check the URL and that the "
                "server is running"
            ) from None
        return cls(engine, hook=hook)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Stop the checkpointer and release every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.engine.dispose()

    # ---------------------------------------------------------------- hot path
    def write_batch(self, batch: IngestBatch) -> None:
        """Write one ingest batch atomically (raises `ConcurrentUpdate` on a lost race)."""
        with self._tx() as conn:
            write_batch(conn, batch, self._hook)
        if self._checkpointer is not None:
            self._checkpointer.poke()

    def load_for_ingest(
        self, meter_ids: Sequence[str]
    ) -> tuple[dict[str, StoredMeter], dict[str, list[tuple[str, int]]]]:
        """`load_meters` and `pending_deliveries` of `meter_ids` in one read (the hot path).

        One connection, one read transaction (a consistent snapshot), statements of fixed
        text sent straight to the driver: on PostgreSQL `= ANY(%s)` with one array
        parameter, so psycopg prepares each statement once whatever the batch size.
        """
        stored, pending, _disputed = self.load_for_ingest_with_disputes(meter_ids)
        return stored, pending

    def load_for_ingest_with_disputes(
        self, meter_ids: Sequence[str]
    ) -> tuple[dict[str, StoredMeter], dict[str, list[tuple[str, int]]], set[str]]:
        """`load_for_ingest` plus the meters with an unresolved charge-mismatch alert."""
        ids = sorted(set(meter_ids))
        if not ids:
            return {}, {}, set()
        params: tuple[Any, ...]
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                where, params = "= ANY(%s)", (ids,)
            else:
                where, params = "IN (" + ",".join("?" * len(ids)) + ")", tuple(ids)
            rows = conn.exec_driver_sql(_METER_SQL + where, params).all()
            pending = conn.exec_driver_sql(_PENDING_SQL.format(where=where), params).all()
            disputed = conn.exec_driver_sql(_DISPUTED_SQL.format(where=where), params).all()
        out: dict[str, list[tuple[str, int]]] = {}
        for meter_id, schedule_id, version in pending:
            out.setdefault(meter_id, []).append((schedule_id, version))
        meters = (stored_meter_from_values(r) for r in rows)
        return {m.record.meter_id: m for m in meters}, out, {r[0] for r in disputed}

    def recent_registrations(
        self, meter_id: str, up_to_seq: int, span: timedelta
    ) -> list[RegistrationRecord]:
        """Registrations of `meter_id` up to `up_to_seq` stamped within `span` of the last one.

        By sequence number; the head-end replays them to know a meter's usage so far in its
        billing month (tiered prices).
        """
        t = s.registrations
        with self.engine.connect() as conn:
            last = conn.execute(
                select(t.c.time_us)
                .where(and_(t.c.meter_id == meter_id, t.c.seq <= up_to_seq))
                .order_by(t.c.seq.desc())
                .limit(1)
            ).scalar()
            if last is None:
                return []
            rows = conn.execute(
                select(t)
                .where(
                    and_(
                        t.c.meter_id == meter_id,
                        t.c.seq <= up_to_seq,
                        t.c.time_us >= last - int(span.total_seconds() * 1_000_000),
                    )
                )
                .order_by(t.c.seq)
            ).all()
        return [registration_record(r) for r in rows]

    def resolve_alerts(self, meter_id: str, kind: AlertKind, at: datetime) -> int:
        """Acknowledge every open alert of `kind` for `meter_id`; return how many."""
        with self._tx() as conn:
            return int(
                conn.execute(
                    update(s.alerts)
                    .where(
                        and_(
                            s.alerts.c.meter_id == meter_id,
                            s.alerts.c.kind == kind.value,
                            s.alerts.c.acknowledged_us.is_(None),
                        )
                    )
                    .values(acknowledged_us=to_us(at))
                ).rowcount
            )

    def registrations_by_seq(
        self, meter_id: str, seqs: Sequence[int]
    ) -> dict[int, RegistrationRecord]:
        """Stored registrations of one meter with the given sequence numbers."""
        if not seqs:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.registrations).where(
                    and_(
                        s.registrations.c.meter_id == meter_id,
                        s.registrations.c.seq.in_(sorted(set(seqs))),
                    )
                )
            ).all()
        return {r.seq: registration_record(r) for r in rows}

    # ---------------------------------------------------------------- counters
    def counts(self) -> dict[str, int]:
        """Row counts for health and metrics."""
        with self.engine.connect() as conn:
            out = {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (
                    ("meters", s.meters),
                    ("registrations", s.registrations),
                    ("rejections", s.rejections),
                    ("enable_codes", s.enable_codes),
                    ("uplinks", s.uplinks),
                )
            }
            out["open_alerts"] = int(
                conn.execute(
                    select(func.count())
                    .select_from(s.alerts)
                    .where(s.alerts.c.acknowledged_us.is_(None))
                ).scalar_one()
            )
        return out


_METER_SQL = "SELECT " + ", ".join(METER_COLUMNS) + " FROM meters WHERE meter_id "  # noqa: S608
_DISPUTED_SQL = (
    "SELECT DISTINCT meter_id FROM alerts WHERE meter_id {where} "  # noqa: S608 - fixed text
    f"AND kind = '{AlertKind.CHARGE_MISMATCH.value}' AND acknowledged_us IS NULL"
)
_PENDING_SQL = (
    "SELECT meter_id, schedule_id, version FROM schedule_deliveries "
    "WHERE meter_id {where} AND confirmed_us IS NULL ORDER BY meter_id, schedule_id, version"
)
