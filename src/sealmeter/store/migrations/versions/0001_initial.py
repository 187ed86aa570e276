"""Initial head-end schema: meters, keys, uplinks, registrations, logs, alerts, schedules.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "meters",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("customer_ref", sa.String(128), nullable=False),
        sa.Column("suite", sa.String(32), nullable=False),
        sa.Column("feeder", sa.String(64), nullable=False),
        sa.Column("schedule_id", sa.String(64), nullable=True),
        sa.Column("credit_frame_s", sa.BigInteger, nullable=False),
        sa.Column("report_interval_s", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("public_keys", sa.LargeBinary, nullable=False),
        sa.Column("provisioned_us", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("chain_state", sa.LargeBinary, nullable=False),
        sa.Column("last_seen_us", sa.BigInteger, nullable=True),
        sa.Column("blocked_reason", sa.Text, nullable=True),
        sa.Column("pending_command", sa.String(32), nullable=True),
    )
    op.create_table(
        "meter_keys",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("key_version", sa.Integer, primary_key=True),
        sa.Column("public_keys", sa.LargeBinary, nullable=False),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("retired_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "uplinks",
        sa.Column("uplink_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("disclosure", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("meter_id", "last_seq", "first_seq", name="uq_uplinks_meter_seqs"),
    )
    op.create_table(
        "registrations",
        sa.Column("reg_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("start_us", sa.BigInteger, nullable=True),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("schedule_version", sa.Integer, nullable=False),
        sa.Column("registers", sa.Text, nullable=False),
        sa.Column("usage", sa.BigInteger, nullable=False),
        sa.Column("charge", sa.String(40), nullable=False),
        sa.Column("expected_charge", sa.String(40), nullable=True),
        sa.Column("auth_code", sa.LargeBinary, nullable=False),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("meter_id", "seq", name="uq_registrations_meter_seq"),
    )
    op.create_index("ix_registrations_meter_time", "registrations", ["meter_id", "time_us"])
    op.create_table(
        "rejections",
        sa.Column("rejection_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("received_us", sa.BigInteger, nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_table(
        "enable_codes",
        sa.Column("code_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("acked_seq", sa.BigInteger, nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("issued_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("credit_frame_s", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_enable_codes_meter", "enable_codes", ["meter_id", "code_id"])
    op.create_table(
        "alerts",
        sa.Column("alert_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("meter_id", sa.String(64), nullable=True),
        sa.Column("feeder", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("occurred_us", sa.BigInteger, nullable=False),
        sa.Column("raised_us", sa.BigInteger, nullable=False),
        sa.Column("acknowledged_us", sa.BigInteger, nullable=True),
        sa.Column("dedup_key", sa.String(200), nullable=False),
        sa.UniqueConstraint("dedup_key", name="uq_alerts_dedup"),
    )
    op.create_index("ix_alerts_meter", "alerts", ["meter_id", "alert_id"])
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("valid_from_us", sa.BigInteger, nullable=False),
        sa.Column("valid_to_us", sa.BigInteger, nullable=True),
        sa.Column("published_us", sa.BigInteger, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "schedule_deliveries",
        sa.Column("meter_id", sa.String(64), primary_key=True),
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("sent_us", sa.BigInteger, nullable=True),
        sa.Column("confirmed_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "power_events",
        sa.Column("event_id", _Id, primary_key=True, autoincrement=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("feeder", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("classified", sa.String(24), nullable=True),
        sa.UniqueConstraint("meter_id", "at_us", name="uq_power_events_meter_at"),
    )


def downgrade() -> None:
    """Drop every table of the first schema."""
    for table in (
        "power_events",
        "schedule_deliveries",
        "schedules",
        "alerts",
        "enable_codes",
        "rejections",
        "registrations",
        "uplinks",
        "meter_keys",
        "meters",
    ):
        op.drop_table(table)
