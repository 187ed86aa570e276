"""Rows of the head-end database as the store's records, and the store's own meter records.

`NewMeter`, `StoredMeter` and `PowerEvent` are what `Store` takes and gives besides the
records of `sealmeter.store._records`; the functions turn one SQLAlchemy row of a table into
its record (times from µs integers, durations from seconds, decimals from text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from sealmeter.store._convert import opt_us_to_dt, registers_from_json, s_to_dur, us_to_dt
from sealmeter.store._records import (
    AlertKind,
    AlertRecord,
    EnableCodeRecord,
    MeterRecord,
    MeterState,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
    ScheduleRecord,
    Severity,
)

__all__ = [
    "METER_COLUMNS",
    "NewMeter",
    "PowerEvent",
    "StoredMeter",
    "alert_record",
    "enable_code_record",
    "meter_record",
    "registration_record",
    "rejection_record",
    "schedule_record",
    "stored_meter",
    "stored_meter_from_values",
]


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


def meter_record(r: Row[Any]) -> MeterRecord:
    """A meters row as a `MeterRecord`."""
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


def stored_meter(r: Row[Any]) -> StoredMeter:
    """A meters row with its key material, as ingest needs it."""
    return StoredMeter(meter_record(r), r.public_keys, r.chain_state, r.pending_command, r.rollover)


_STATES = {state.value: state for state in MeterState}
_EPOCH = us_to_dt(0)


def stored_meter_from_values(values: Sequence[Any]) -> StoredMeter:
    """`stored_meter` of a meters row given as its values in the table's column order.

    The batch read of ingest (one row per meter of a group) reads the row by position:
    a SQLAlchemy `Row`'s attribute access by name costs more than everything else here.
    Gives the same record as `stored_meter` (a test proves it on both databases).
    """
    (
        meter_id,
        customer_ref,
        suite,
        feeder,
        schedule_id,
        credit_frame_s,
        report_interval_s,
        state,
        key_version,
        public_keys,
        provisioned_us,
        last_seq,
        chain_state,
        last_seen_us,
        blocked_reason,
        pending_command,
        rollover,
    ) = values
    record = MeterRecord(
        meter_id=meter_id,
        customer_ref=customer_ref,
        suite=suite,
        feeder=feeder,
        schedule_id=schedule_id,
        credit_frame=timedelta(seconds=credit_frame_s),
        report_interval=timedelta(seconds=report_interval_s),
        state=_STATES[state],
        key_version=key_version,
        provisioned_at=_EPOCH + timedelta(microseconds=provisioned_us),
        last_seq=last_seq,
        last_seen=None if last_seen_us is None else _EPOCH + timedelta(microseconds=last_seen_us),
        blocked_reason=blocked_reason,
    )
    return StoredMeter(record, public_keys, chain_state, pending_command, rollover)


METER_COLUMNS = (
    "meter_id",
    "customer_ref",
    "suite",
    "feeder",
    "schedule_id",
    "credit_frame_s",
    "report_interval_s",
    "state",
    "key_version",
    "public_keys",
    "provisioned_us",
    "last_seq",
    "chain_state",
    "last_seen_us",
    "blocked_reason",
    "pending_command",
    "rollover",
)
"""The meters columns in the order `stored_meter_from_values` takes them."""


def registration_record(r: Row[Any]) -> RegistrationRecord:
    """A registrations row as a `RegistrationRecord`."""
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


def rejection_record(r: Row[Any]) -> RejectionRecord:
    """A rejections row as a `RejectionRecord`."""
    return RejectionRecord(
        rejection_id=r.rejection_id,
        received_at=us_to_dt(r.received_us),
        meter_id=r.meter_id,
        reason=RejectionReason(r.reason),
        detail=r.detail,
        size=r.size,
        digest=r.digest,
    )


def enable_code_record(r: Row[Any]) -> EnableCodeRecord:
    """An enable_codes row as an `EnableCodeRecord`."""
    return EnableCodeRecord(
        code_id=r.code_id,
        meter_id=r.meter_id,
        acked_seq=r.acked_seq,
        nonce=r.nonce,
        issued_at=us_to_dt(r.issued_us),
        expires_at=us_to_dt(r.expires_us),
        credit_frame=s_to_dur(r.credit_frame_s),
    )


def alert_record(r: Row[Any]) -> AlertRecord:
    """An alerts row as an `AlertRecord`."""
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


def schedule_record(r: Row[Any]) -> ScheduleRecord:
    """A schedules row as a `ScheduleRecord`."""
    return ScheduleRecord(
        schedule_id=r.schedule_id,
        version=r.version,
        valid_from=us_to_dt(r.valid_from_us),
        valid_to=opt_us_to_dt(r.valid_to_us),
        published_at=us_to_dt(r.published_us),
        document=r.document,
    )
