from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, Index, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from seatmeter.server.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from seatmeter.server.agents.models import Agent
    from seatmeter.server.license_servers.models import LicenseServer

RULE_KINDS = ("all", "hostname", "os", "network")

agent_group_members = Table(
    "agent_group_members",
    Base.metadata,
    Column(
        "agent_group_id",
        ForeignKey("agent_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("agent_id", ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_agent_group_members_agent_id", "agent_id"),
)


class AgentGroup(Base):
    __tablename__ = "agent_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(1000), default="")
    # The group made on first start; selected on license servers created
    # without an explicit choice, whatever it has been renamed to since.
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rules: Mapped[list["AutoAssignRule"]] = relationship(
        cascade="all, delete-orphan", order_by="AutoAssignRule.id"
    )
    agents: Mapped[list["Agent"]] = relationship(
        secondary=agent_group_members, back_populates="groups"
    )
    license_servers: Mapped[list["LicenseServer"]] = relationship(
        secondary="license_server_agent_groups", back_populates="agent_groups"
    )


class AutoAssignRule(Base):
    """Places newly enrolled agents in a group: any matching rule admits."""

    __tablename__ = "auto_assign_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    agent_group_id: Mapped[int] = mapped_column(
        ForeignKey("agent_groups.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(String(255))
