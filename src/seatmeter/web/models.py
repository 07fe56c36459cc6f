from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, UTCDateTime, utcnow


class WebSession(Base):
    """A person signed in to the web UI, kept in the database so that
    every server process sharing it knows the sign-in.

    Only a SHA-256 of the cookie is stored, as for API tokens: the cookie
    is 256 random bits, and a database dump must not sign anyone in.
    """

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Sent back in every form and htmx request; a forged request lacks it.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
