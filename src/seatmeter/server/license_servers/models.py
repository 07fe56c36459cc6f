from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Column, Float, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from seatmeter.server.db import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from seatmeter.server.agent_groups.models import AgentGroup

TYPES = ("autodesk",)
STATUSES = ("never", "up", "down", "unauthorized")
AUTODESK_API = "https://developer.api.autodesk.com"

license_server_agent_groups = Table(
    "license_server_agent_groups",
    Base.metadata,
    Column(
        "license_server_id",
        ForeignKey("license_servers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # No cascade: a selected group must be unselected before it goes.
    Column("agent_group_id", ForeignKey("agent_groups.id"), primary_key=True),
)


class LicenseServer(Base):
    """An Autodesk team, read through the Team Admin API."""

    __tablename__ = "license_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), default="autodesk")
    name: Mapped[str] = mapped_column(String(100), unique=True)
    team_id: Mapped[str] = mapped_column(String(64))
    api_base_url: Mapped[str] = mapped_column(String(500), default=AUTODESK_API)
    client_id: Mapped[str | None] = mapped_column(String(200))
    # Secrets are Fernet-encrypted with the server's key (see secrets.py).
    client_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    poll_interval_s: Mapped[int] = mapped_column(default=900)
    enabled: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(16), default="never")
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The last successful sync, for the status page.
    last_sync_duration_s: Mapped[float | None] = mapped_column(Float)
    last_sync_pools: Mapped[int | None] = mapped_column()
    last_sync_users: Mapped[int | None] = mapped_column()
    last_sync_assignments: Mapped[int | None] = mapped_column()
    # Held by the one process running this server's sync (see sync.py).
    sync_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sync_lease_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agent_groups: Mapped[list["AgentGroup"]] = relationship(
        secondary=license_server_agent_groups, back_populates="license_servers"
    )
