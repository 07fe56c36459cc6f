"""`sessions`: the history grid, sorted, filtered and paged by the database.

Paging is by offset with a total, as a grid shows page numbers; the
sort always ends on the session id so that pages never overlap. The
total is counted only so far past the page (COUNT_AHEAD rows): a grid
needs the next pages, not an exact count of a million sessions, and
`total_exact` says whether the count stopped there.
"""

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery, bad_parameter
from seatmeter.server.reports.periods import hours
from seatmeter.server.reports.rows import filtered, overlapping
from seatmeter.server.reports.usage_history import bounds
from seatmeter.server.sessions.models import UsageSession

SORTABLE = {
    "id": UsageSession.id,
    "started_at": UsageSession.started_at,
    "ended_at": UsageSession.ended_at,
    "username": UsageSession.username,
    "hostname": UsageSession.hostname,
    "application": UsageSession.application,
    "version": UsageSession.version,
}
COLUMNS = [
    "id",
    "username",
    "hostname",
    "application",
    "version",
    "started_at",
    "ended_at",
    "hours",
    "product_pool_id",
    "pool",
    "cloud_user",
]
MAX_LIMIT = 1000
# How many sessions past the page's end the total counts at most.
COUNT_AHEAD = 10_000


def sessions_grid(
    session: Session, report: ReportQuery, sort: str, limit: int, offset: int
) -> Table:
    base = overlapping(filtered(_columns(), report.filters), report)
    # Counted without the joins, which only add names to the page.
    dialect = session.get_bind().dialect.name
    counted = overlapping(filtered(select(UsageSession.id), report.filters), report, dialect)
    cap = offset + limit + COUNT_AHEAD
    total = session.scalar(select(func.count()).select_from(counted.limit(cap + 1).subquery()))
    query = base.order_by(*_order(sort), UsageSession.id).limit(limit).offset(offset)
    items = [_item(row, report) for row in session.execute(query).mappings()]
    about = {
        "total": min(total or 0, cap),
        "total_exact": (total or 0) <= cap,
        "limit": limit,
        "offset": offset,
        "sort": sort,
        **bounds(report),
    }
    return Table(items, COLUMNS, [list(item.values()) for item in items], about)


def paging(sort: str, limit: str, offset: str) -> tuple[str, int, int]:
    if sort.removeprefix("-") not in SORTABLE:
        raise bad_parameter("sort", sort, f"must be one of {', '.join(SORTABLE)}, or - before one")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise bad_parameter("limit", limit, f"must be a whole number from 1 to {MAX_LIMIT}")
    if not offset.isdigit() or int(offset) > 10**9:
        raise bad_parameter("offset", offset, "must be a whole number, 0 or more")
    return sort, int(limit), int(offset)


def _columns() -> Select[*tuple[Any, ...]]:
    return (
        select(
            UsageSession.id,
            UsageSession.username,
            UsageSession.hostname,
            UsageSession.application,
            UsageSession.version,
            UsageSession.started_at,
            UsageSession.ended_at,
            UsageSession.product_pool_id,
            ProductPool.name.label("pool"),
            CloudUser.email.label("cloud_user"),
        )
        .outerjoin(ProductPool, ProductPool.id == UsageSession.product_pool_id)
        .outerjoin(CloudUser, CloudUser.id == UsageSession.cloud_user_id)
    )


def _order(sort: str) -> list[Any]:
    column = SORTABLE[sort.removeprefix("-")]
    # Running sessions (no end yet) sort as the latest ends.
    if sort.startswith("-"):
        return [column.desc().nulls_first()]
    return [column.asc().nulls_last()]


def _item(row: Any, report: ReportQuery) -> dict[str, Any]:
    end = row["ended_at"] or report.now
    return {
        "id": row["id"],
        "username": row["username"],
        "hostname": row["hostname"],
        "application": row["application"],
        "version": row["version"],
        "started_at": row["started_at"].astimezone(report.tz),
        "ended_at": row["ended_at"].astimezone(report.tz) if row["ended_at"] else None,
        "hours": hours((end - row["started_at"]).total_seconds()),
        "product_pool_id": row["product_pool_id"],
        "pool": row["pool"],
        "cloud_user": row["cloud_user"],
    }
