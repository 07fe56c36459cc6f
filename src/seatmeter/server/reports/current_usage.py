"""`current-usage`: per pool, seats, assigned, in use now, and the
sessions running now that are attributed to it.

In use counts distinct cloud users, so one person running two
applications of a collection holds one seat. The report's since and
until do not apply: it is about now.
"""

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery
from seatmeter.server.reports.pools import pools_for
from seatmeter.server.reports.rows import filtered
from seatmeter.server.sessions.models import UsageSession

COLUMNS = ["product_pool_id", "pool", "seats", "assigned", "in_use", "sessions"]


def current_usage(session: Session, report: ReportQuery) -> Table:
    running = _running(session, report)
    assigned = assigned_counts(session)
    items, rows = [], []
    for pool in pools_for(session, report.filters, running):
        mine = running.get(pool.id, [])
        users = {row["cloud_user_id"] or row["username"] for row in mine}
        item = {
            "product_pool_id": pool.id,
            "pool": pool.name,
            "seats": pool.total_seats,
            "assigned": assigned.get(pool.id, 0),
            "in_use": len(users),
            "sessions": mine,
        }
        items.append(item)
        rows.append([*list(item.values())[:5], len(mine)])
    about = {"at": report.now.astimezone(report.tz), "tz": report.tz.key}
    return Table(items, COLUMNS, rows, about)


def assigned_counts(session: Session) -> dict[int, int]:
    """Active assignments per pool id."""
    query = (
        select(Assignment.product_pool_id, func.count())
        .where(Assignment.active)
        .group_by(Assignment.product_pool_id)
    )
    return {pool_id: count for pool_id, count in session.execute(query)}


RUNNING = (
    "id",
    "product_pool_id",
    "cloud_user_id",
    "email",
    "username",
    "hostname",
    "application",
    "version",
    "started_at",
)


def _running(session: Session, report: ReportQuery) -> dict[int, list[dict[str, Any]]]:
    """The sessions running now, per pool id, oldest first: the driver's
    rows in one pass, as a thousand ORM mappings cost more than the query."""
    query = (
        select(*[CloudUser.email if name == "email" else _column(name) for name in RUNNING])
        .outerjoin(CloudUser, CloudUser.id == UsageSession.cloud_user_id)
        .where(UsageSession.ended_at.is_(None), UsageSession.product_pool_id.is_not(None))
        .where(UsageSession.started_at <= report.now)
        .order_by(UsageSession.started_at, UsageSession.id)
    )
    result = session.connection().execute(filtered(query, report.filters))
    found = result.cursor.fetchall()
    result.close()
    per_pool: dict[int, list[dict[str, Any]]] = defaultdict(list)
    local = _local_from_text if found and isinstance(found[0][-1], str) else _local
    tz = report.tz
    for row in found:
        running = dict(zip(RUNNING, row, strict=True))
        running["started_at"] = local(running["started_at"], tz)
        per_pool[running["product_pool_id"]].append(running)
    return per_pool


def _local(started: datetime, tz: ZoneInfo) -> datetime:
    return started.astimezone(tz)


def _local_from_text(started: str, tz: ZoneInfo) -> datetime:
    """A start as SQLite's driver gives it, UTC text, in the zone."""
    return datetime.fromisoformat(started + "+00:00").astimezone(tz)


def _column(name: str) -> Any:
    return getattr(UsageSession, name)
