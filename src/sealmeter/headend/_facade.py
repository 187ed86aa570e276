"""`HeadEnd`: the security box of the utility's server, as one object.

It composes the store, the box's own keys, the protocol core (verify, decrypt, chain check,
seal) and the tariff core (recompute charges). Meters reach it through `handle_uplink`; the
REST doors and the CLI use its operator API (provision, list, bill, publish, block, watch).
Every method that needs "now" takes it, or asks the `Clock` the head-end was built with.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sealmeter.clock import Clock, SystemClock, ensure_utc
from sealmeter.headend._billing import compute_bill, customer_refs
from sealmeter.headend._export import export_meter
from sealmeter.headend._ingest import Ingestor
from sealmeter.headend._keys import BoxKeys
from sealmeter.headend._lifecycle import MeterEvent, next_state
from sealmeter.headend._policy import Policy
from sealmeter.headend._rollover import (
    RolloverState,
    request_renewal,
    roll_box_keys,
    rollover_state,
)
from sealmeter.headend._schedules import parse_schedule
from sealmeter.headend._sealing import seal_secret, seal_state
from sealmeter.headend._watch import fleet_summary, watch_fleet
from sealmeter.headend.errors import HeadEndError, ScheduleError
from sealmeter.protocol.chain import CHAIN_KEY_SIZE, HeadEndChain
from sealmeter.protocol.errors import ProtocolUsageError
from sealmeter.protocol.keys import SYMMETRIC_KEY_SIZE, PublicKeys, Suite
from sealmeter.store import (
    ID_SIZE,
    AlertKind,
    AlertRecord,
    Bill,
    EnableCodeRecord,
    FleetSummary,
    Health,
    MeterRecord,
    MeterState,
    NewMeter,
    Page,
    Provisioning,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
    ScheduleDelivery,
    ScheduleRecord,
    Store,
    is_storable_id,
)
from sealmeter.store.errors import StoreError

__all__ = ["HeadEnd"]


class HeadEnd:
    """The head-end: ingest entry point for meters and operator API for people and doors."""

    def __init__(
        self,
        store: Store,
        keys: BoxKeys,
        *,
        clock: Clock | None = None,
        policy: Policy | None = None,
    ) -> None:
        """Serve with `store` (migrated) and the box's `keys`; `clock` defaults to the system's."""
        self.store = store
        self.keys = keys
        self.clock: Clock = clock or SystemClock()
        self.policy = policy or Policy()
        self._ingestor = Ingestor(store, keys, self.policy)

    @classmethod
    def open(
        cls,
        url: str,
        keys: BoxKeys,
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        policy: Policy | None = None,
    ) -> HeadEnd:
        """Open (and migrate) the database at `url` and serve with `keys`."""
        return cls(Store.open(url, schema=schema), keys, clock=clock, policy=policy)

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    def _now(self, now: datetime | None) -> datetime:
        return ensure_utc(now) if now is not None else self.clock.now()

    # ------------------------------------------------------------------ meters talk to this
    def handle_uplink(self, data: bytes, now: datetime | None = None) -> bytes:
        """Ingest one uplink; return the sealed downlink, or the fixed opaque rejection answer.

        Verify, decrypt, check sequence and MAC chain, store exactly once, log the enable code,
        then seal the answer. The precise reason for a rejection goes to the rejection log.
        """
        return self._ingestor.handle([data], self._now(now))[0]

    def handle_uplinks(self, batch: Sequence[bytes], now: datetime | None = None) -> list[bytes]:
        """Ingest several uplinks in one database transaction (the batched hot path).

        Answers are in the order of `batch`; semantics per uplink as `handle_uplink`.
        """
        return self._ingestor.handle(list(batch), self._now(now))

    # ------------------------------------------------------------------ provisioning
    def provision(self, request: Provisioning, now: datetime | None = None) -> MeterRecord:
        """Register a meter with its public keys, pinned suite, customer, schedule, credit frame."""
        at = self._now(now)
        suite = _suite(request.suite)
        stored_keys = self._stored_keys(request.meter_id, request.public_keys, suite)
        if len(request.chain_key) != CHAIN_KEY_SIZE:
            raise HeadEndError(
                f"the chain key of meter {request.meter_id!r} must be {CHAIN_KEY_SIZE} bytes "
                f"(it is {len(request.chain_key)}); use the K_0 written at manufacture"
            )
        if not is_storable_id(request.meter_id):
            raise HeadEndError(
                f"a meter id must be 1 to {ID_SIZE} printable characters, not "
                f"{request.meter_id[:80]!r}"
            )
        if request.feeder and not is_storable_id(request.feeder):
            raise HeadEndError(
                f"a feeder must be empty or 1 to {ID_SIZE} printable characters, not "
                f"{request.feeder[:80]!r}"
            )
        if not is_storable_id(request.customer_ref, 128):
            raise HeadEndError(
                "a customer reference must be 1 to 128 printable characters, not "
                f"{request.customer_ref[:80]!r}"
            )
        if request.schedule_id is not None and not is_storable_id(request.schedule_id):
            raise ScheduleError(f"schedule {request.schedule_id[:80]!r} is not published")
        if request.credit_frame <= timedelta(0) or request.report_interval <= timedelta(0):
            raise HeadEndError("credit frame and report interval must be positive durations")
        if request.schedule_id is not None and not self.store.list_schedules(request.schedule_id):
            raise ScheduleError(
                f"schedule {request.schedule_id!r} is not published; publish it first"
            )
        record = MeterRecord(
            meter_id=request.meter_id,
            customer_ref=request.customer_ref,
            suite=suite.value,
            feeder=request.feeder,
            schedule_id=request.schedule_id,
            credit_frame=request.credit_frame,
            report_interval=request.report_interval,
            state=MeterState.PROVISIONED,
            key_version=1,
            provisioned_at=at,
            last_seq=0,
            last_seen=None,
        )
        chain = seal_state(
            self.keys, request.meter_id, HeadEndChain.start(request.chain_key).to_bytes()
        )
        self.store.add_meter(NewMeter(record, stored_keys, chain))
        if request.schedule_id is not None:
            self._plan_latest(request.schedule_id, [request.meter_id])
        return self.store.get_meter(request.meter_id).record

    def roll_keys(
        self, meter_id: str, public_keys: bytes, now: datetime | None = None
    ) -> MeterRecord:
        """Key rollover: replace the meter's public keys (same suite); old ones are retired."""
        meter = self.store.get_meter(meter_id).record
        next_state(meter_id, meter.state, MeterEvent.ROLL_KEYS)
        stored_keys = self._stored_keys(meter_id, public_keys, _suite(meter.suite))
        self.store.rollover_key(meter_id, stored_keys, self._now(now))
        return self.store.get_meter(meter_id).record

    def renew_meter_keys(self, meter_id: str, now: datetime | None = None) -> RolloverState:
        """Order the meter to renew its own keys in its next answers (docs/headend.md)."""
        return request_renewal(self, meter_id, self._now(now))

    def roll_box_keys(self, suite: Suite, now: datetime | None = None) -> BoxKeys:
        """New box keys for `suite`, announced to every meter; returns them to save."""
        return roll_box_keys(self, suite, self._now(now))

    def rollover(self, meter_id: str) -> RolloverState:
        """The key rollover under way for a meter (`idle` when none)."""
        return rollover_state(self.store.get_meter(meter_id))

    def use_keys(self, keys: BoxKeys) -> None:
        """Serve with `keys` from now on (after a box key rollover)."""
        self.keys = self._ingestor.keys = keys

    def _stored_keys(self, meter_id: str, data: bytes, suite: Suite) -> bytes:
        """What the store keeps of a meter's keys: public keys, or a sealed shared secret."""
        if suite is Suite.SYMMETRIC:
            if len(data) != SYMMETRIC_KEY_SIZE:
                raise HeadEndError(
                    f"a symmetric-suite meter is provisioned with its {SYMMETRIC_KEY_SIZE}-byte "
                    f"shared secret (got {len(data)} bytes)"
                )
            return seal_secret(self.keys, meter_id, data)
        return _public_keys(data, suite).to_bytes()

    def decommission(self, meter_id: str, now: datetime | None = None) -> MeterRecord:
        """Take a meter out of service; its later uplinks are rejected, its data stays."""
        meter = self.store.get_meter(meter_id).record
        state = next_state(meter_id, meter.state, MeterEvent.DECOMMISSION)
        self.store.update_meter(meter_id, state=state.value, pending_command=None)
        return self.store.get_meter(meter_id).record

    def block(self, meter_id: str, reason: str, now: datetime | None = None) -> MeterRecord:
        """Block a meter: no more enable codes; its next downlink carries a block command."""
        meter = self.store.get_meter(meter_id).record
        state = next_state(meter_id, meter.state, MeterEvent.BLOCK)
        self.store.update_meter(
            meter_id, state=state.value, blocked_reason=reason or "blocked by operator"
        )
        return self.store.get_meter(meter_id).record

    def unblock(self, meter_id: str, now: datetime | None = None) -> MeterRecord:
        """Lift a block: enable codes resume; its next downlink carries an unblock command."""
        meter = self.store.get_meter(meter_id).record
        state = next_state(meter_id, meter.state, MeterEvent.UNBLOCK)
        self.store.update_meter(
            meter_id, state=state.value, blocked_reason=None, pending_command="unblock"
        )
        return self.store.get_meter(meter_id).record

    def assign_schedule(self, meter_id: str, schedule_id: str) -> MeterRecord:
        """Put a meter on a published schedule; its newest version is queued for delivery."""
        self.store.get_meter(meter_id)
        if not self.store.list_schedules(schedule_id):
            raise ScheduleError(f"schedule {schedule_id!r} is not published; publish it first")
        self.store.update_meter(meter_id, schedule_id=schedule_id)
        self._plan_latest(schedule_id, [meter_id])
        return self.store.get_meter(meter_id).record

    # ------------------------------------------------------------------ reading
    def get_meter(self, meter_id: str) -> MeterRecord:
        """One meter (`NotFound` if unknown)."""
        return self.store.get_meter(meter_id).record

    def meter_public_keys(self, meter_id: str) -> bytes:
        """The meter's current public keys as exported bytes (for a customer's bill check)."""
        stored = self.store.get_meter(meter_id)
        if stored.record.suite == Suite.SYMMETRIC.value:
            raise HeadEndError(f"meter {meter_id!r} uses the symmetric suite: it has no public key")
        return stored.public_keys

    def list_meters(
        self, *, state: MeterState | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[MeterRecord]:
        """Meters by id, a page at a time."""
        return self.store.list_meters(state=state, cursor=cursor, limit=limit)

    def list_registrations(
        self,
        *,
        meter_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[RegistrationRecord]:
        """Stored registrations, filtered by meter and by registration time."""
        return self.store.list_registrations(
            meter_id=meter_id, since=since, until=until, cursor=cursor, limit=limit
        )

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
        """Alerts, filtered by meter, kind, open state and time."""
        return self.store.list_alerts(
            meter_id=meter_id,
            kind=kind,
            open_only=open_only,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )

    def acknowledge_alert(self, alert_id: int, now: datetime | None = None) -> AlertRecord:
        """Mark an alert as seen by an operator."""
        return self.store.acknowledge_alert(alert_id, self._now(now))

    def resolve_mismatches(self, meter_id: str, now: datetime | None = None) -> int:
        """Settle a meter's charge mismatches: enable codes flow again from its next uplink.

        While a meter has an unacknowledged `charge_mismatch` alert, its authentic uplinks are
        stored and answered, but without an enable code (an `enable_code_withheld` alert says
        why). After the operator has investigated (and, if the schedule was wrong, published
        a corrected version), this acknowledges every open `charge_mismatch` and
        `enable_code_withheld` alert of the meter; returns how many mismatch alerts it closed.
        """
        at = self._now(now)
        self.store.get_meter(meter_id)  # NotFound for an unknown meter
        closed = self.store.resolve_alerts(meter_id, AlertKind.CHARGE_MISMATCH, at)
        self.store.resolve_alerts(meter_id, AlertKind.ENABLE_CODE_WITHHELD, at)
        return closed

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
        """The rejection log with precise reasons."""
        return self.store.list_rejections(
            meter_id=meter_id, reason=reason, since=since, until=until, cursor=cursor, limit=limit
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
        """The log of every issued enable code."""
        return self.store.list_enable_codes(
            meter_id=meter_id, since=since, until=until, cursor=cursor, limit=limit
        )

    # ------------------------------------------------------------------ schedules
    def publish_schedule(
        self,
        document: str,
        now: datetime | None = None,
        *,
        meter_ids: Sequence[str] | None = None,
    ) -> ScheduleRecord:
        """Publish a rate schedule file (the tariff core's TOML or JSON); queue it for its meters.

        Delivery goes to every meter on that schedule id (plus `meter_ids`, which are moved
        onto it). A version not newer than the newest published one is refused.
        """
        at = self._now(now)
        parsed = parse_schedule(document)
        existing = self.store.list_schedules(parsed.schedule_id)
        if existing and existing[-1].version >= parsed.version:
            raise ScheduleError(
                f"schedule {parsed.schedule_id!r} version {parsed.version} is not newer than "
                f"the published version {existing[-1].version}; raise the version"
            )
        rec = ScheduleRecord(
            parsed.schedule_id,
            parsed.version,
            parsed.valid_from,
            parsed.valid_to,
            at,
            parsed.canonical,
        )
        self.store.add_schedule(rec)
        for meter_id in meter_ids or ():
            self.store.get_meter(meter_id)
            self.store.update_meter(meter_id, schedule_id=parsed.schedule_id)
        targets = [m.meter_id for m in self.store.all_meters() if m.schedule_id == rec.schedule_id]
        self.store.plan_deliveries(rec.schedule_id, rec.version, targets)
        return rec

    def list_schedules(self, schedule_id: str | None = None) -> list[ScheduleRecord]:
        """Published schedule versions."""
        return self.store.list_schedules(schedule_id)

    def schedule_deliveries(
        self,
        *,
        schedule_id: str | None = None,
        meter_id: str | None = None,
        pending_only: bool = False,
    ) -> list[ScheduleDelivery]:
        """Delivery tracking: which meter was sent and has confirmed which schedule version."""
        return self.store.list_deliveries(
            schedule_id=schedule_id, meter_id=meter_id, pending_only=pending_only
        )

    def _plan_latest(self, schedule_id: str, meter_ids: list[str]) -> None:
        versions = self.store.list_schedules(schedule_id)
        if versions:
            self.store.plan_deliveries(schedule_id, versions[-1].version, meter_ids)

    # ------------------------------------------------------------------ billing
    def bill(self, customer_ref: str, period_start: datetime, period_end: datetime) -> Bill:
        """One customer's bill: registrations stamped in (start, end], recomputed, reconciled."""
        return compute_bill(
            self.store, customer_ref, ensure_utc(period_start), ensure_utc(period_end)
        )

    def bills(self, period_start: datetime, period_end: datetime) -> list[Bill]:
        """Bills of every customer for the period, by customer reference."""
        return [self.bill(ref, period_start, period_end) for ref in customer_refs(self.store)]

    def export_registrations(
        self, meter_id: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> bytes:
        """A meter's signed uplinks with their disclosed keys, for `sealmeter verify-bill`."""
        return export_meter(self.store, self.keys, meter_id, since, until)

    # ------------------------------------------------------------------ the fleet
    def watch(self, now: datetime | None = None) -> list[AlertRecord]:
        """Run the fleet checks (silence, credit frame, outages/removals); return new alerts."""
        return watch_fleet(self.store, self.policy, self._now(now))

    def fleet(self, now: datetime | None = None) -> FleetSummary:
        """How many meters are reporting, silent, expected-blocked, blocked, tampered."""
        return fleet_summary(self.store, self.policy, self._now(now))

    def health(self) -> Health:
        """Whether the store answers, with a few counters (for `/health` and `/metrics`)."""
        try:
            counts = self.store.counts()
        except StoreError as exc:
            return Health(False, self.store.dialect, str(exc), 0, 0, 0, 0)
        return Health(
            ok=True,
            store=self.store.dialect,
            detail="ok",
            meters=counts["meters"],
            registrations=counts["registrations"],
            rejections=counts["rejections"],
            open_alerts=counts["open_alerts"],
        )

    def metrics(self) -> dict[str, int]:
        """Counters for monitoring (row counts and this process's ingest counters)."""
        out = dict(self.store.counts())
        out.update(self._ingestor.counters)
        return out


def _suite(name: str) -> Suite:
    try:
        return Suite.from_name(name)
    except ProtocolUsageError as exc:
        raise HeadEndError(str(exc)) from None


def _public_keys(data: bytes, suite: Suite) -> PublicKeys:
    try:
        pub = PublicKeys.from_bytes(data)
    except ProtocolUsageError as exc:
        raise HeadEndError(f"the meter's public keys are unusable: {exc}") from None
    if pub.suite is not suite:
        raise HeadEndError(
            f"the public keys are for suite {pub.suite.value}, but the meter is pinned to "
            f"{suite.value}; provision with matching keys"
        )
    return pub


def new_chain_key() -> bytes:
    """A fresh initial chain key K_0 (for tests and the factory simulation)."""
    return secrets.token_bytes(CHAIN_KEY_SIZE)
