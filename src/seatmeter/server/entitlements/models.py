from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, UTCDateTime, utcnow


class ProductPool(Base):
    """A team's seats for one product or collection."""

    __tablename__ = "product_pools"
    __table_args__ = (UniqueConstraint("license_server_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE")
    )
    # As Autodesk gives it; only List Product Pools is a valid source.
    product_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    # Null when unlimited, and the assigned count may be null on a
    # future-dated pool: null never means zero.
    total_seats: Mapped[int | None] = mapped_column()
    assigned_seats: Mapped[int | None] = mapped_column()
    unlimited: Mapped[bool] = mapped_column(default=False)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cost_per_seat: Mapped[float | None] = mapped_column(Float)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)


class CloudUser(Base):
    """A person on the Autodesk team."""

    __tablename__ = "cloud_users"
    __table_args__ = (
        UniqueConstraint("license_server_id", "autodesk_id"),
        Index("ix_cloud_users_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE")
    )
    autodesk_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)


class Assignment(Base):
    """A cloud user's hold on a seat of a pool, with when it was seen."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("cloud_user_id", "product_pool_id"),
        # Counting a pool's assigned seats reads only this (migration 0011).
        Index(
            "ix_assignments_active_pool",
            "product_pool_id",
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    license_server_id: Mapped[int] = mapped_column(
        ForeignKey("license_servers.id", ondelete="CASCADE"), index=True
    )
    cloud_user_id: Mapped[int] = mapped_column(ForeignKey("cloud_users.id", ondelete="CASCADE"))
    product_pool_id: Mapped[int] = mapped_column(
        ForeignKey("product_pools.id", ondelete="CASCADE"), index=True
    )
    # The effective type Autodesk reports: DIRECT, or inherited.
    assignment_type: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
    # When a sync first found it gone; null while it is held.
    unassigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Autodesk's own usage figures, known only from a usage-report import.
    days_used: Mapped[int | None] = mapped_column()
    last_accessed: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PoolSeatCount(Base):
    """A pool's seat counts from the moment a sync saw them change."""

    __tablename__ = "product_pool_seat_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_pool_id: Mapped[int] = mapped_column(
        ForeignKey("product_pools.id", ondelete="CASCADE"), index=True
    )
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    total_seats: Mapped[int | None] = mapped_column()
    assigned_seats: Mapped[int | None] = mapped_column()
    unlimited: Mapped[bool] = mapped_column(default=False)
