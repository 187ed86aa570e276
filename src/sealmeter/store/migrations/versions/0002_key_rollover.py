"""Key rollover state per meter: an opaque, sealed-by-the-head-end blob (NULL when none).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add meters.rollover (the head-end's key rollover state of the meter, or NULL)."""
    with op.batch_alter_table("meters") as batch:
        batch.add_column(sa.Column("rollover", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    """Drop meters.rollover."""
    with op.batch_alter_table("meters") as batch:
        batch.drop_column("rollover")
