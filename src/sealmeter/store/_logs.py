"""The store's logs: registrations, uplinks, rejections, enable codes, alerts, power events.

`LogStore` reads the append-only logs the ingest path writes (`write_batch`), lists them with
filters and pagination, and keeps the alert and power-event workflow (raise, acknowledge,
classify).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select, update

from sealmeter.store import _schema as s
from sealmeter.store._base import StoreBase
from sealmeter.store._batch import NewAlert, alert_row, insert_ignore
from sealmeter.store._convert import to_us, us_to_dt
from sealmeter.store._queries import filtered_page
from sealmeter.store._records import (
    AlertKind,
    AlertRecord,
    EnableCodeRecord,
    Page,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
)
from sealmeter.store._rows import (
    PowerEvent,
    alert_record,
    enable_code_record,
    registration_record,
    rejection_record,
)
from sealmeter.store.errors import NotFound

__all__ = ["LogStore"]


class LogStore(StoreBase):
    """`Store`'s operations on logs, alerts and power events (see the module docstring)."""

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
        return filtered_page(
            self.engine,
            t,
            t.c.reg_id,
            registration_record,
            equal=[(t.c.meter_id, meter_id)],
            where=[] if meter_ids is None else [t.c.meter_id.in_(list(meter_ids))],
            window=(t.c.time_us, since, until),
            cursor=cursor,
            limit=limit,
        )

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
        return [registration_record(r) for r in rows]

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
        return filtered_page(
            self.engine,
            t,
            t.c.rejection_id,
            rejection_record,
            equal=[
                (t.c.meter_id, meter_id),
                (t.c.reason, None if reason is None else reason.value),
            ],
            window=(t.c.received_us, since, until),
            cursor=cursor,
            limit=limit,
        )

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
        return filtered_page(
            self.engine,
            t,
            t.c.code_id,
            enable_code_record,
            equal=[(t.c.meter_id, meter_id)],
            window=(t.c.issued_us, since, until),
            cursor=cursor,
            limit=limit,
        )

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
        return filtered_page(
            self.engine,
            t,
            t.c.alert_id,
            alert_record,
            equal=[(t.c.meter_id, meter_id), (t.c.kind, None if kind is None else kind.value)],
            where=[t.c.acknowledged_us.is_(None)] if open_only else [],
            window=(t.c.occurred_us, since, until),
            cursor=cursor,
            limit=limit,
        )

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
        return alert_record(row)

    def last_alert_id(self) -> int:
        """The highest alert id so far (0 when there is none)."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(s.alerts.c.alert_id))).scalar_one()
        return int(value or 0)

    def open_tamper_meters(self) -> set[str]:
        """Meters with an unacknowledged tamper alert (a suspected clone counts as one)."""
        t = s.alerts
        kinds = (AlertKind.TAMPER.value, AlertKind.CLONE_SUSPECTED.value)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.meter_id)
                .where(and_(t.c.kind.in_(kinds), t.c.acknowledged_us.is_(None)))
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
