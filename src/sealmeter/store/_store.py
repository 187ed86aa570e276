"""The head-end store: meters, registrations, logs, alerts and schedules in SQL.

`Store` wraps one SQLAlchemy engine (SQLite or PostgreSQL) and speaks in the records of
`sealmeter.store._records`. It knows nothing of cryptography: public keys and MAC-chain
state are opaque bytes to it. Every method runs in its own transaction; the hot path is
`write_batch`, which writes one `IngestBatch` atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, Select, and_, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from sealmeter.store import _schema as s
from sealmeter.store._batch import (
    Hook,
    IngestBatch,
    NewAlert,
    alert_row,
    insert_ignore,
    write_batch,
)
from sealmeter.store._convert import (
    dur_to_s,
    opt_us_to_dt,
    registers_from_json,
    s_to_dur,
    to_us,
    us_to_dt,
)
from sealmeter.store._engine import DEFAULT_URL, WRITE_OPTION, Checkpointer, open_engine
from sealmeter.store._migrate import migrate
from sealmeter.store._records import (
    AlertKind,
    AlertRecord,
    EnableCodeRecord,
    MeterRecord,
    MeterState,
    Page,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
    ScheduleDelivery,
    ScheduleRecord,
    Severity,
)
from sealmeter.store.errors import (
    AlreadyExists,
    BadCursor,
    ConcurrentUpdate,
    NotFound,
    StoreUnavailable,
)

__all__ = ["NewMeter", "PowerEvent", "Store", "StoredMeter"]

MAX_PAGE = 1000
_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock detected
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewMeter:
    """A meter to insert: its record plus the opaque key material the store keeps."""

    record: MeterRecord
    public_keys: bytes
    chain_state: bytes


@dataclass(frozen=True, slots=True)
class StoredMeter:
    """A meter with its opaque key material and chain state, as ingest needs it."""

    record: MeterRecord
    public_keys: bytes
    chain_state: bytes
    pending_command: str | None
    rollover: bytes | None = None  # key rollover state, opaque to the store


@dataclass(frozen=True, slots=True)
class PowerEvent:
    """A reported power loss awaiting classification."""

    event_id: int
    meter_id: str
    feeder: str
    at: datetime


class Store:
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

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with (
                self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
                conn.begin(),
            ):
                yield conn
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, IntegrityError):
                raise
            if getattr(exc.orig, "sqlstate", None) in _RETRYABLE:
                raise ConcurrentUpdate(
                    f"the database aborted the transaction to resolve a conflict ({exc.orig}); "
                    "nothing was written; retry"
                ) from None
            raise StoreUnavailable(
                f"database error, transaction rolled back: {exc.orig}; retry, and check the "
                "database if it persists"
            ) from None

    # ---------------------------------------------------------------- hot path
    def write_batch(self, batch: IngestBatch) -> None:
        """Write one ingest batch atomically (raises `ConcurrentUpdate` on a lost race)."""
        with self._tx() as conn:
            write_batch(conn, batch, self._hook)
        if self._checkpointer is not None:
            self._checkpointer.poke()

    def load_meters(self, meter_ids: Sequence[str]) -> dict[str, StoredMeter]:
        """The stored state of each of `meter_ids` that exists."""
        if not meter_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.meters).where(s.meters.c.meter_id.in_(sorted(set(meter_ids))))
            ).all()
        return {r.meter_id: _stored_meter(r) for r in rows}

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
        return {r.meter_id: _stored_meter(r) for r in rows}, out, {r[0] for r in disputed}

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
        return [_registration(r) for r in rows]

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
        return {r.seq: _registration(r) for r in rows}

    # ---------------------------------------------------------------- meters
    def add_meter(self, meter: NewMeter) -> None:
        """Insert a new meter; `AlreadyExists` if the id is taken."""
        rec = meter.record
        try:
            with self._tx() as conn:
                conn.execute(
                    s.meters.insert().values(
                        meter_id=rec.meter_id,
                        customer_ref=rec.customer_ref,
                        suite=rec.suite,
                        feeder=rec.feeder,
                        schedule_id=rec.schedule_id,
                        credit_frame_s=dur_to_s(rec.credit_frame),
                        report_interval_s=dur_to_s(rec.report_interval),
                        state=rec.state.value,
                        key_version=rec.key_version,
                        public_keys=meter.public_keys,
                        provisioned_us=to_us(rec.provisioned_at),
                        last_seq=rec.last_seq,
                        chain_state=meter.chain_state,
                        last_seen_us=None,
                        blocked_reason=None,
                        pending_command=None,
                    )
                )
                conn.execute(
                    s.meter_keys.insert().values(
                        meter_id=rec.meter_id,
                        key_version=rec.key_version,
                        public_keys=meter.public_keys,
                        valid_from_us=to_us(rec.provisioned_at),
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"meter {rec.meter_id!r} is already provisioned; pick another id, or roll its "
                "keys over instead"
            ) from None

    def get_meter(self, meter_id: str) -> StoredMeter:
        """One meter; `NotFound` if it was never provisioned."""
        found = self.load_meters([meter_id])
        if meter_id not in found:
            raise NotFound(f"no meter {meter_id!r} is provisioned; check the id")
        return found[meter_id]

    def update_meter(self, meter_id: str, **values: Any) -> None:
        """Set columns of one meter (state, schedule_id, blocked_reason, ...)."""
        with self._tx() as conn:
            n = conn.execute(
                update(s.meters).where(s.meters.c.meter_id == meter_id).values(**values)
            ).rowcount
        if n != 1:
            raise NotFound(f"no meter {meter_id!r} is provisioned; check the id")

    def rollover_key(self, meter_id: str, public_keys: bytes, at: datetime) -> int:
        """Retire the meter's current public keys and install new ones; returns the version."""
        with self._tx() as conn:
            row = conn.execute(
                select(s.meters.c.key_version).where(s.meters.c.meter_id == meter_id)
            ).first()
            if row is None:
                raise NotFound(f"no meter {meter_id!r} is provisioned; check the id")
            version = int(row.key_version) + 1
            conn.execute(
                update(s.meter_keys)
                .where(
                    and_(
                        s.meter_keys.c.meter_id == meter_id,
                        s.meter_keys.c.key_version == row.key_version,
                    )
                )
                .values(retired_us=to_us(at))
            )
            conn.execute(
                s.meter_keys.insert().values(
                    meter_id=meter_id,
                    key_version=version,
                    public_keys=public_keys,
                    valid_from_us=to_us(at),
                )
            )
            conn.execute(
                update(s.meters)
                .where(s.meters.c.meter_id == meter_id)
                .values(public_keys=public_keys, key_version=version)
            )
        return version

    def set_rollover(
        self,
        meter_id: str,
        expected: bytes | None,
        new: bytes | None,
        *,
        at: datetime,
        public_keys: bytes | None = None,
    ) -> bool:
        """Compare-and-set a meter's key rollover state; with `public_keys`, roll its keys too.

        Returns False (changing nothing) when the stored state is no longer `expected`, e.g.
        another worker moved it first. New public keys retire the current ones as
        `rollover_key` does, in the same transaction.
        """
        column = s.meters.c.rollover
        match = column.is_(None) if expected is None else column == expected
        try:
            return self._set_rollover(meter_id, match, new, at, public_keys)
        except IntegrityError:  # another worker installed the same key version first
            return False

    def _set_rollover(
        self, meter_id: str, match: Any, new: bytes | None, at: datetime, public_keys: bytes | None
    ) -> bool:
        with self._tx() as conn:
            row = conn.execute(
                select(s.meters.c.key_version).where(and_(s.meters.c.meter_id == meter_id, match))
            ).first()
            if row is None:
                return False
            values: dict[str, Any] = {"rollover": new}
            if public_keys is not None:
                when = to_us(at)
                version = int(row.key_version) + 1
                conn.execute(
                    update(s.meter_keys)
                    .where(
                        and_(
                            s.meter_keys.c.meter_id == meter_id,
                            s.meter_keys.c.key_version == row.key_version,
                        )
                    )
                    .values(retired_us=when)
                )
                conn.execute(
                    s.meter_keys.insert().values(
                        meter_id=meter_id,
                        key_version=version,
                        public_keys=public_keys,
                        valid_from_us=when,
                    )
                )
                values.update(public_keys=public_keys, key_version=version)
            moved = conn.execute(
                update(s.meters)
                .where(and_(s.meters.c.meter_id == meter_id, match))
                .values(**values)
            ).rowcount
        return moved == 1

    def list_meters(
        self, *, state: MeterState | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[MeterRecord]:
        """Meters in id order, `limit` at a time (cursor = last meter id of the previous page)."""
        stmt = select(s.meters).order_by(s.meters.c.meter_id)
        if state is not None:
            stmt = stmt.where(s.meters.c.state == state.value)
        if cursor is not None:
            stmt = stmt.where(s.meters.c.meter_id > cursor)
        limit = _limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit + 1)).all()
        items = tuple(_meter_record(r) for r in rows[:limit])
        nxt = items[-1].meter_id if len(rows) > limit and items else None
        return Page(items, nxt)

    def all_meters(self) -> list[MeterRecord]:
        """Every meter (fleet monitoring walks them all)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.meters).order_by(s.meters.c.meter_id)).all()
        return [_meter_record(r) for r in rows]

    # ---------------------------------------------------------------- registrations
    def list_registrations(
        self,
        *,
        meter_id: str | None = None,
        meter_ids: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[RegistrationRecord]:
        """Registrations in storage order, filtered by meter(s) and by time `since <= t < until`."""
        t = s.registrations
        stmt = select(t).order_by(t.c.reg_id)
        if meter_id is not None:
            stmt = stmt.where(t.c.meter_id == meter_id)
        if meter_ids is not None:
            stmt = stmt.where(t.c.meter_id.in_(list(meter_ids)))
        if since is not None:
            stmt = stmt.where(t.c.time_us >= to_us(since))
        if until is not None:
            stmt = stmt.where(t.c.time_us < to_us(until))
        return _page(self.engine, stmt, t.c.reg_id, cursor, limit, _registration, "reg_id")

    def registrations_between(
        self, meter_ids: Sequence[str], since: datetime, until: datetime
    ) -> list[RegistrationRecord]:
        """Every registration of `meter_ids` with `since < time <= until`, by meter and seq.

        A registration is stamped when its segment closes, so it holds usage from before its
        time: one stamped exactly at `until` belongs to the period ending there, and one
        stamped exactly at `since` to the period before.
        """
        t = s.registrations
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(
                    and_(
                        t.c.meter_id.in_(list(meter_ids)),
                        t.c.time_us > to_us(since),
                        t.c.time_us <= to_us(until),
                    )
                )
                .order_by(t.c.meter_id, t.c.seq)
            ).all()
        return [_registration(r) for r in rows]

    def uplinks_of(
        self, meter_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[bytes, bytes | None, datetime]]:
        """(body, disclosure, received_at) of a meter's accepted uplinks, oldest first."""
        t = s.uplinks
        stmt = select(t.c.body, t.c.disclosure, t.c.received_us).where(t.c.meter_id == meter_id)
        if since is not None:
            stmt = stmt.where(t.c.received_us >= to_us(since))
        if until is not None:
            stmt = stmt.where(t.c.received_us < to_us(until))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(t.c.first_seq)).all()
        return [(r.body, r.disclosure, us_to_dt(r.received_us)) for r in rows]

    # ---------------------------------------------------------------- logs
    def list_rejections(
        self,
        *,
        meter_id: str | None = None,
        reason: RejectionReason | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[RejectionRecord]:
        """The rejection log, oldest first, filtered."""
        t = s.rejections
        stmt = select(t).order_by(t.c.rejection_id)
        if meter_id is not None:
            stmt = stmt.where(t.c.meter_id == meter_id)
        if reason is not None:
            stmt = stmt.where(t.c.reason == reason.value)
        if since is not None:
            stmt = stmt.where(t.c.received_us >= to_us(since))
        if until is not None:
            stmt = stmt.where(t.c.received_us < to_us(until))
        return _page(self.engine, stmt, t.c.rejection_id, cursor, limit, _rejection, "rejection_id")

    def list_enable_codes(
        self,
        *,
        meter_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[EnableCodeRecord]:
        """The enable-code log, oldest first, filtered."""
        t = s.enable_codes
        stmt = select(t).order_by(t.c.code_id)
        if meter_id is not None:
            stmt = stmt.where(t.c.meter_id == meter_id)
        if since is not None:
            stmt = stmt.where(t.c.issued_us >= to_us(since))
        if until is not None:
            stmt = stmt.where(t.c.issued_us < to_us(until))
        return _page(self.engine, stmt, t.c.code_id, cursor, limit, _enable_code, "code_id")

    # ---------------------------------------------------------------- alerts
    def raise_alerts(self, alerts: Sequence[NewAlert]) -> None:
        """Record alerts; one already raised under the same dedup key is ignored."""
        with self._tx() as conn:
            insert_ignore(conn, s.alerts, [alert_row(a) for a in alerts])

    def list_alerts(
        self,
        *,
        meter_id: str | None = None,
        kind: AlertKind | None = None,
        open_only: bool = False,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[AlertRecord]:
        """Alerts, oldest first, filtered by meter, kind, state and time of occurrence."""
        t = s.alerts
        stmt = select(t).order_by(t.c.alert_id)
        if meter_id is not None:
            stmt = stmt.where(t.c.meter_id == meter_id)
        if kind is not None:
            stmt = stmt.where(t.c.kind == kind.value)
        if open_only:
            stmt = stmt.where(t.c.acknowledged_us.is_(None))
        if since is not None:
            stmt = stmt.where(t.c.occurred_us >= to_us(since))
        if until is not None:
            stmt = stmt.where(t.c.occurred_us < to_us(until))
        return _page(self.engine, stmt, t.c.alert_id, cursor, limit, _alert, "alert_id")

    def acknowledge_alert(self, alert_id: int, at: datetime) -> AlertRecord:
        """Mark an alert acknowledged (idempotent) and return it."""
        with self._tx() as conn:
            conn.execute(
                update(s.alerts)
                .where(and_(s.alerts.c.alert_id == alert_id, s.alerts.c.acknowledged_us.is_(None)))
                .values(acknowledged_us=to_us(at))
            )
            row = conn.execute(select(s.alerts).where(s.alerts.c.alert_id == alert_id)).first()
        if row is None:
            raise NotFound(f"no alert {alert_id}; list alerts to find its id")
        return _alert(row)

    def last_alert_id(self) -> int:
        """The highest alert id so far (0 when there is none)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(s.alerts.c.alert_id))).scalar_one()
        return int(value or 0)

    def customer_refs(self) -> list[str]:
        """Every distinct customer reference, sorted."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.meters.c.customer_ref).distinct().order_by(s.meters.c.customer_ref)
            ).all()
        return [r.customer_ref for r in rows]

    def meters_of_customer(self, customer_ref: str) -> list[MeterRecord]:
        """The meters registered to one customer."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.meters)
                .where(s.meters.c.customer_ref == customer_ref)
                .order_by(s.meters.c.meter_id)
            ).all()
        return [_meter_record(r) for r in rows]

    def open_tamper_meters(self) -> set[str]:
        """Meters with an unacknowledged tamper alert."""
        t = s.alerts
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.meter_id)
                .where(and_(t.c.kind == AlertKind.TAMPER.value, t.c.acknowledged_us.is_(None)))
                .distinct()
            ).all()
        return {r.meter_id for r in rows if r.meter_id is not None}

    # ---------------------------------------------------------------- power events
    def unclassified_power_events(self, before: datetime) -> list[PowerEvent]:
        """Power losses reported before `before` and not yet classified."""
        t = s.power_events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(and_(t.c.classified.is_(None), t.c.at_us < to_us(before)))
                .order_by(t.c.feeder, t.c.at_us)
            ).all()
        return [PowerEvent(r.event_id, r.meter_id, r.feeder, us_to_dt(r.at_us)) for r in rows]

    def power_events_near(self, feeder: str, start: datetime, end: datetime) -> list[PowerEvent]:
        """Every power loss on `feeder` with `start <= at <= end`, classified or not."""
        t = s.power_events
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t).where(
                    and_(t.c.feeder == feeder, t.c.at_us >= to_us(start), t.c.at_us <= to_us(end))
                )
            ).all()
        return [PowerEvent(r.event_id, r.meter_id, r.feeder, us_to_dt(r.at_us)) for r in rows]

    def classify_power_events(self, labels: dict[int, str], alerts: Sequence[NewAlert]) -> None:
        """Label power events (outage / suspected_removal) and raise their alerts, atomically."""
        with self._tx() as conn:
            for event_id, label in labels.items():
                conn.execute(
                    update(s.power_events)
                    .where(s.power_events.c.event_id == event_id)
                    .values(classified=label)
                )
            insert_ignore(conn, s.alerts, [alert_row(a) for a in alerts])

    # ---------------------------------------------------------------- schedules
    def add_schedule(self, rec: ScheduleRecord) -> None:
        """Store a published schedule version; `AlreadyExists` if that version exists."""
        try:
            with self._tx() as conn:
                conn.execute(
                    s.schedules.insert().values(
                        schedule_id=rec.schedule_id,
                        version=rec.version,
                        valid_from_us=to_us(rec.valid_from),
                        valid_to_us=None if rec.valid_to is None else to_us(rec.valid_to),
                        published_us=to_us(rec.published_at),
                        document=rec.document,
                    )
                )
        except IntegrityError:
            raise AlreadyExists(
                f"schedule {rec.schedule_id!r} version {rec.version} is already published; "
                "publish a higher version"
            ) from None

    def list_schedules(self, schedule_id: str | None = None) -> list[ScheduleRecord]:
        """Published schedule versions, by id and version."""
        t = s.schedules
        stmt = select(t).order_by(t.c.schedule_id, t.c.version)
        if schedule_id is not None:
            stmt = stmt.where(t.c.schedule_id == schedule_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [_schedule(r) for r in rows]

    def get_schedule(self, schedule_id: str, version: int) -> ScheduleRecord | None:
        """One published schedule version, or None."""
        t = s.schedules
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(and_(t.c.schedule_id == schedule_id, t.c.version == version))
            ).first()
        return None if row is None else _schedule(row)

    def plan_deliveries(self, schedule_id: str, version: int, meter_ids: Sequence[str]) -> None:
        """Record that `meter_ids` must receive this schedule version (not yet sent)."""
        with self._tx() as conn:
            insert_ignore(
                conn,
                s.schedule_deliveries,
                [
                    {"meter_id": m, "schedule_id": schedule_id, "version": version}
                    for m in meter_ids
                ],
            )

    def mark_sent(self, meter_id: str, schedule_id: str, version: int, at: datetime) -> None:
        """Record that a schedule version went out to a meter in a downlink."""
        t = s.schedule_deliveries
        with self._tx() as conn:
            conn.execute(
                update(t)
                .where(
                    and_(t.c.meter_id == meter_id, t.c.schedule_id == schedule_id),
                    t.c.version == version,
                    t.c.sent_us.is_(None),
                )
                .values(sent_us=to_us(at))
            )

    def pending_deliveries(self, meter_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """Unconfirmed (schedule_id, version) deliveries per meter, oldest version first."""
        if not meter_ids:
            return {}
        t = s.schedule_deliveries
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.meter_id, t.c.schedule_id, t.c.version)
                .where(and_(t.c.meter_id.in_(sorted(set(meter_ids))), t.c.confirmed_us.is_(None)))
                .order_by(t.c.meter_id, t.c.schedule_id, t.c.version)
            ).all()
        out: dict[str, list[tuple[str, int]]] = {}
        for r in rows:
            out.setdefault(r.meter_id, []).append((r.schedule_id, r.version))
        return out

    def list_deliveries(
        self,
        *,
        schedule_id: str | None = None,
        meter_id: str | None = None,
        pending_only: bool = False,
    ) -> list[ScheduleDelivery]:
        """Schedule deliveries, filtered; `pending_only` keeps unconfirmed ones."""
        t = s.schedule_deliveries
        stmt = select(t).order_by(t.c.schedule_id, t.c.version, t.c.meter_id)
        if schedule_id is not None:
            stmt = stmt.where(t.c.schedule_id == schedule_id)
        if meter_id is not None:
            stmt = stmt.where(t.c.meter_id == meter_id)
        if pending_only:
            stmt = stmt.where(t.c.confirmed_us.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            ScheduleDelivery(
                r.meter_id,
                r.schedule_id,
                r.version,
                opt_us_to_dt(r.sent_us),
                opt_us_to_dt(r.confirmed_us),
            )
            for r in rows
        ]

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


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def _page(
    engine: Engine,
    stmt: Select[Any],
    key: Any,
    cursor: str | None,
    limit: int,
    conv: Callable[[Row[Any]], T],
    name: str,
) -> Page[T]:
    limit = _limit(limit)
    if cursor is not None:
        try:
            after = int(cursor)
        except ValueError:
            raise BadCursor(
                f"cursor {cursor!r} is not one this listing handed out; pass next_cursor back"
            ) from None
        stmt = stmt.where(key > after)
    with engine.connect() as conn:
        rows = conn.execute(stmt.limit(limit + 1)).all()
    items = tuple(conv(r) for r in rows[:limit])
    nxt = str(getattr(rows[limit - 1], name)) if len(rows) > limit else None
    return Page(items, nxt)


_METER_SQL = (
    "SELECT " + ", ".join(c.name for c in s.meters.columns) + " FROM meters WHERE meter_id "  # noqa: S608
)
_DISPUTED_SQL = (
    "SELECT DISTINCT meter_id FROM alerts WHERE meter_id {where} "  # noqa: S608 - fixed text
    f"AND kind = '{AlertKind.CHARGE_MISMATCH.value}' AND acknowledged_us IS NULL"
)
_PENDING_SQL = (
    "SELECT meter_id, schedule_id, version FROM schedule_deliveries "
    "WHERE meter_id {where} AND confirmed_us IS NULL ORDER BY meter_id, schedule_id, version"
)


def _meter_record(r: Row[Any]) -> MeterRecord:
    return MeterRecord(
        meter_id=r.meter_id,
        customer_ref=r.customer_ref,
        suite=r.suite,
        feeder=r.feeder,
        schedule_id=r.schedule_id,
        credit_frame=s_to_dur(r.credit_frame_s),
        report_interval=s_to_dur(r.report_interval_s),
        state=MeterState(r.state),
        key_version=r.key_version,
        provisioned_at=us_to_dt(r.provisioned_us),
        last_seq=r.last_seq,
        last_seen=opt_us_to_dt(r.last_seen_us),
        blocked_reason=r.blocked_reason,
    )


def _stored_meter(r: Row[Any]) -> StoredMeter:
    return StoredMeter(
        _meter_record(r), r.public_keys, r.chain_state, r.pending_command, r.rollover
    )


def _registration(r: Row[Any]) -> RegistrationRecord:
    return RegistrationRecord(
        meter_id=r.meter_id,
        seq=r.seq,
        kind=r.kind,
        start=opt_us_to_dt(r.start_us),
        time=us_to_dt(r.time_us),
        schedule_id=r.schedule_id,
        schedule_version=r.schedule_version,
        registers=registers_from_json(r.registers),
        charge=Decimal(r.charge),
        expected_charge=None if r.expected_charge is None else Decimal(r.expected_charge),
        auth_code=r.auth_code,
        received_at=us_to_dt(r.received_us),
    )


def _rejection(r: Row[Any]) -> RejectionRecord:
    return RejectionRecord(
        rejection_id=r.rejection_id,
        received_at=us_to_dt(r.received_us),
        meter_id=r.meter_id,
        reason=RejectionReason(r.reason),
        detail=r.detail,
        size=r.size,
        digest=r.digest,
    )


def _enable_code(r: Row[Any]) -> EnableCodeRecord:
    return EnableCodeRecord(
        code_id=r.code_id,
        meter_id=r.meter_id,
        acked_seq=r.acked_seq,
        nonce=r.nonce,
        issued_at=us_to_dt(r.issued_us),
        expires_at=us_to_dt(r.expires_us),
        credit_frame=s_to_dur(r.credit_frame_s),
    )


def _alert(r: Row[Any]) -> AlertRecord:
    return AlertRecord(
        alert_id=r.alert_id,
        kind=AlertKind(r.kind),
        severity=Severity(r.severity),
        meter_id=r.meter_id,
        feeder=r.feeder,
        detail=r.detail,
        occurred_at=us_to_dt(r.occurred_us),
        raised_at=us_to_dt(r.raised_us),
        acknowledged_at=opt_us_to_dt(r.acknowledged_us),
    )


def _schedule(r: Row[Any]) -> ScheduleRecord:
    return ScheduleRecord(
        schedule_id=r.schedule_id,
        version=r.version,
        valid_from=us_to_dt(r.valid_from_us),
        valid_to=opt_us_to_dt(r.valid_to_us),
        published_at=us_to_dt(r.published_us),
        document=r.document,
    )
