"""agent changes: a log of agents whose standing changed, for the
standings each server process keeps between check-ins

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

Triggers write it, so no code path that changes an agent or its groups
can forget to. Not watched: last_seen and clock_offset_s, which every
heartbeat writes and no kept standing relies on (a check-in compares
the offset it measures with the stored one only to decide whether to
write it at once).
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

STANDING = (
    "credential_hash, hostname, os, agent_version, ip_address, "
    "monitoring, catalog_revision, problems"
)
# trigger name -> (the change, the row whose agent changed, table)
WATCHED = {
    "agents_log_change_0": (f"UPDATE OF {STANDING}", "NEW.id", "agents"),
    "agents_log_change_1": ("DELETE", "OLD.id", "agents"),
    "agent_group_members_log_change_0": ("INSERT", "NEW.agent_id", "agent_group_members"),
    "agent_group_members_log_change_1": ("DELETE", "OLD.agent_id", "agent_group_members"),
    "agent_group_members_log_change_2": ("UPDATE", "NEW.agent_id", "agent_group_members"),
}


def upgrade() -> None:
    op.create_table(
        "agent_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_agent_changes")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (change, row, table) in WATCHED.items():
        log = f"INSERT INTO agent_changes (agent_id) VALUES ({row})"
        if postgres:
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql "
                f"AS $$ BEGIN {log}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {change} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {change} ON {table} FOR EACH ROW BEGIN {log}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (_change, _row, table) in WATCHED.items():
        if postgres:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}()")
        else:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("agent_changes")
