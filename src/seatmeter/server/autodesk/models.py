"""The connector's own records: OAuth consents in flight and sync runs."""

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, UTCDateTime, utcnow

SYNC_STATUSES = ("running", "ok", "failed")


class OAuthState(Base):
    """One consent an administrator started: the `state` is its proof.

    Only a hash of the state is kept, so a database reader cannot finish
    someone else's consent; the PKCE verifier is sealed like any secret.
    """

    __tablename__ = "autodesk_oauth_states"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE"), index=True
    )
    # The token or account that asked, for the log and the audit.
    requested_by: Mapped[str] = mapped_column(String(200))
    redirect_uri: Mapped[str] = mapped_column(String(600))
    code_verifier_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncRun(Base):
    """One sync of a license server: when, how it ended, what it cost."""

    __tablename__ = "autodesk_syncs"

    id: Mapped[int] = mapped_column(primary_key=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE"), index=True
    )
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)
    calls: Mapped[int] = mapped_column(default=0)
    pools: Mapped[int | None] = mapped_column()
    users: Mapped[int | None] = mapped_column()
    assignments: Mapped[int | None] = mapped_column()
    changes: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)


class ReclaimRecord(Base):
    """One seat reclaim tried in Autodesk: who asked, what, how it went."""

    __tablename__ = "autodesk_reclaims"

    id: Mapped[int] = mapped_column(primary_key=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE"), index=True
    )
    # No foreign keys: the audit outlives the rows it names.
    cloud_user_id: Mapped[int] = mapped_column()
    product_pool_id: Mapped[int] = mapped_column()
    autodesk_id: Mapped[str] = mapped_column(String(100))
    product_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    requested_by: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
