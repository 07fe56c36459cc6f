"""Database access: engine, transactions, schema and migrations."""

from seatmeter.server.db.base import Base, BigId, UTCDateTime, utcnow
from seatmeter.server.db.engine import Database

__all__ = ["Base", "BigId", "Database", "UTCDateTime", "utcnow"]
