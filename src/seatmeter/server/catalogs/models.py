from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.orm import Mapped, mapped_column

from seatmeter.server.db import Base, UTCDateTime, utcnow


class ProductCatalog(Base):
    """A catalog uploaded by an administrator; the highest revision wins
    over the one shipped with the package when it is newer."""

    __tablename__ = "product_catalogs"

    revision: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
