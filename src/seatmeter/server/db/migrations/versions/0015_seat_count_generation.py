"""seat count generation: a pool's seats and license server move the
entitlement generation too

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04

current-usage keeps each pool's name, license server, seats and active
assignment count by entitlement generation, so it reads them only after
a change. Migration 0013 had the generation watch only what attribution
reads of a pool (active, name). A sync writes a pool's seat counts only
when they change (the ORM leaves equal values out of its UPDATE), so
watching them costs one reload per real change.
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NAME = "product_pools_bumps_entitlements_1"
BUMP = "UPDATE entitlement_generation SET value = value + 1 WHERE id = 1"
BEFORE = "UPDATE OF active, name"
AFTER = "UPDATE OF active, name, total_seats, license_server_id"


def upgrade() -> None:
    _watch(AFTER)


def downgrade() -> None:
    _watch(BEFORE)


def _watch(change: str) -> None:
    """Make the pool update trigger of 0013 fire on `change`."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {NAME} ON product_pools")
        op.execute(
            f"CREATE TRIGGER {NAME} AFTER {change} ON product_pools "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_entitlement_generation()"
        )
    else:
        op.execute(f"DROP TRIGGER {NAME}")
        op.execute(
            f"CREATE TRIGGER {NAME} AFTER {change} ON product_pools FOR EACH ROW BEGIN {BUMP}; END"
        )
