"""`sessions`: the history grid, sorted, filtered and paged by the database.

Paging is by offset with a total, as a grid shows page numbers; the
sort always ends on the session id so that pages never overlap. The
total is counted only so far past the page (COUNT_AHEAD rows): a grid
needs the next pages, not an exact count of a million sessions, and
`total_exact` says whether the count stopped there.
"""

import functools
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from seatmeter.server.db import UTCDateTime
from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import Filters, ReportQuery, bad_parameter
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
    page, counted = _statements(report.filters, sort, session.get_bind().dialect.name)
    cap = offset + limit + COUNT_AHEAD
    values = {
        "since": report.since,
        "until": report.until,
        "cap": cap + 1,
        "limit": limit,
        "offset": offset,
    }
    # The count rides on the page's rows: one round trip, unless the
    # page is past the end and has no row to carry it.
    rows = session.connection().execute(page, values).all()
    total = rows[0][-1] if rows else session.connection().execute(counted, values).scalar()
    items = [_item(row, report) for row in rows]
    about = {
        "total": min(total or 0, cap),
        "total_exact": (total or 0) <= cap,
        "limit": limit,
        "offset": offset,
        "sort": sort,
        **bounds(report),
    }
    return Table(items, COLUMNS, [list(item.values()) for item in items], about)


@functools.lru_cache(maxsize=256)
def _statements(filters: Filters, sort: str, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """A grid's page and its count, built once for each filters, sort and
    database: the bounds, the count's cap and the page's place are bound
    at each request (since, until, cap, limit, offset).

    The count leaves out the joins, which only add names to the page,
    and stops at the cap."""
    since = bindparam("since", type_=UTCDateTime)
    until = bindparam("until", type_=UTCDateTime)
    ids = overlapping(filtered(select(UsageSession.id), filters), since, until, dialect)
    counted = select(func.count()).select_from(ids.limit(bindparam("cap")).subquery())
    page = (
        overlapping(filtered(_columns(), filters), since, until)
        .add_columns(counted.scalar_subquery())
        .order_by(*_order(sort), UsageSession.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
    return page, counted


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
    """A grid row from the page's columns, in _columns' order."""
    started, ended = row[5], row[6]
    return {
        "id": row[0],
        "username": row[1],
        "hostname": row[2],
        "application": row[3],
        "version": row[4],
        "started_at": started.astimezone(report.tz),
        "ended_at": ended.astimezone(report.tz) if ended else None,
        "hours": hours(((ended or report.now) - started).total_seconds()),
        "product_pool_id": row[7],
        "pool": row[8],
        "cloud_user": row[9],
    }
