"""The API's JSON shapes (pydantic models), and their conversion from head-end records.

Money travels as a decimal string (exact, e.g. ``"12.3400"``), instants as ISO 8601 UTC,
durations as whole seconds, binary values as lower-case hex. Every error, everywhere, is an
`ErrorBody`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sealmeter.store import (
    AlertRecord,
    Bill,
    EnableCodeRecord,
    FleetSummary,
    Health,
    MeterRecord,
    Page,
    RegistrationRecord,
    RejectionRecord,
    ScheduleDelivery,
    ScheduleRecord,
)
from sealmeter.web._tokens import TokenInfo

__all__ = [
    "AlertOut",
    "BillLineOut",
    "BillOut",
    "BlockIn",
    "EnableCodeOut",
    "ErrorBody",
    "FleetOut",
    "HealthOut",
    "IssuedTokenOut",
    "MeterOut",
    "PageOut",
    "ProvisionIn",
    "RegisterOut",
    "RegistrationOut",
    "RejectionOut",
    "ScheduleDeliveryOut",
    "ScheduleIn",
    "ScheduleOut",
    "TokenIn",
    "TokenOut",
]

T = TypeVar("T")
R = TypeVar("R")

_STRICT = ConfigDict(extra="forbid")


def _money(value: Decimal) -> str:
    return format(value, "f")


class ErrorBody(BaseModel):
    """The one error body of the API: a stable code for programs and a sentence for people."""

    error: str = Field(description="Stable machine-readable code, e.g. 'not_found'")
    detail: str = Field(description="What was wrong and what to do about it")
    fields: list[dict[str, Any]] | None = Field(
        default=None, description="For 'invalid_request': each offending field and why"
    )


class PageOut(BaseModel, Generic[T]):
    """One page of a listing; pass `next_cursor` back as `cursor` to get the next page."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last page")

    @classmethod
    def of(cls, page: Page[R], convert: Callable[[R], T]) -> PageOut[T]:
        """The API form of a store page, each item turned into its schema by `convert`."""
        return cls(items=[convert(x) for x in page.items], next_cursor=page.next_cursor)


class MeterOut(BaseModel):
    """A provisioned meter and how it looks to the fleet view."""

    meter_id: str
    customer_ref: str
    suite: str
    feeder: str
    schedule_id: str | None
    credit_frame_s: int
    report_interval_s: int
    state: str = Field(description="Lifecycle: provisioned, active, blocked, decommissioned")
    fleet_state: str | None = Field(
        default=None,
        description="Fleet view now: never_seen, reporting, silent, expected_blocked, blocked, "
        "tampered, decommissioned",
    )
    key_version: int
    provisioned_at: datetime
    last_seq: int
    last_seen: datetime | None
    blocked_reason: str | None

    @classmethod
    def of(cls, record: MeterRecord, fleet_state: str | None = None) -> MeterOut:
        """Convert a head-end `MeterRecord`."""
        return cls(
            meter_id=record.meter_id,
            customer_ref=record.customer_ref,
            suite=record.suite,
            feeder=record.feeder,
            schedule_id=record.schedule_id,
            credit_frame_s=int(record.credit_frame.total_seconds()),
            report_interval_s=int(record.report_interval.total_seconds()),
            state=record.state.value,
            fleet_state=fleet_state,
            key_version=record.key_version,
            provisioned_at=record.provisioned_at,
            last_seq=record.last_seq,
            last_seen=record.last_seen,
            blocked_reason=record.blocked_reason,
        )


class ProvisionIn(BaseModel):
    """A meter to provision: ids, keys from the factory's key exchange, tariff and frames."""

    model_config = _STRICT

    meter_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
    customer_ref: str = Field(min_length=1, max_length=128)
    suite: str = Field(min_length=1, max_length=32)
    public_keys_hex: str = Field(
        min_length=2, max_length=8192, pattern=r"^([0-9a-fA-F]{2})+$", description="Key bundle"
    )
    chain_key_hex: str = Field(
        min_length=2, max_length=256, pattern=r"^([0-9a-fA-F]{2})+$", description="MAC chain key"
    )
    feeder: str = Field(default="", max_length=64)
    schedule_id: str | None = Field(default=None, min_length=1, max_length=64)
    credit_frame_s: int = Field(default=7 * 86_400, ge=60, le=366 * 86_400)
    report_interval_s: int = Field(default=86_400, ge=60, le=366 * 86_400)


