"""The store's rate schedules: published versions and their delivery to meters.

`ScheduleStore` keeps each published schedule version once, and per meter whether a version
is planned, sent in a downlink, or confirmed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from sealmeter.store import _schema as s
from sealmeter.store._base import StoreBase
from sealmeter.store._batch import insert_ignore
from sealmeter.store._convert import opt_us_to_dt, to_us
from sealmeter.store._records import ScheduleDelivery, ScheduleRecord
from sealmeter.store._rows import schedule_record
from sealmeter.store.errors import AlreadyExists

__all__ = ["ScheduleStore"]


class ScheduleStore(StoreBase):
    """`Store`'s operations on rate schedules (see the module docstring)."""

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
        return [schedule_record(r) for r in rows]

    def get_schedule(self, schedule_id: str, version: int) -> ScheduleRecord | None:
        """One published schedule version, or None."""
        t = s.schedules
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(and_(t.c.schedule_id == schedule_id, t.c.version == version))
            ).first()
        return None if row is None else schedule_record(row)

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
