"""the Default agent group, so that a fresh install monitors out of the box

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

A data migration rather than start-up code: it runs exactly once in the
life of a database, so an administrator who later deletes or renames the
group does not see it come back, and two servers starting together on an
empty PostgreSQL cannot both create it.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

groups = sa.table(
    "agent_groups",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("description", sa.String),
    sa.column("is_default", sa.Boolean),
    sa.column("created_at", sa.DateTime),
)
rules = sa.table(
    "auto_assign_rules",
    sa.column("agent_group_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
)
DESCRIPTION = "Every newly enrolled agent joins this group."


def upgrade() -> None:
    connection = op.get_bind()
    group_id = connection.scalar(sa.select(groups.c.id).where(groups.c.name == "Default"))
    if group_id is None:
        group_id = connection.scalar(
            groups.insert()
            .values(
                name="Default",
                description=DESCRIPTION,
                is_default=True,
                created_at=_now(connection.dialect.name),
            )
            .returning(groups.c.id)
        )
    else:
        connection.execute(groups.update().where(groups.c.id == group_id).values(is_default=True))
    connection.execute(rules.insert().values(agent_group_id=group_id, kind="all", value=None))


def downgrade() -> None:
    connection = op.get_bind()
    default = sa.select(groups.c.id).where(groups.c.is_default).scalar_subquery()
    connection.execute(rules.delete().where(rules.c.agent_group_id == default))
    connection.execute(groups.update().values(is_default=False))


def _now(dialect: str) -> datetime:
    # The same storage rule as UTCDateTime: naive UTC on SQLite.
    now = datetime.now(UTC)
    return now if dialect == "postgresql" else now.replace(tzinfo=None)