class BlockIn(BaseModel):
    """Why an operator blocks a meter (kept in its record and the audit trail)."""

    model_config = _STRICT

    reason: str = Field(min_length=1, max_length=500)


class RegisterOut(BaseModel):
    """Usage of one tariff register (band), the meter's charge and the recomputed one."""

    obis: str = Field(description="The register: an OBIS code such as 1.8.1, or a band name")
    usage: int
    charge: str
    expected_charge: str | None


class RegistrationOut(BaseModel):
    """One stored registration, with the head-end's recomputed charge beside the meter's."""

    meter_id: str
    seq: int
    kind: str
    start: datetime | None
    time: datetime
    schedule_id: str
    schedule_version: int
    registers: list[RegisterOut]
    usage: int
    charge: str
    expected_charge: str | None
    reconciled: bool
    auth_code_hex: str
    received_at: datetime

    @classmethod
    def of(cls, r: RegistrationRecord) -> RegistrationOut:
        """Convert a head-end `RegistrationRecord`."""
        return cls(
            meter_id=r.meter_id,
            seq=r.seq,
            kind=r.kind,
            start=r.start,
            time=r.time,
            schedule_id=r.schedule_id,
            schedule_version=r.schedule_version,
            registers=[
                RegisterOut(
                    obis=g.register,
                    usage=g.usage,
                    charge=_money(g.charge),
                    expected_charge=None if g.expected is None else _money(g.expected),
                )
                for g in r.registers
            ],
            usage=r.usage,
            charge=_money(r.charge),
            expected_charge=None if r.expected_charge is None else _money(r.expected_charge),
            reconciled=r.reconciled,
            auth_code_hex=r.auth_code.hex(),
            received_at=r.received_at,
        )


class AlertOut(BaseModel):
    """An alert raised for the operator."""

    alert_id: int
    kind: str
    severity: str
    meter_id: str | None
    feeder: str | None
    detail: str
    occurred_at: datetime
    raised_at: datetime
    acknowledged_at: datetime | None

    @classmethod
    def of(cls, a: AlertRecord) -> AlertOut:
        """Convert a head-end `AlertRecord`."""
        return cls(
            alert_id=a.alert_id,
            kind=a.kind.value,
            severity=a.severity.value,
            meter_id=a.meter_id,
            feeder=a.feeder,
            detail=a.detail,
            occurred_at=a.occurred_at,
            raised_at=a.raised_at,
            acknowledged_at=a.acknowledged_at,
        )


class RejectionOut(BaseModel):
    """An uplink the head-end refused, with its precise reason (operators only)."""

    rejection_id: int
    received_at: datetime
    meter_id: str | None
    reason: str
    detail: str
    size: int
    digest: str

    @classmethod
    def of(cls, r: RejectionRecord) -> RejectionOut:
        """Convert a head-end `RejectionRecord`."""
        return cls(
            rejection_id=r.rejection_id,
            received_at=r.received_at,
            meter_id=r.meter_id,
            reason=r.reason.value,
            detail=r.detail,
            size=r.size,
            digest=r.digest,
        )


class EnableCodeOut(BaseModel):
    """One entry of the enable-code log."""

    code_id: int
    meter_id: str
    acked_seq: int
    nonce_hex: str
    issued_at: datetime
    expires_at: datetime
    credit_frame_s: int

    @classmethod
    def of(cls, e: EnableCodeRecord) -> EnableCodeOut:
        """Convert a head-end `EnableCodeRecord`."""
        return cls(
            code_id=e.code_id,
            meter_id=e.meter_id,
            acked_seq=e.acked_seq,
            nonce_hex=e.nonce.hex(),
            issued_at=e.issued_at,
            expires_at=e.expires_at,
            credit_frame_s=int(e.credit_frame.total_seconds()),
        )


