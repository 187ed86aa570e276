"""The security module of a usage meter, as a deterministic state machine on a simulated clock.

It counts units into a tear-safe counter, charges them per the active rate schedule, makes
hash-chained registrations, seals uplinks for the head-end and verifies its downlinks (enable
codes, schedules, commands), runs its calls on a watchdog with backoff, blocks the output when
the credit frame runs out, and defends itself (housing switch, seal loop, bypass, voltage
watchdog). It is sans-IO: a driver moves the bytes (see docs/meter.md).
"""

from __future__ import annotations

from sealmeter.meter.charging import Rate, Schedules
from sealmeter.meter.config import MeterConfig
from sealmeter.meter.credit import CreditFrame, CreditGrant, RelayEvent, RelayState
from sealmeter.meter.downlink import DownlinkResult
from sealmeter.meter.errors import (
    DownlinkRejected,
    IllegalTransition,
    MeterConfigError,
    MeterStorageFault,
    NotProvisioned,
    RegistrationLogFull,
)
from sealmeter.meter.module import Meter
from sealmeter.meter.power import PowerState, VoltageWatchdog
from sealmeter.meter.provisioning import LifeState, ProvisioningExport
from sealmeter.meter.state import ChainRecord, ControlState, Journal
from sealmeter.meter.status import Display, Led, build_status, display
from sealmeter.meter.store import DEVICE_KEY_SIZE, NVM_SIZE, nvm_size
from sealmeter.meter.tamper import (
    BypassDetector,
    BypassPolicy,
    Detection,
    DetectionKind,
    HousingState,
    LoopState,
    SealLoop,
)
from sealmeter.meter.watchdog import CallPolicy, CommState, Watchdog, slot_offset

__all__ = [
    "DEVICE_KEY_SIZE",
    "NVM_SIZE",
    "BypassDetector",
    "BypassPolicy",
    "CallPolicy",
    "ChainRecord",
    "CommState",
    "ControlState",
    "CreditFrame",
    "CreditGrant",
    "Detection",
    "DetectionKind",
    "Display",
    "DownlinkRejected",
    "DownlinkResult",
    "HousingState",
    "IllegalTransition",
    "Journal",
    "Led",
    "LifeState",
    "LoopState",
    "Meter",
    "MeterConfig",
    "MeterConfigError",
    "MeterStorageFault",
    "NotProvisioned",
    "PowerState",
    "ProvisioningExport",
    "Rate",
    "RegistrationLogFull",
    "RelayEvent",
    "RelayState",
    "Schedules",
    "SealLoop",
    "VoltageWatchdog",
    "Watchdog",
    "build_status",
    "display",
    "nvm_size",
    "slot_offset",
]
