"""The security module of a usage meter, as a deterministic state machine on a simulated clock.

It counts units into a tear-safe counter, charges them per the active rate schedule, makes
hash-chained registrations, seals uplinks for the head-end and verifies its downlinks (enable
codes, schedules, commands), runs its calls on a watchdog with backoff, blocks the output when
the credit frame runs out, and defends itself (housing switch, seal loop, bypass, voltage
watchdog). It is sans-IO: a driver moves the bytes (see docs/meter.md).
"""

from __future__ import annotations

from sealmeter.meter.credit import CreditFrame, CreditGrant, RelayEvent, RelayState
from sealmeter.meter.errors import (
    DownlinkRejected,
    IllegalTransition,
    MeterConfigError,
    MeterStorageFault,
    NotProvisioned,
    RegistrationLogFull,
)
from sealmeter.meter.power import PowerState, VoltageWatchdog
from sealmeter.meter.tamper import (
    BypassDetector,
    BypassPolicy,
    Detection,
    HousingState,
    LoopState,
    TamperKind,
)
from sealmeter.meter.watchdog import CallPolicy, CommState, Watchdog, slot_offset

__all__ = [
    "BypassDetector",
    "BypassPolicy",
    "CallPolicy",
    "CommState",
    "CreditFrame",
    "CreditGrant",
    "Detection",
    "DownlinkRejected",
    "HousingState",
    "IllegalTransition",
    "LoopState",
    "MeterConfigError",
    "MeterStorageFault",
    "NotProvisioned",
    "PowerState",
    "RegistrationLogFull",
    "RelayEvent",
    "RelayState",
    "TamperKind",
    "VoltageWatchdog",
    "Watchdog",
    "slot_offset",
]
