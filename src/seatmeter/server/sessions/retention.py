"""Session retention: forget sessions that ended long ago.

With `session_retention_days` above 0, the scheduler deletes sessions
(and their session events) that ended before the cutoff, at most once a
day. Several server processes may run the scheduler over one database:
the day's run is claimed by one conditional UPDATE of its row in
`maintenance_runs`, which only one transaction can win. The claim is
made before the work, so a process that dies halfway leaves the rest
to the next day's run. Deletion goes in bounded batches, each its own
transaction, so that ingestion is never locked out for long (on SQLite
the writer is one at a time). Sessions still open are never deleted.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from seatmeter.server.db import Database, utcnow
from seatmeter.server.sessions.models import MaintenanceRun, SessionEvent, UsageSession

log = logging.getLogger(__name__)

TASK = "session_retention"
EVERY = timedelta(days=1)
BATCH = 1000


def run_if_due(database: Database, retention_days: int, now: datetime | None = None) -> int:
    """Delete what the setting says is too old, if today's run is ours;
    returns how many sessions went."""
    if retention_days <= 0:
        return 0
    now = now or utcnow()
    if not claim(database, now):
        return 0
    cutoff = now - timedelta(days=retention_days)
    deleted = delete_ended_before(database, cutoff)
    if deleted:
        log.info("session retention: deleted %d session(s) ended before %s", deleted, cutoff)
    return deleted


def claim(database: Database, now: datetime) -> bool:
    """True for the one process that gets today's run."""
    with database.writing() as session:
        won = session.execute(
            update(MaintenanceRun)
            .where(MaintenanceRun.task == TASK, MaintenanceRun.last_run_at <= now - EVERY)
            .values(last_run_at=now)
        )
    if won.rowcount == 1:  # type: ignore[attr-defined]
        return True
    return _claim_first(database, now)


def _claim_first(database: Database, now: datetime) -> bool:
    # No row yet: the first to insert it wins; the primary key refuses
    # the others.
    with database.reading() as session:
        if session.get(MaintenanceRun, TASK) is not None:
            return False
    try:
        with database.writing() as session:
            session.execute(insert(MaintenanceRun).values(task=TASK, last_run_at=now))
    except IntegrityError:
        return False
    return True


def delete_ended_before(database: Database, cutoff: datetime, batch: int = BATCH) -> int:
    deleted = 0
    while True:
        with database.writing() as session:
            ids = list(
                session.scalars(
                    select(UsageSession.id)
                    .where(UsageSession.ended_at < cutoff)
                    .order_by(UsageSession.id)
                    .limit(batch)
                )
            )
            if not ids:
                return deleted
            # Explicit: SQLite enforces ON DELETE CASCADE only when told to.
            session.execute(delete(SessionEvent).where(SessionEvent.session_id.in_(ids)))
            session.execute(delete(UsageSession).where(UsageSession.id.in_(ids)))
        deleted += len(ids)
