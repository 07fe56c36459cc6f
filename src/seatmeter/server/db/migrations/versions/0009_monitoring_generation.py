"""monitoring generation: a counter that moves whenever what decides
monitoring changes, beyond an agent's own memberships (which each
check-in reads), so check-ins can trust a kept decision

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

Triggers bump the counter, so no code path that changes groups,
selections, license servers or catalogs can forget to. Memberships are
not watched: an enrolment joining a group would void every kept
decision, and each check-in reads its agent's groups anyway.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# table -> the changes to it that can change a decision or its reason
WATCHED = {
    "license_server_agent_groups": ("INSERT", "UPDATE", "DELETE"),
    "license_servers": ("INSERT", "UPDATE OF enabled, type, name", "DELETE"),
    "agent_groups": ("UPDATE OF name", "DELETE"),
    "product_catalogs": ("INSERT", "UPDATE", "DELETE"),
}
BUMP = "UPDATE monitoring_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "monitoring_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_generation")),
    )
    op.execute("INSERT INTO monitoring_generation (id, value) VALUES (1, 1)")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION bump_monitoring_generation() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
    for table, changes in WATCHED.items():
        for number, change in enumerate(changes):
            name = f"{table}_bumps_generation_{number}"
            if postgres:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {change} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION bump_monitoring_generation()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {change} ON {table} "
                    f"FOR EACH ROW BEGIN {BUMP}; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, changes in WATCHED.items():
        for number in range(len(changes)):
            name = f"{table}_bumps_generation_{number}"
            op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION bump_monitoring_generation()")
    op.drop_table("monitoring_generation")
