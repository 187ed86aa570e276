"""The head-end ("security box" of the utility's server): keys, ingest, billing, enable codes.

`HeadEnd` is the one object the doors use: `handle_uplink(data, now)` for meters (through any
transport) and an operator API for people (provision, list, bill, publish schedules, block,
watch the fleet). It composes the protocol core (verify, decrypt, MAC chain, seal), the tariff
core (recompute charges) and `sealmeter.store` (SQLite by default, PostgreSQL to scale out).
"""

from sealmeter.headend._facade import HeadEnd, new_chain_key
from sealmeter.headend._ingest import REJECTION_ANSWER
from sealmeter.headend._keys import PASSPHRASE_ENV, BoxKeys, passphrase_from_env
from sealmeter.headend._lifecycle import MeterEvent
from sealmeter.headend._policy import Policy
from sealmeter.headend._rollover import RolloverState
from sealmeter.headend._watch import fleet_state
from sealmeter.headend.errors import (
    BadTransition,
    HeadEndError,
    KeyStoreError,
    KeyStoreLocked,
    RejectedUplink,
    ScheduleError,
)
from sealmeter.store import (
    AlertKind,
    AlertRecord,
    Bill,
    BillLine,
    EnableCodeRecord,
    FleetState,
    FleetSummary,
    Health,
    MeterRecord,
    MeterState,
    Page,
    Provisioning,
    RegisterReading,
    RegistrationRecord,
    RejectionReason,
    RejectionRecord,
    ScheduleDelivery,
    ScheduleRecord,
    Severity,
)

__all__ = [
    "PASSPHRASE_ENV",
    "REJECTION_ANSWER",
    "AlertKind",
    "AlertRecord",
    "BadTransition",
    "Bill",
    "BillLine",
    "BoxKeys",
    "EnableCodeRecord",
    "FleetState",
    "FleetSummary",
    "HeadEnd",
    "HeadEndError",
    "Health",
    "KeyStoreError",
    "KeyStoreLocked",
    "MeterEvent",
    "MeterRecord",
    "MeterState",
    "Page",
    "Policy",
    "Provisioning",
    "RegisterReading",
    "RegistrationRecord",
    "RejectedUplink",
    "RejectionReason",
    "RejectionRecord",
    "RolloverState",
    "ScheduleDelivery",
    "ScheduleError",
    "ScheduleRecord",
    "Severity",
    "fleet_state",
    "new_chain_key",
    "passphrase_from_env",
]
