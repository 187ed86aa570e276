"""Persistence of the head-end: SQLite (WAL) by default, PostgreSQL to scale out.

SQLAlchemy 2 Core on the hot path, Alembic migrations shipped as package data. The store
knows nothing of cryptography: keys and MAC-chain state are opaque bytes. Exactly-once
storage of registrations is enforced by the database (unique (meter, seq), insert-or-ignore),
and a meter's chain state advances by compare-and-set, so several processes can ingest at once.
"""

from sealmeter.store._batch import (
    IngestBatch,
    MeterAdvance,
    NewAlert,
    NewEnableCode,
    NewPowerEvent,
    NewRejection,
    NewUplink,
    ScheduleConfirmation,
)
from sealmeter.store._engine import DEFAULT_URL, drop_schema, open_engine
from sealmeter.store._migrate import current_revision, head_revision, migrate
from sealmeter.store._records import (
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
from sealmeter.store._store import NewMeter, PowerEvent, Store, StoredMeter
from sealmeter.store.errors import (
    AlreadyExists,
    BadCursor,
    ConcurrentUpdate,
    NotFound,
    StoreConfigError,
    StoreError,
    StoreUnavailable,
)

__all__ = [
    "DEFAULT_URL",
    "AlertKind",
    "AlertRecord",
    "AlreadyExists",
    "BadCursor",
    "Bill",
    "BillLine",
    "ConcurrentUpdate",
    "EnableCodeRecord",
    "FleetState",
    "FleetSummary",
    "Health",
    "IngestBatch",
    "MeterAdvance",
    "MeterRecord",
    "MeterState",
    "NewAlert",
    "NewEnableCode",
    "NewMeter",
    "NewPowerEvent",
    "NewRejection",
    "NewUplink",
    "NotFound",
    "Page",
    "PowerEvent",
    "Provisioning",
    "RegisterReading",
    "RegistrationRecord",
    "RejectionReason",
    "RejectionRecord",
    "ScheduleConfirmation",
    "ScheduleDelivery",
    "ScheduleRecord",
    "Severity",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailable",
    "StoredMeter",
    "current_revision",
    "drop_schema",
    "head_revision",
    "migrate",
    "open_engine",
]
