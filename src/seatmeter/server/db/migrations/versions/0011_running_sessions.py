"""running sessions and active assignments: partial indexes for now

current-usage asks what runs now: a few thousand sessions among
millions. Through the index on ended_at each one is a lookup into the
table, and sorting them by start is a second pass; a partial index of
the running sessions alone, in start order and holding every column
the report shows, answers without touching the table. The same for
counting each pool's active assignments.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from alembic import op
from sqlalchemy import text

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RUNNING_COLUMNS = [
    "started_at",
    "id",
    "product_pool_id",
    "cloud_user_id",
    "username",
    "hostname",
    "application",
    "version",
    "ended_at",
]


def upgrade() -> None:
    running = text("ended_at IS NULL")
    op.create_index(
        "ix_sessions_running",
        "sessions",
        RUNNING_COLUMNS,
        sqlite_where=running,
        postgresql_where=running,
    )
    op.create_index(
        "ix_assignments_active_pool",
        "assignments",
        ["product_pool_id"],
        sqlite_where=text("active = 1"),
        postgresql_where=text("active"),
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_active_pool", table_name="assignments")
    op.drop_index("ix_sessions_running", table_name="sessions")
