"""The store's meters: adding, loading, updating, key rollover, listing, customers.

`MeterStore` keeps one row per meter with its opaque key material and chain state; the chain
state and the rollover state only move by compare-and-set, so concurrent ingesters cannot
overwrite each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update
from sqlalchemy.exc import IntegrityError

from sealmeter.store import _schema as s
from sealmeter.store._base import StoreBase
from sealmeter.store._convert import dur_to_s, to_us
from sealmeter.store._queries import clamp_limit
from sealmeter.store._records import MeterRecord, MeterState, Page
from sealmeter.store._rows import NewMeter, StoredMeter, meter_record, stored_meter
from sealmeter.store.errors import AlreadyExists, NotFound

__all__ = ["MeterStore"]


class MeterStore(StoreBase):
    """`Store`'s operations on meters and customers (see the module docstring)."""

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

    def load_meters(self, meter_ids: Sequence[str]) -> dict[str, StoredMeter]:
        """The stored state of each of `meter_ids` that exists."""
        if not meter_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(s.meters).where(s.meters.c.meter_id.in_(sorted(set(meter_ids))))
            ).all()
        return {r.meter_id: stored_meter(r) for r in rows}

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
            version = _next_key_version(conn, meter_id, int(row.key_version), public_keys, at)
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
                version = _next_key_version(conn, meter_id, int(row.key_version), public_keys, at)
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
        limit = clamp_limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit + 1)).all()
        items = tuple(meter_record(r) for r in rows[:limit])
        nxt = items[-1].meter_id if len(rows) > limit and items else None
        return Page(items, nxt)

    def all_meters(self) -> list[MeterRecord]:
        """Every meter (fleet monitoring walks them all)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.meters).order_by(s.meters.c.meter_id)).all()
        return [meter_record(r) for r in rows]

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
        return [meter_record(r) for r in rows]


def _next_key_version(
    conn: Connection, meter_id: str, current: int, public_keys: bytes, at: datetime
) -> int:
    """Retire key version `current` of the meter at `at` and install `public_keys` as the
    next version, valid from `at` (inside the caller's transaction); returns that version."""
    when = to_us(at)
    conn.execute(
        update(s.meter_keys)
        .where(and_(s.meter_keys.c.meter_id == meter_id, s.meter_keys.c.key_version == current))
        .values(retired_us=when)
    )
    conn.execute(
        s.meter_keys.insert().values(
            meter_id=meter_id, key_version=current + 1, public_keys=public_keys, valid_from_us=when
        )
    )
    return current + 1
