"""`current-usage`: per pool, seats, assigned, in use now, and the
sessions running now that are attributed to it.

In use counts distinct cloud users, so one person running two
applications of a collection holds one seat. The report's since and
until do not apply: it is about now.
"""

from typing import Any

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
    used = {row["product_pool_id"] for row in running}
    assigned = assigned_counts(session)
    items, per_pool = [], []
    for pool in pools_for(session, report.filters, used):
        mine = [row for row in running if row["product_pool_id"] == pool.id]
        per_pool.append(mine)
        users = {row["cloud_user_id"] or row["username"] for row in mine}
        items.append(
            {
                "product_pool_id": pool.id,
                "pool": pool.name,
                "seats": pool.total_seats,
                "assigned": assigned.get(pool.id, 0),
                "in_use": len(users),
                "sessions": mine,
            }
        )
    counts = [len(mine) for mine in per_pool]
    rows = [[*list(item.values())[:5], count] for item, count in zip(items, counts, strict=True)]
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


def _running(session: Session, report: ReportQuery) -> list[dict[str, Any]]:
    query = (
        select(
            UsageSession.id,
            UsageSession.product_pool_id,
            UsageSession.cloud_user_id,
            CloudUser.email,
            UsageSession.username,
            UsageSession.hostname,
            UsageSession.application,
            UsageSession.version,
            UsageSession.started_at,
        )
        .outerjoin(CloudUser, CloudUser.id == UsageSession.cloud_user_id)
        .where(UsageSession.ended_at.is_(None), UsageSession.product_pool_id.is_not(None))
        .where(UsageSession.started_at <= report.now)
        .order_by(UsageSession.started_at, UsageSession.id)
    )
    found = session.execute(filtered(query, report.filters)).mappings().all()
    return [{**row, "started_at": row["started_at"].astimezone(report.tz)} for row in found]
