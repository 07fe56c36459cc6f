"""maintenance runs: when each daily task (session retention) last ran

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import seatmeter.server.db.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_runs",
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("last_run_at", seatmeter.server.db.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("task", name=op.f("pk_maintenance_runs")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_runs")
