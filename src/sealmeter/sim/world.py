"""The seams between the simulator's engine and the meters and head-end it drives.

The engine only knows these protocols; `sealmeter.sim.wiring` implements them over the real
`sealmeter.meter` and `sealmeter.headend` (full cryptography), and tests may drive the engine
with their own doubles to check its accounting. A `World` is one fleet ready to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sealmeter.sim.ledger import BillLine
from sealmeter.sim.scenario import TamperAct

__all__ = ["Attacker", "HeadEndKilled", "LoadSource", "SimHeadEnd", "SimMeter", "Verdict", "World"]


class SimMeter(Protocol):
    """One meter as the simulator drives it (sans-IO: the engine moves the bytes)."""

    meter_id: str
    customer: str
    feeder: int

    def feed(self, start: datetime, interval: timedelta, energy_mwh: NDArray[np.int64]) -> None:
        """Measure consecutive intervals from `start`: energy per interval in mWh."""

    def measured_units(self) -> int:
        """Units the metering path produced from everything fed so far (ground truth)."""
        ...

    def next_call_at(self) -> datetime:
        """When the watchdog wants to talk to the head-end next (with backoff)."""
        ...

    def make_uplink(self, now: datetime) -> bytes:
        """A sealed uplink with every queued registration, a status and a fresh nonce."""
        ...

    def accept_downlink(self, data: bytes, now: datetime) -> None:
        """Verify and apply a downlink; raise a `PeerError` when it is rejected."""

    def call_failed(self, now: datetime) -> None:
        """No (usable) answer: schedule a retry with backoff."""

    def power(self, on: bool, now: datetime) -> None:
        """Mains lost (`on=False`) or back (`True`)."""

    def tamper(self, act: TamperAct, now: datetime) -> None:
        """A physical attack happens to this meter now."""

    def counted_units(self) -> int:
        """The meter's tear-safe counter."""
        ...

    def unstored_units(self, stored_seqs: frozenset[int]) -> int:
        """Units still only on the meter: queued registrations whose sequence number is not
        in `stored_seqs` (the head-end's), plus the open period not yet registered."""
        ...

    def blocked(self) -> bool:
        """Whether the relay is open (output blocked)."""
        ...

    def usage_by_band(self) -> dict[str, int]:
        """Units per tariff band (register) since the start."""
        ...


@dataclass(frozen=True)
class Verdict:
    """What the head-end did with one uplink: rejected (and why) or accepted."""

    rejected: bool
    reason: str | None = None


class HeadEndKilled(BaseException):
    """The simulated head-end process dies here (a crash the simulation injects).

    A `BaseException`, like `KeyboardInterrupt`: no `except Exception` inside the head-end
    may swallow it, so everything between the kill and the caller unwinds as a process
    death would leave it (the open database transaction is never committed).
    """


class SimHeadEnd(Protocol):
    """The head-end as the simulator drives it."""

    def handle(self, data: bytes, now: datetime) -> bytes:
        """`HeadEnd.handle_uplink`: the sealed downlink or the opaque rejection answer."""
        ...

    def handle_batch(self, batch: Sequence[bytes], now: datetime) -> list[bytes]:
        """`HeadEnd.handle_uplinks`: several uplinks in one go, answers in their order."""
        ...

    def verdict(self, data: bytes) -> Verdict | None:
        """What the head-end did with these exact uplink bytes, if it saw them recently."""
        ...

    def stored(self, meter_id: str | None = None) -> dict[str, dict[int, int]]:
        """Stored registrations: meter id -> {sequence number: units} (only `meter_id`'s
        if given)."""
        ...

    def registrations(self) -> int:
        """Registrations stored."""
        ...

    def alerts(self, now: datetime) -> list[tuple[str, str, datetime, datetime]]:
        """Run the fleet checks; return every alert raised since the last call as
        `(meter id, kind, occurred at, raised at)`, including those raised at ingest."""
        ...

    def restart(self) -> None:
        """Kill the head-end's process state and start again on the same database."""

    def die_before_commit(
        self, handle: Callable[[bytes, datetime], bytes], data: bytes, now: datetime
    ) -> bool:
        """Run `handle(data, now)` and kill the head-end at the first COMMIT it reaches:
        everything the ingest wrote in that transaction is lost as in a crash. True when a
        COMMIT was reached and killed; False when the ingest finished without one."""
        ...

    def spawn(self) -> Callable[[bytes, datetime], bytes]:
        """Another head-end worker on the same database (as a second process would be):
        its `handle`. Verdicts of what it handles are visible through `verdict`."""
        ...

    def bills(self, start: datetime, end: datetime) -> list[BillLine]:
        """Every customer's bill for the period."""
        ...

    def close(self) -> None:
        """Release the database."""


class Attacker(Protocol):
    """Crafts the scenario's deliberate attacks (it needs the protocol, not the engine)."""

    def forged_enable_code(self, meter: SimMeter, now: datetime) -> bytes:
        """An enable code for `meter` sealed with keys that are not the head-end's."""
        ...

    def downgraded_uplink(self, meter: SimMeter, now: datetime) -> bytes:
        """An uplink claiming to be `meter`'s, under a weaker suite than it is pinned to."""
        ...

    def clone(self, meter: SimMeter) -> SimMeter:
        """A second device with a copy of `meter`'s secrets and state."""
        ...


LoadSource = Callable[[int, date], NDArray[np.int64]]
"""Energy of the fleet for one day: `(day_index, date) -> array[meters, intervals]` in mWh."""


@dataclass
class World:
    """A fleet, its head-end, the attacker and the load, ready for `run_simulation`."""

    meters: Sequence[SimMeter]
    headend: SimHeadEnd
    attacker: Attacker
    load: LoadSource
    start: datetime
    interval: timedelta
