"""The ledger of a simulation: every unit, every injected fault and attack, blocks and bills.

Units are accounted per meter at four points: *measured* (the metering path's output),
*counted* (the meter's tear-safe counter), *stored* (registrations in the head-end's store)
and *queued* (registrations made but not yet acknowledged, still on the meter). Conservation
is exact: for every meter, stored + queued == counted == measured; any difference is reported
as units lost or invented, per meter, so errors of opposite sign cannot cancel out.

Every injected fault or attack is an `Incident` that ends `REJECTED` (an attack or a damaging
fault was detected and changed nothing), `SURVIVED` (a network fault was ridden out with no
loss), `ACCEPTED` (an attack got through: a failure) or `LOST` (a fault lost data: a failure).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["BillLine", "Incident", "Ledger", "MeterUnits", "Outcome"]


class Outcome(enum.Enum):
    """How an incident ended."""

    PENDING = "pending"
    REJECTED = "rejected"
    SURVIVED = "survived"
    ACCEPTED = "accepted"
    LOST = "lost"

    @property
    def ok(self) -> bool:
        """True when the system held (rejected or survived)."""
        return self in (Outcome.REJECTED, Outcome.SURVIVED)


@dataclass
class Incident:
    """One injected fault or mounted attack and what became of it."""

    index: int
    category: str
    kind: str
    meter: str
    at: datetime
    detail: str = ""
    outcome: Outcome = Outcome.PENDING
    detected_by: str | None = None
    reason: str | None = None
    detected_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """This incident as a JSON-ready dict."""
        return {
            "index": self.index,
            "category": self.category,
            "kind": self.kind,
            "meter": self.meter,
            "at": self.at.isoformat(),
            "detail": self.detail,
            "outcome": self.outcome.value,
            "detected_by": self.detected_by,
            "reason": self.reason,
            "detected_at": self.detected_at.isoformat() if self.detected_at else None,
        }


@dataclass
class MeterUnits:
    """Units of one meter at the four accounting points."""

    measured: int = 0
    counted: int = 0
    stored: int = 0
    queued: int = 0

    @property
    def lost(self) -> int:
        """Units that went missing between stages (metered -> counted -> stored or queued)."""
        return max(0, self.measured - self.counted) + max(
            0, self.counted - self.stored - self.queued
        )

    @property
    def invented(self) -> int:
        """Units that appeared between stages (must be 0)."""
        return max(0, self.counted - self.measured) + max(
            0, self.stored + self.queued - self.counted
        )


@dataclass(frozen=True)
class BillLine:
    """One customer's bill over the run, as the head-end computed it."""

    customer: str
    meters: int
    units: int
    """Usage billed, in Wh."""
    charge: float
    currency: str
    reconciled: bool