class ScheduleOut(BaseModel):
    """A published rate schedule version."""

    schedule_id: str
    version: int
    valid_from: datetime
    valid_to: datetime | None
    published_at: datetime
    document: str

    @classmethod
    def of(cls, s: ScheduleRecord) -> ScheduleOut:
        """Convert a head-end `ScheduleRecord`."""
        return cls(
            schedule_id=s.schedule_id,
            version=s.version,
            valid_from=s.valid_from,
            valid_to=s.valid_to,
            published_at=s.published_at,
            document=s.document,
        )


class ScheduleIn(BaseModel):
    """A rate schedule to publish: the schedule document as the tariff core reads it (JSON)."""

    model_config = _STRICT

    document: str = Field(min_length=2, max_length=1_000_000)


class ScheduleDeliveryOut(BaseModel):
    """Delivery of a schedule version to one meter."""

    meter_id: str
    schedule_id: str
    version: int
    sent_at: datetime | None
    confirmed_at: datetime | None

    @classmethod
    def of(cls, d: ScheduleDelivery) -> ScheduleDeliveryOut:
        """Convert a head-end `ScheduleDelivery`."""
        return cls(
            meter_id=d.meter_id,
            schedule_id=d.schedule_id,
            version=d.version,
            sent_at=d.sent_at,
            confirmed_at=d.confirmed_at,
        )


class BillLineOut(BaseModel):
    """Usage and charge of one register over the bill's period."""

    obis: str = Field(description="The register: an OBIS code such as 1.8.1, or a band name")
    usage: int
    charge: str


class BillOut(BaseModel):
    """A customer's bill for a period, recomputed from the stored registrations."""

    customer_ref: str
    meter_ids: list[str]
    period_start: datetime
    period_end: datetime
    lines: list[BillLineOut]
    total_usage: int
    standing_charge: str = Field(description="Prorated fixed charge of the period")
    total: str = Field(description="Recomputed: the register lines plus the standing charge")
    meter_total: str = Field(description="What the meters charged for their usage")
    registrations: int
    mismatches: int
    currency: str

    @classmethod
    def of(cls, b: Bill) -> BillOut:
        """Convert a head-end `Bill`."""
        return cls(
            customer_ref=b.customer_ref,
            meter_ids=list(b.meter_ids),
            period_start=b.period_start,
            period_end=b.period_end,
            lines=[
                BillLineOut(obis=x.register, usage=x.usage, charge=_money(x.charge))
                for x in b.lines
            ],
            total_usage=b.total_usage,
            standing_charge=_money(b.standing_charge),
            total=_money(b.total),
            meter_total=_money(b.meter_total),
            registrations=b.registrations,
            mismatches=b.mismatches,
            currency=b.currency,
        )


class FleetOut(BaseModel):
    """How many meters are in each fleet state right now."""

    at: datetime
    counts: dict[str, int]
    total: int

    @classmethod
    def of(cls, f: FleetSummary) -> FleetOut:
        """Convert a head-end `FleetSummary`."""
        counts = {state.value: n for state, n in f.counts.items()}
        return cls(at=f.at, counts=counts, total=sum(counts.values()))


class HealthOut(BaseModel):
    """Liveness of the head-end behind this API."""

    ok: bool
    store: str
    detail: str
    meters: int
    registrations: int
    rejections: int
    open_alerts: int

    @classmethod
    def of(cls, h: Health) -> HealthOut:
        """Convert a head-end `Health`."""
        return cls(
            ok=h.ok,
            store=h.store,
            detail=h.detail,
            meters=h.meters,
            registrations=h.registrations,
            rejections=h.rejections,
            open_alerts=h.open_alerts,
        )


class TokenIn(BaseModel):
    """A token to issue: who or what will use it, and its role."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=128)
    role: str = Field(pattern=r"^(admin|operator|read-only)$")


class TokenOut(BaseModel):
    """An API token without its secret."""

    token_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: TokenInfo) -> TokenOut:
        """Convert a stored `TokenInfo`."""
        return cls(
            token_id=t.token_id,
            name=t.name,
            role=t.role.value,
            created_at=t.created_at,
            revoked_at=t.revoked_at,
        )


class IssuedTokenOut(TokenOut):
    """A token just issued: `token` is shown this once and never again."""

    token: str
