"""entitlement generation: a counter that moves whenever what attribution
reads changes, so ingestion can keep what it loaded across batches

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04

Attribution reads active cloud users (identity), user mappings, active
pools and their applications, active assignments and the catalog.
Triggers bump the counter on any change to them, so no code path can
forget to. Columns no decision reads (last_seen, seat counts) are not
watched: a sync touches them on every row each time.

The counter starts at a value taken from the clock, not at 1, so that a
database made again under the same URL (tests, a reinstall) never shows
a process the value it kept from the old one.
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# table -> the changes to it that can change an attribution
WATCHED = {
    "cloud_users": ("INSERT", "UPDATE OF active, email, first_name, last_name", "DELETE"),
    "user_mappings": ("INSERT", "UPDATE", "DELETE"),
    "product_pools": ("INSERT", "UPDATE OF active, name", "DELETE"),
    "product_pool_applications": ("INSERT", "UPDATE", "DELETE"),
    "assignments": ("INSERT", "UPDATE OF active, cloud_user_id, product_pool_id", "DELETE"),
    "product_catalogs": ("INSERT", "UPDATE", "DELETE"),
}
BUMP = "UPDATE entitlement_generation SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "entitlement_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlement_generation")),
    )
    start = time.time_ns() // 1000
    op.execute(f"INSERT INTO entitlement_generation (id, value) VALUES (1, {start})")
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION bump_entitlement_generation() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
    for table, changes in WATCHED.items():
        for number, change in enumerate(changes):
            name = f"{table}_bumps_entitlements_{number}"
            if postgres:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {change} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION bump_entitlement_generation()"
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
            name = f"{table}_bumps_entitlements_{number}"
            op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION bump_entitlement_generation()")
    op.drop_table("entitlement_generation")
