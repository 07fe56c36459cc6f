"""ingestion lookups: session events and sessions by the agent's own key

Ingestion looks up a batch's event ids and session keys. The unique
keys start with agent_id, and PostgreSQL, when its statistics say an
agent has few rows (a new agent, or any agent between two ANALYZEs),
walks all of that agent's rows and filters them instead of looking up
each key: a batch cost grew with the agent's history. An index on the
key alone leaves no such choice.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_session_events_event_id"), "session_events", ["event_id"])
    op.create_index(op.f("ix_sessions_agent_session_id"), "sessions", ["agent_session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sessions_agent_session_id"), table_name="sessions")
    op.drop_index(op.f("ix_session_events_event_id"), table_name="session_events")
