"""`current-usage`: per pool, seats, assigned, in use now, and the
sessions running now that are attributed to it.

In use counts distinct cloud users, so one person running two
applications of a collection holds one seat. The report's since and
until do not apply: it is about now.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery
from seatmeter.server.reports.pools import allowed
from seatmeter.server.reports.rows import filtered
from seatmeter.server.sessions.models import UsageSession

COLUMNS = ["product_pool_id", "pool", "seats", "assigned", "in_use", "sessions"]


def current_usage(session: Session, report: ReportQuery) -> Table:
    running = _running(session, report)
    items, rows = [], []
    for pool_id, name, seats, assigned in _pools(session, report, running):
        mine = running.get(pool_id, [])
        users = {row["cloud_user_id"] or row["username"] for row in mine}
        item = {
            "product_pool_id": pool_id,
            "pool": name,
            "seats": seats,
            "assigned": assigned,
            "in_use": len(users),
            "sessions": mine,
        }
        items.append(item)
        rows.append([pool_id, name, seats, assigned, len(users), len(mine)])
    about = {"at": report.now.astimezone(report.tz), "tz": report.tz.key}
    return Table(items, COLUMNS, rows, about)


def _pools(
    session: Session, report: ReportQuery, running: dict[int, Any]
) -> Sequence[Row[int, str, int, int]]:
    """The pools the report shows, with their active assignments."""
    assigned = (
        select(func.count())
        .where(Assignment.product_pool_id == ProductPool.id, Assignment.active)
        .scalar_subquery()
    )
    query = (
        select(ProductPool.id, ProductPool.name, ProductPool.total_seats, assigned)
        .where(*allowed(report.filters, running))
        .order_by(ProductPool.id)
    )
    return session.execute(query).all()


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


_RUNNING_NOW = (
    select(*[getattr(CloudUser if n == "email" else UsageSession, n) for n in RUNNING])
    .outerjoin(CloudUser, CloudUser.id == UsageSession.cloud_user_id)
    .where(UsageSession.ended_at.is_(None), UsageSession.product_pool_id.is_not(None))
    .where(UsageSession.started_at <= bindparam("now"))
    .order_by(UsageSession.started_at, UsageSession.id)
    # SQLite's statistics make ended_at's index look better (one row per
    # value, it assumes); the running sessions' own is ten times faster.
    .with_hint(UsageSession, "INDEXED BY ix_sessions_running", "sqlite")
)


def _running(session: Session, report: ReportQuery) -> dict[int, list[dict[str, Any]]]:
    """The sessions running now, per pool id, oldest first: the driver's
    rows in one pass, as a thousand ORM mappings cost more than the query."""
    query = filtered(_RUNNING_NOW, report.filters)
    result = session.connection().execute(query, {"now": report.now})
    found = result.cursor.fetchall()
    result.close()
    per_pool: dict[int, list[dict[str, Any]]] = defaultdict(list)
    as_text = bool(found) and isinstance(found[0][-1], str)
    tz = report.tz
    for row in found:
        running = dict(zip(RUNNING, row, strict=True))
        started = running["started_at"]
        if as_text:  # SQLite's driver gives UTC text
            started = datetime.fromisoformat(started + "+00:00")
        running["started_at"] = started.astimezone(tz)
        per_pool[row[1]].append(running)
    return per_pool
