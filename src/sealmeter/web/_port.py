"""What the doors need from the head-end: the operator API, as a typing `Protocol`.

`sealmeter.headend.HeadEnd` satisfies it; the web layer depends on nothing else of the
head-end, so the REST API, the dashboard and their tests see one narrow seam.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from sealmeter.store import (
    AlertKind,
    AlertRecord,
    Bill,
    EnableCodeRecord,
    FleetState,
    FleetSummary,
    Health,
    MeterRecord,
    MeterState,
    Page,
    Provisioning,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
    ScheduleDelivery,
    ScheduleRecord,
)

__all__ = ["FleetStates", "OperatorApi"]

FleetStates = Callable[[Sequence[MeterRecord], datetime], Mapping[str, FleetState]]
"""The fleet state of each of some meters at an instant (meter id → state), as the head-end
classifies them."""


class OperatorApi(Protocol):
    """The head-end operations the REST API and the dashboard call (`HeadEnd` has them all)."""

    def handle_uplink(self, data: bytes, now: datetime | None = None) -> bytes:
        """Ingest one sealed uplink; return the sealed downlink or the opaque rejection."""
        ...

    def health(self) -> Health:
        """Liveness and a few counters."""
        ...

    def metrics(self) -> dict[str, int]:
        """Row counts and this process's ingest counters, by name."""
        ...

    def fleet(self, now: datetime | None = None) -> FleetSummary:
        """Number of meters in each fleet state at `now`."""
        ...

    def provision(self, request: Provisioning, now: datetime | None = None) -> MeterRecord:
        """Register a new meter."""
        ...

    def get_meter(self, meter_id: str) -> MeterRecord:
        """One meter (raises the store's `NotFound`)."""
        ...

    def list_meters(
        self, *, state: MeterState | None = None, cursor: str | None = None, limit: int = 100
    ) -> Page[MeterRecord]:
        """Meters by id, optionally in one lifecycle state."""
        ...

    def block(self, meter_id: str, reason: str, now: datetime | None = None) -> MeterRecord:
        """Block a meter: no more enable codes, a block command is queued."""
        ...

    def unblock(self, meter_id: str, now: datetime | None = None) -> MeterRecord:
        """Lift an operator's block."""
        ...

    def decommission(self, meter_id: str, now: datetime | None = None) -> MeterRecord:
        """Take a meter out of service for good."""
        ...

    def list_registrations(
        self,
        *,
        meter_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> Page[RegistrationRecord]:
        """Stored registrations in storage order, filtered by meter and meter time."""
        ...

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
        """Alerts, oldest first."""
        ...

    def acknowledge_alert(self, alert_id: int, now: datetime | None = None) -> AlertRecord:
        """Mark an alert as seen by an operator."""
        ...

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
        ...

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
        ...

    def publish_schedule(
        self,
        document: str,
        now: datetime | None = None,
        *,
        meter_ids: Sequence[str] | None = None,
    ) -> ScheduleRecord:
        """Publish a rate schedule version (the tariff core's schedule file)."""
        ...

    def list_schedules(self, schedule_id: str | None = None) -> list[ScheduleRecord]:
        """Published schedule versions."""
        ...

    def schedule_deliveries(
        self,
        *,
        schedule_id: str | None = None,
        meter_id: str | None = None,
        pending_only: bool = False,
    ) -> list[ScheduleDelivery]:
        """Delivery state of schedule versions to meters."""
        ...

    def bill(self, customer_ref: str, period_start: datetime, period_end: datetime) -> Bill:
        """A customer's bill for [period_start, period_end)."""
        ...

    def bills(self, period_start: datetime, period_end: datetime) -> list[Bill]:
        """Every customer's bill for [period_start, period_end), by customer reference."""
        ...
