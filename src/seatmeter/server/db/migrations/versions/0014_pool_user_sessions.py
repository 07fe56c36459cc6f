"""pool user sessions: a cloud user's sessions in one pool, by index

seat-efficiency lists the idle holders of each pool with their last use
ever, and the use no pool covers. Both read a few sessions among all, and
without this index each was a scan of the whole table (a fifth of a
second per million sessions on SQLite).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_sessions_pool_user"),
        "sessions",
        ["product_pool_id", "cloud_user_id", "ended_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sessions_pool_user"), table_name="sessions")
