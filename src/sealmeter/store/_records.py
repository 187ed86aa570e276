"""Records the head-end stores and hands out: meters, registrations, alerts, bills.

These frozen dataclasses are the facade's vocabulary; the REST doors and the CLI render them.
Money is `decimal.Decimal`, instants are aware UTC `datetime`s, durations are `timedelta`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

__all__ = [
    "AlertKind",
    "AlertRecord",
    "Bill",
    "BillLine",
    "EnableCodeRecord",
    "FleetState",
    "FleetSummary",
    "Health",
    "MeterRecord",
    "MeterState",
    "Page",
    "Provisioning",
    "RegisterReading",
    "RegistrationRecord",
    "RejectionReason",
    "RejectionRecord",
    "ScheduleDelivery",
    "ScheduleRecord",
    "Severity",
    "walk_pages",
]

T = TypeVar("T")


class MeterState(enum.Enum):
    """A meter's lifecycle at the head-end (transitions in `headend._lifecycle`)."""

    PROVISIONED = "provisioned"  # keys registered, never heard from
    ACTIVE = "active"  # reporting; enable codes are issued
    BLOCKED = "blocked"  # operator blocked it; no enable codes, a block command is sent
    DECOMMISSIONED = "decommissioned"  # removed from service; every uplink is rejected


class FleetState(enum.Enum):
    """How a meter looks from the fleet view at a given instant (dashboard categories)."""

    NEVER_SEEN = "never_seen"
    REPORTING = "reporting"
    SILENT = "silent"  # past its expected reporting window
    EXPECTED_BLOCKED = "expected_blocked"  # past its credit frame: the meter has blocked itself
    BLOCKED = "blocked"  # blocked by an operator
    TAMPERED = "tampered"  # an unacknowledged tamper (or clone_suspected) alert is open
    DECOMMISSIONED = "decommissioned"


class AlertKind(enum.Enum):
    """What an alert is about."""

    SILENT = "silent"
    EXPECTED_BLOCKED = "expected_blocked"
    TAMPER = "tamper"
    OUTAGE = "outage"  # many meters of one feeder lost power at once
    SUSPECTED_REMOVAL = "suspected_removal"  # a lone power loss
    CHARGE_MISMATCH = "charge_mismatch"  # the meter's charge differs from the recomputed one
    SEQUENCE_GAP = "sequence_gap"
    REJECTED_UPLINK = "rejected_uplink"  # forged/replayed/... data claiming to be this meter
    SCHEDULE_UNKNOWN = "schedule_unknown"  # a registration names a schedule we never published
    ENABLE_CODE_WITHHELD = "enable_code_withheld"  # authentic data, but not consistent
    CLONE_SUSPECTED = "clone_suspected"  # two devices sign as this meter: a clone or a leak


