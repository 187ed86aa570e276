"""The head-end's tables (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Instants are stored as integer microseconds since the Unix epoch (UTC), durations as integer
seconds, money as decimal strings: portable, exact and cheap to compare. The Alembic
migrations in `sealmeter.store.migrations` create exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "alerts",
    "enable_codes",
    "metadata",
    "meter_keys",
    "meters",
    "power_events",
    "registrations",
    "rejections",
    "schedule_deliveries",
    "schedules",
    "uplinks",
]

metadata = MetaData()

# Primary keys that autoincrement: BigInteger on PostgreSQL, INTEGER (rowid alias) on SQLite.
_Id = BigInteger().with_variant(Integer(), "sqlite")

meters = Table(
    "meters",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("customer_ref", String(128), nullable=False),
    Column("suite", String(32), nullable=False),
    Column("feeder", String(64), nullable=False, default=""),
    Column("schedule_id", String(64), nullable=True),
    Column("credit_frame_s", BigInteger, nullable=False),
    Column("report_interval_s", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("public_keys", LargeBinary, nullable=False),
    Column("provisioned_us", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("chain_state", LargeBinary, nullable=False),
    Column("last_seen_us", BigInteger, nullable=True),
    Column("blocked_reason", Text, nullable=True),
    Column("pending_command", String(32), nullable=True),
    Column("rollover", LargeBinary, nullable=True),  # key rollover state (headend/_rollover.py)
)

meter_keys = Table(
    "meter_keys",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("key_version", Integer, primary_key=True),
    Column("public_keys", LargeBinary, nullable=False),
    Column("valid_from_us", BigInteger, nullable=False),
    Column("retired_us", BigInteger, nullable=True),
)

uplinks = Table(
    "uplinks",
    metadata,
    Column("uplink_id", _Id, primary_key=True, autoincrement=True),
    Column("meter_id", String(64), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("disclosure", LargeBinary, nullable=True),
    UniqueConstraint("meter_id", "last_seq", "first_seq", name="uq_uplinks_meter_seqs"),
)

registrations = Table(
    "registrations",
    metadata,
    Column("reg_id", _Id, primary_key=True, autoincrement=True),
    Column("meter_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_us", BigInteger, nullable=True),
    Column("time_us", BigInteger, nullable=False),
    Column("schedule_id", String(64), nullable=False),
    Column("schedule_version", Integer, nullable=False),
    Column("registers", Text, nullable=False),  # JSON [[register, usage, "charge"], ...]
    Column("usage", BigInteger, nullable=False),
    Column("charge", String(40), nullable=False),
    Column("expected_charge", String(40), nullable=True),
    Column("auth_code", LargeBinary, nullable=False),
    Column("received_us", BigInteger, nullable=False),
    UniqueConstraint("meter_id", "seq", name="uq_registrations_meter_seq"),
)
Index("ix_registrations_meter_time", registrations.c.meter_id, registrations.c.time_us)

rejections = Table(
    "rejections",
    metadata,
    Column("rejection_id", _Id, primary_key=True, autoincrement=True),
    Column("received_us", BigInteger, nullable=False),
    Column("meter_id", String(64), nullable=True),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
)

enable_codes = Table(
    "enable_codes",
    metadata,
    Column("code_id", _Id, primary_key=True, autoincrement=True),
    Column("meter_id", String(64), nullable=False),
    Column("acked_seq", BigInteger, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("issued_us", BigInteger, nullable=False),
    Column("expires_us", BigInteger, nullable=False),
    Column("credit_frame_s", BigInteger, nullable=False),
)
Index("ix_enable_codes_meter", enable_codes.c.meter_id, enable_codes.c.code_id)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", _Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("meter_id", String(64), nullable=True),
    Column("feeder", String(64), nullable=True),
    Column("detail", Text, nullable=False),
    Column("occurred_us", BigInteger, nullable=False),
    Column("raised_us", BigInteger, nullable=False),
    Column("acknowledged_us", BigInteger, nullable=True),
    Column("dedup_key", String(200), nullable=False),
    UniqueConstraint("dedup_key", name="uq_alerts_dedup"),
)
Index("ix_alerts_meter", alerts.c.meter_id, alerts.c.alert_id)

schedules = Table(
    "schedules",
    metadata,
    Column("schedule_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("valid_from_us", BigInteger, nullable=False),
    Column("valid_to_us", BigInteger, nullable=True),
    Column("published_us", BigInteger, nullable=False),
    Column("document", Text, nullable=False),
)

schedule_deliveries = Table(
    "schedule_deliveries",
    metadata,
    Column("meter_id", String(64), primary_key=True),
    Column("schedule_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("sent_us", BigInteger, nullable=True),
    Column("confirmed_us", BigInteger, nullable=True),
)

power_events = Table(
    "power_events",
    metadata,
    Column("event_id", _Id, primary_key=True, autoincrement=True),
    Column("meter_id", String(64), nullable=False),
    Column("feeder", String(64), nullable=False),
    Column("at_us", BigInteger, nullable=False),
    Column("classified", String(24), nullable=True),
    UniqueConstraint("meter_id", "at_us", name="uq_power_events_meter_at"),
)