@dataclass
class Ledger:
    """Everything a simulation run accounts for; `as_json()` is the `--json` output."""

    scenario: str
    transport: str
    store: str
    seed: int
    meters: int
    days: int
    units: dict[str, MeterUnits] = field(default_factory=dict)
    incidents: list[Incident] = field(default_factory=list)
    registrations: int = 0
    uplinks: int = 0
    exchanges_failed: int = 0
    blocked: set[str] = field(default_factory=set)
    unblocked: set[str] = field(default_factory=set)
    block_events: list[tuple[datetime, str, str]] = field(default_factory=list)
    bills: list[BillLine] = field(default_factory=list)
    alerts: Counter[str] = field(default_factory=Counter)
    alerts_by_day: dict[int, Counter[str]] = field(default_factory=dict)
    usage_by_band: Counter[str] = field(default_factory=Counter)
    units_by_day: Counter[int] = field(default_factory=Counter)
    crashes: int = 0
    stuck: dict[str, str] = field(default_factory=dict)
    """Meters that could not get an authentic answer once everything was healthy again."""
    worker_uplinks: list[int] = field(default_factory=list)
    """Uplinks each head-end worker handled (one worker unless over MQTT)."""
    wall_s: float = 0.0
    crypto_s: float | None = None
    """Seconds spent in cryptography, when measured (`sealmeter bench fleet`)."""
    notes: list[str] = field(default_factory=list)

    def meter_units(self, meter: str) -> MeterUnits:
        """The unit account of `meter` (created empty on first use)."""
        return self.units.setdefault(meter, MeterUnits())

    def incident(self, category: str, kind: str, meter: str, at: datetime, detail: str) -> Incident:
        """Record a new fault (`category="fault"`) or attack (`"attack"`); return it."""
        inc = Incident(len(self.incidents), category, kind, meter, at, detail)
        self.incidents.append(inc)
        return inc

    @staticmethod
    def detected(inc: Incident, by: str, reason: str, at: datetime) -> None:
        """Mark `inc` as detected and rejected by `by` (head-end, meter, ...) for `reason`."""
        if inc.outcome is Outcome.PENDING:
            inc.outcome = Outcome.REJECTED
            inc.detected_by, inc.reason, inc.detected_at = by, reason, at

    @staticmethod
    def accepted(inc: Incident, at: datetime, reason: str) -> None:
        """Mark `inc` as an attack or fault that got through (a failure of the system)."""
        inc.outcome = Outcome.ACCEPTED
        inc.detected_by, inc.reason, inc.detected_at = None, reason, at

    @staticmethod
    def lost(inc: Incident, at: datetime, reason: str) -> None:
        """Mark the fault `inc` as not survived (a failure of the system)."""
        inc.outcome = Outcome.LOST
        inc.detected_by, inc.reason, inc.detected_at = None, reason, at

    def block(self, meter: str, at: datetime, why: str) -> None:
        """Note that `meter` blocked its output (credit frame ran out, or a block command)."""
        self.blocked.add(meter)
        self.block_events.append((at, meter, f"blocked: {why}"))

    def unblock(self, meter: str, at: datetime, why: str) -> None:
        """Note that `meter` released its output again."""
        self.unblocked.add(meter)
        self.block_events.append((at, meter, f"unblocked: {why}"))

    def alert(self, kind: str, day: int) -> None:
        """Count one head-end alert of `kind` raised on simulated `day`."""
        self.alerts[kind] += 1
        self.alerts_by_day.setdefault(day, Counter())[kind] += 1

    def settle(self) -> None:
        """Close the run: pending faults end SURVIVED (or LOST if their meter lost units)."""
        for inc in self.incidents:
            if inc.outcome is not Outcome.PENDING:
                continue
            acct = self.units.get(inc.meter)
            damaged = acct is not None and (acct.lost or acct.invented)
            if inc.category == "fault":
                if inc.meter in self.stuck:
                    inc.outcome = Outcome.LOST
                    inc.reason = f"the meter never recovered: {self.stuck[inc.meter]}"
                    continue
                inc.outcome = Outcome.LOST if damaged else Outcome.SURVIVED
            else:
                inc.outcome = Outcome.ACCEPTED if damaged else Outcome.REJECTED
                if not damaged and inc.detected_by is None:
                    inc.detected_by = "exactly once"
                    inc.reason = inc.reason or "changed no state"

    @property
    def units_lost(self) -> int:
        """Units lost, summed over meters (each meter's own shortfall)."""
        return sum(u.lost for u in self.units.values())

    @property
    def units_invented(self) -> int:
        """Units invented, summed over meters (each meter's own surplus)."""
        return sum(u.invented for u in self.units.values())

    def _tally(self, category: str) -> dict[str, Any]:
        rows = [i for i in self.incidents if i.category == category]
        by_kind: dict[str, dict[str, int]] = {}
        for inc in rows:
            slot = by_kind.setdefault(inc.kind, Counter())
            slot["tried" if category == "attack" else "injected"] += 1
            slot[inc.outcome.value] += 1
        return {"rows": rows, "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())}}

    def as_json(self) -> dict[str, Any]:
        """The ledger as the JSON object `sealmeter simulate --json` prints."""
        attacks = self._tally("attack")
        faults = self._tally("fault")
        totals = MeterUnits()
        for u in self.units.values():
            totals.measured += u.measured
            totals.counted += u.counted
            totals.stored += u.stored
            totals.queued += u.queued
        return {
            "scenario": self.scenario,
            "transport": self.transport,
            "store": self.store,
            "seed": self.seed,
            "meters": self.meters,
            "days": self.days,
            "registrations": self.registrations,
            "uplinks": self.uplinks,
            "units": {
                "measured": totals.measured,
                "counted": totals.counted,
                "stored": totals.stored,
                "queued": totals.queued,
            },
            "units_lost": self.units_lost,
            "units_invented": self.units_invented,
            "attacks": {
                "tried": len(attacks["rows"]),
                "accepted": sum(1 for i in attacks["rows"] if i.outcome is Outcome.ACCEPTED),
                "by_kind": attacks["by_kind"],
            },
            "faults": {
                "injected": len(faults["rows"]),
                "survived": sum(1 for i in faults["rows"] if i.outcome.ok),
                "by_kind": faults["by_kind"],
            },
            "blocks": {"blocked": len(self.blocked), "unblocked": len(self.unblocked)},
            "bills": {
                "customers": len(self.bills),
                "usage_wh": sum(b.units for b in self.bills),
                "charge": round(sum(b.charge for b in self.bills), 2),
                "reconciled": all(b.reconciled for b in self.bills),
            },
            "alerts": dict(sorted(self.alerts.items())),
            "crashes": self.crashes,
            "meters_stuck": len(self.stuck),
            "worker_uplinks": list(self.worker_uplinks),
            "exchanges_failed": self.exchanges_failed,
            "wall_s": round(self.wall_s, 3),
            "crypto_share": (
                round(self.crypto_s / self.wall_s, 3)
                if self.crypto_s is not None and self.wall_s
                else None
            ),
        }

    def incidents_json(self) -> list[dict[str, Any]]:
        """Every incident as JSON (for the report file and `--incidents`)."""
        return [i.as_json() for i in self.incidents]
