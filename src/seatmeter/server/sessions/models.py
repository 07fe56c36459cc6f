from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, BigId, UTCDateTime, utcnow

SOURCES = ("process", "legacy", "import")
# How a session was attributed (usage/attribution.py); null: not yet.
ATTRIBUTIONS = ("pool", "unassigned", "unmapped")

# What current-usage shows of a running session, oldest first, and the
# column that makes it running (SQLite covers a query only with it).
RUNNING_COLUMNS = (
    "started_at",
    "id",
    "product_pool_id",
    "cloud_user_id",
    "username",
    "hostname",
    "application",
    "version",
    "ended_at",
)


class UsageSession(Base):
    """A session: named so as not to be mistaken for a database session."""

    __tablename__ = "sessions"
    __table_args__ = (
        UniqueConstraint("agent_id", "agent_session_id"),
        Index("ix_sessions_started_at", "started_at"),
        Index("ix_sessions_ended_at", "ended_at"),
        Index("ix_sessions_hostname", "hostname"),
        Index("ix_sessions_username", "username"),
        # Attribution finds a (host user, application) pair's sessions.
        Index("ix_sessions_username_application", "username", "application"),
        # Ingestion finds a batch's sessions by key alone (migration 0010).
        Index("ix_sessions_agent_session_id", "agent_session_id"),
        # A cloud user's sessions in one pool (migration 0014): the last
        # use of a pool's idle holders, and use that no pool covers.
        Index("ix_sessions_pool_user", "product_pool_id", "cloud_user_id", "ended_at"),
        # current-usage reads the running sessions from this alone
        # (migration 0011): a few thousand rows however long the history.
        Index(
            "ix_sessions_running",
            *RUNNING_COLUMNS,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    # The agent's own key for the session, so its events find the row.
    agent_session_id: Mapped[str | None] = mapped_column(String(64))
    # Set on imported sessions, so that importing twice changes nothing.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    hostname: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255))
    application: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    product_pool_id: Mapped[int | None] = mapped_column(
        ForeignKey("product_pools.id", ondelete="SET NULL")
    )
    cloud_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("cloud_users.id", ondelete="SET NULL")
    )
    attribution: Mapped[str | None] = mapped_column(String(16))


class SessionEvent(Base):
    """One start or stop reported by an agent, kept to make resends no-ops."""

    __tablename__ = "session_events"
    # Ingestion finds a batch's events by event id alone (migration 0010).
    __table_args__ = (Index("ix_session_events_event_id", "event_id"),)

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MaintenanceRun(Base):
    """When a daily task last started; claiming it is the guard."""

    __tablename__ = "maintenance_runs"

    task: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