class Severity(enum.Enum):
    """How urgent an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class RejectionReason(enum.Enum):
    """Why an uplink was refused (precise, for the operator; the sender learns nothing)."""

    MALFORMED = "malformed"
    UNKNOWN_METER = "unknown_meter"
    DECOMMISSIONED = "decommissioned"
    WRONG_RECIPIENT = "wrong_recipient"
    SUITE_MISMATCH = "suite_mismatch"  # downgrade or wrong suite for this meter
    BAD_SIGNATURE = "bad_signature"
    DECRYPT_FAILED = "decrypt_failed"
    BAD_CHAIN = "bad_chain"  # MAC chain does not verify
    SEQUENCE_GAP = "sequence_gap"  # registrations missing before this one (ask for a resend)
    REPLAY = "replay"  # an old sequence number with different content, or a reused nonce
    REORDERED = "reordered"
    DUPLICATE_CONFLICT = "duplicate_conflict"  # same sequence number, different registration
    INTERNAL = "internal"  # the head-end failed; nothing was stored


@dataclass(frozen=True, slots=True)
class Provisioning:
    """What an operator supplies to register a meter (keys come from the factory's key exchange).

    `public_keys` is the meter's public key bundle as the protocol core encodes it; `chain_key`
    is the initial key of the meter's MAC chain (secret, shared at manufacture).
    """

    meter_id: str
    customer_ref: str
    suite: str
    public_keys: bytes
    chain_key: bytes
    feeder: str = ""
    schedule_id: str | None = None
    credit_frame: timedelta = timedelta(days=7)
    report_interval: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class MeterRecord:
    """One provisioned meter as the head-end sees it."""

    meter_id: str
    customer_ref: str
    suite: str
    feeder: str
    schedule_id: str | None
    credit_frame: timedelta
    report_interval: timedelta
    state: MeterState
    key_version: int
    provisioned_at: datetime
    last_seq: int  # highest sequence number stored (0 = none yet)
    last_seen: datetime | None  # when the last authentic uplink arrived
    blocked_reason: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterReading:
    """Usage and charge of one tariff register (band) in a registration."""

    register: str  # OBIS code or band name, as the protocol carries it
    usage: int  # units (Wh for electricity)
    charge: Decimal  # the meter's own charge
    expected: Decimal | None = None  # the head-end's recomputed charge (None: unknown schedule)


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    """One stored registration (exactly once per meter and sequence number)."""

    meter_id: str
    seq: int
    kind: str
    start: datetime | None  # start of the segment the registration closes, if carried
    time: datetime  # the meter's time t_j of the registration
    schedule_id: str
    schedule_version: int
    registers: tuple[RegisterReading, ...]
    charge: Decimal  # the meter's total charge
    expected_charge: Decimal | None  # recomputed by the head-end (None: schedule unknown)
    auth_code: bytes
    received_at: datetime

    @property
    def usage(self) -> int:
        """Total usage over all registers."""
        return sum(r.usage for r in self.registers)

    @property
    def reconciled(self) -> bool:
        """True when the head-end's recomputed charge equals the meter's."""
        return self.expected_charge is not None and self.expected_charge == self.charge


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert raised for the operator."""

    alert_id: int
    kind: AlertKind
    severity: Severity
    meter_id: str | None
    feeder: str | None
    detail: str
    occurred_at: datetime
    raised_at: datetime
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RejectionRecord:
    """An uplink the head-end refused, with the precise reason."""

    rejection_id: int
    received_at: datetime
    meter_id: str | None
    reason: RejectionReason
    detail: str
    size: int
    digest: str  # SHA-256 of the uplink bytes, hex


@dataclass(frozen=True, slots=True)
class EnableCodeRecord:
    """One issued enable code (logged before it is sent)."""

    code_id: int
    meter_id: str
    acked_seq: int
    nonce: bytes
    issued_at: datetime
    expires_at: datetime
    credit_frame: timedelta


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A published rate schedule version."""

    schedule_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    published_at: datetime
    document: str  # the schedule file as published (JSON)


@dataclass(frozen=True, slots=True)
class ScheduleDelivery:
    """Delivery of a schedule version to one meter: sent, then confirmed by the meter's status."""

    meter_id: str
    schedule_id: str
    version: int
    sent_at: datetime | None
    confirmed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BillLine:
    """Usage and charge of one register over a bill's period."""

    register: str
    usage: int
    charge: Decimal


@dataclass(frozen=True, slots=True)
class Bill:
    """A customer's bill for a period, recomputed from stored registrations."""

    customer_ref: str
    meter_ids: tuple[str, ...]
    period_start: datetime
    period_end: datetime
    lines: tuple[BillLine, ...]
    total_usage: int
    standing_charge: Decimal  # prorated fixed charge of the schedules over the period
    total: Decimal  # the head-end's recomputed charge: rounded lines plus standing charge
    meter_total: Decimal  # what the meters charged for usage (rounded like the lines)
    registrations: int
    mismatches: int  # registrations whose charges differ
    currency: str


@dataclass(frozen=True, slots=True)
class FleetSummary:
    """Number of meters in each fleet state at `at`."""

    at: datetime
    counts: dict[FleetState, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Health:
    """Liveness of the head-end: store reachable, keys loaded, a few counters."""

    ok: bool
    store: str  # dialect name ("sqlite", "postgresql")
    detail: str
    meters: int
    registrations: int
    rejections: int
    open_alerts: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing; pass `next_cursor` back as `cursor` for the next page."""

    items: tuple[T, ...]
    next_cursor: str | None


def walk_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a cursor-paged listing: `fetch(cursor)` is called page after page."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
