"""identity mappings, pool applications and session attribution

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Existing sessions get a null attribution ("not yet attributed") until the next attribution run.
"""

import sqlalchemy as sa
from alembic import op

import seatmeter.server.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_user", sa.String(length=255), nullable=False),
        sa.Column("host_user_key", sa.String(length=255), nullable=False),
        sa.Column("cloud_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", seatmeter.server.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cloud_user_id"],
            ["cloud_users.id"],
            name=op.f("fk_user_mappings_cloud_user_id_cloud_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_mappings")),
        sa.UniqueConstraint(
            "host_user_key", "cloud_user_id", name=op.f("uq_user_mappings_host_user_key")
        ),
    )
    with op.batch_alter_table("user_mappings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_mappings_cloud_user_id"), ["cloud_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_user_mappings_host_user_key"), ["host_user_key"], unique=False
        )

    op.create_table(
        "product_pool_applications",
        sa.Column("product_pool_id", sa.Integer(), nullable=False),
        sa.Column("applications", sa.JSON(), nullable=False),
        sa.Column("updated_at", seatmeter.server.db.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_pool_id"],
            ["product_pools.id"],
            name=op.f("fk_product_pool_applications_product_pool_id_product_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_pool_id", name=op.f("pk_product_pool_applications")),
    )

    # A nullable column needs no table rebuild on SQLite.
    op.add_column("sessions", sa.Column("attribution", sa.String(length=16), nullable=True))
    op.create_index(
        "ix_sessions_username_application", "sessions", ["username", "application"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sessions_username_application", table_name="sessions")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("attribution")
    op.drop_table("product_pool_applications")
    with op.batch_alter_table("user_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_mappings_host_user_key"))
        batch_op.drop_index(batch_op.f("ix_user_mappings_cloud_user_id"))
    op.drop_table("user_mappings")
