from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from seatmeter.server.db import Base, BigId, UTCDateTime, utcnow

if TYPE_CHECKING:
    from seatmeter.server.agent_groups.models import AgentGroup


class Agent(Base):
    """A workstation agent, identified by the id it generated itself."""

    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_hostname", "hostname"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    os: Mapped[str] = mapped_column(String(32))
    agent_version: Mapped[str] = mapped_column(String(32))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Server clock minus agent clock, measured at the last check-in.
    clock_offset_s: Mapped[float] = mapped_column(Float, default=0.0)
    # What the agent was told at its last check-in, for troubleshooting.
    monitoring: Mapped[bool] = mapped_column(default=False)
    catalog_revision: Mapped[int | None] = mapped_column()
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    groups: Mapped[list["AgentGroup"]] = relationship(
        secondary="agent_group_members", back_populates="agents"
    )


class MonitoringGeneration(Base):
    """One row whose value moves, by trigger, whenever a change to groups,
    selections, license servers or catalogs could change what agents are
    told (migration 0009). Memberships are read at each check-in."""

    __tablename__ = "monitoring_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class AgentChange(Base):
    """An agent whose standing changed: written by triggers (migration
    0012) so that every process's kept standings learn of it."""

    __tablename__ = "agent_changes"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64))
