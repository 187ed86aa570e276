"""The communication watchdog: when the module calls the head-end, and how it retries.

The seed's real-time clock wakes the module to talk to the server "on different days, so that
not all of them call the server simultaneously". Each meter therefore gets a fixed slot inside
the calling period, derived from its id (a hash, so the fleet spreads evenly and a meter's slot
never changes across power cycles). A failed call is retried with exponential backoff (capped),
with a per-meter, per-attempt offset so a fleet that failed together does not retry together.

States (table-driven, STYLE.md #2):

    WAITING --due--> CALLING --success--> WAITING (next slot)
                        |----failure--> BACKOFF --due--> CALLING

The watchdog is a frozen value: every move returns a new `Watchdog`.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sealmeter.meter.errors import MeterConfigError
from sealmeter.meter.fsm import Table

__all__ = ["CallPolicy", "CommEvent", "CommState", "Watchdog", "slot_offset"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class CommState(enum.Enum):
    """Where the communication watchdog is."""

    WAITING = "waiting"
    CALLING = "calling"
    BACKOFF = "backoff"


class CommEvent(enum.Enum):
    """What can happen to the communication watchdog."""

    DUE = "due"
    SUCCESS = "success"
    FAILURE = "failure"


TABLE: Table[CommState, CommEvent] = Table(
    "communication watchdog",
    {
        CommState.WAITING: {CommEvent.DUE: CommState.CALLING},
        CommState.CALLING: {
            CommEvent.SUCCESS: CommState.WAITING,
            CommEvent.FAILURE: CommState.BACKOFF,
            CommEvent.DUE: CommState.CALLING,
        },
        CommState.BACKOFF: {
            CommEvent.DUE: CommState.CALLING,
            CommEvent.SUCCESS: CommState.WAITING,
        },
    },
)


@dataclass(frozen=True)
class CallPolicy:
    """How often a meter calls and how it backs off after a failed call.

    `period`: one regular call per period (default a day); `backoff_base` doubles after each
    failure up to `backoff_cap`; `spread` is the largest extra offset added to a retry so that
    meters that failed together spread out (default a tenth of the base).
    """

    period: timedelta = timedelta(days=1)
    backoff_base: timedelta = timedelta(minutes=5)
    backoff_cap: timedelta = timedelta(hours=6)
    spread: timedelta | None = None

    def __post_init__(self) -> None:
        """Reject periods and backoffs that are not positive or out of order."""
        if self.period < timedelta(minutes=1):
            raise MeterConfigError(f"call period {self.period} is shorter than a minute")
        if self.backoff_base <= timedelta(0) or self.backoff_cap < self.backoff_base:
            raise MeterConfigError(
                f"backoff base {self.backoff_base} must be positive and not above the cap "
                f"{self.backoff_cap}"
            )

    def retry_delay(self, meter_id: str, attempt: int) -> timedelta:
        """The wait before retry number `attempt` (1 for the first retry), capped and spread."""
        doubled = self.backoff_base * (1 << min(max(attempt - 1, 0), 20))
        base = min(doubled, self.backoff_cap)
        spread = self.spread if self.spread is not None else self.backoff_base / 10
        fraction = _unit_hash(f"{meter_id}/retry/{attempt}")
        return base + timedelta(seconds=int(spread.total_seconds() * fraction))


def _unit_hash(text: str) -> float:
    """A number in [0, 1) fixed by `text` (SHA-256, so slots are uniform and stable)."""
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@functools.lru_cache(maxsize=4096)
def slot_offset(meter_id: str, period: timedelta) -> timedelta:
    """This meter's calling slot inside every period, to the whole minute (a pure function
    of its arguments, kept for the meters of a fleet: every answer asks it)."""
    minutes = int(period.total_seconds() // 60)
    return timedelta(minutes=int(_unit_hash(f"{meter_id}/slot") * minutes))


def _next_slot(meter_id: str, policy: CallPolicy, after: datetime) -> datetime:
    """The first slot of this meter strictly after `after`."""
    offset = slot_offset(meter_id, policy.period)
    periods = (after - _EPOCH - offset) // policy.period
    slot = _EPOCH + offset + policy.period * periods
    while slot <= after:
        slot += policy.period
    return slot


@dataclass(frozen=True)
class Watchdog:
    """The watchdog's state: where it is, when it calls next, how many calls failed in a row."""

    state: CommState
    next_call: datetime
    failures: int = 0
    last_success: datetime | None = None

    @classmethod
    def start(cls, meter_id: str, policy: CallPolicy, now: datetime) -> Watchdog:
        """A fresh watchdog that waits for this meter's first slot after `now`."""
        return cls(CommState.WAITING, _next_slot(meter_id, policy, now))

    def due(self, now: datetime) -> bool:
        """Whether the module should call at `now`."""
        return now >= self.next_call

    def call_started(self) -> Watchdog:
        """The module begins a call (its uplink is being sent)."""
        return replace(self, state=TABLE.fire(self.state, CommEvent.DUE))

    def call_succeeded(self, meter_id: str, policy: CallPolicy, now: datetime) -> Watchdog:
        """An authentic answer arrived: reset the backoff and wait for the next slot."""
        return Watchdog(
            TABLE.fire(self.state, CommEvent.SUCCESS),
            _next_slot(meter_id, policy, now),
            0,
            now,
        )

    def call_failed(self, meter_id: str, policy: CallPolicy, now: datetime) -> Watchdog:
        """No (authentic) answer: retry after a backoff that grows with each failure."""
        state = self.state
        if state is CommState.WAITING or state is CommState.BACKOFF:
            state = TABLE.fire(state, CommEvent.DUE)
        failures = self.failures + 1
        return replace(
            self,
            state=TABLE.fire(state, CommEvent.FAILURE),
            next_call=now + policy.retry_delay(meter_id, failures),
            failures=failures,
        )
