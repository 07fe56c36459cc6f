from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, UTCDateTime, utcnow


class UserMapping(Base):
    """An administrator's statement that a host user is a cloud user.

    Many-to-many on purpose: a shared admin account is several people,
    and one person holds cloud users on several license servers.
    """

    __tablename__ = "user_mappings"
    __table_args__ = (UniqueConstraint("host_user_key", "cloud_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # As the administrator typed it, e.g. CORP\jdoe.
    host_user: Mapped[str] = mapped_column(String(255))
    # Lower case, for matching: Windows account names ignore case.
    host_user_key: Mapped[str] = mapped_column(String(255), index=True)
    cloud_user_id: Mapped[int] = mapped_column(
        ForeignKey("cloud_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PoolApplications(Base):
    """The applications a product pool entitles, as an administrator set
    them; pools without a row follow the name rules in products.py."""

    __tablename__ = "product_pool_applications"

    product_pool_id: Mapped[int] = mapped_column(
        ForeignKey("product_pools.id", ondelete="CASCADE"), primary_key=True
    )
    applications: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EntitlementGeneration(Base):
    """One row whose value moves, by trigger, whenever a change to cloud
    users, mappings, pools, their applications, assignments or catalogs
    could change an attribution, or a pool's seats (migrations 0013 and
    0015)."""

    __tablename__ = "entitlement_generation"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
