"""`usage-history`: per pool or application, for each period: the most
and the average users at once, distinct users, and hours used.

Users are cloud users for a pool (its seats) and host users for an
application. Hours count each user once while their sessions overlap,
so they equal the average concurrency times the period's length.
"""

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery, choose
from seatmeter.server.reports.periods import Periods, periods
from seatmeter.server.reports.pools import pools_for
from seatmeter.server.reports.rows import fetch
from seatmeter.server.reports.sweep import distinct_per_cell, levels, per_cell, split
from seatmeter.server.reports.use import Use, keyed_use, seat_sessions, seat_use

GROUP_BY = ("pool", "application")
GRANULARITIES = ("hour", "day", "week", "month", "all")
COLUMNS = [
    "period",
    "key",
    "product_pool_id",
    "max_concurrent",
    "avg_concurrent",
    "distinct_users",
    "hours",
]


def usage_history(session: Session, report: ReportQuery) -> Table:
    group_by = choose("group_by", report.group_by, GROUP_BY, "pool")
    granularity = choose("granularity", report.granularity, GRANULARITIES, "day")
    cut = periods(report.since, report.until, report.tz, granularity)
    use, keys, pool_ids = _use(session, report, group_by)
    items = _items(use, cut, keys, pool_ids, report)
    about = {"group_by": group_by, "granularity": granularity, **bounds(report)}
    return Table(items, COLUMNS, [list(item.values()) for item in items], about)


def bounds(report: ReportQuery) -> dict[str, Any]:
    return {
        "since": report.since.astimezone(report.tz),
        "until": report.until.astimezone(report.tz),
        "tz": report.tz.key,
    }


def _use(session: Session, report: ReportQuery, group_by: str) -> tuple[Use, list[str], list[Any]]:
    """The merged use per key, the keys' names and their pool ids."""
    if group_by == "application":
        rows = fetch(session, report, ("username", "application"))
        names = [str(name) for name in rows.labels["application"]]
        use = keyed_use(rows, rows.codes["application"], rows.codes["username"], len(names))
        return use, names, [None] * len(names)
    seats = seat_sessions(session, report)
    known = {pool.id: pool.name for pool in pools_for(session, report.filters, seats.pool_ids)}
    ids = [int(pool_id) for pool_id in seats.pool_ids]
    return seat_use(seats), [known.get(i, str(i)) for i in ids], ids


def _items(
    use: Use, cut: Periods, keys: list[str], pool_ids: list[Any], report: ReportQuery
) -> list[dict[str, Any]]:
    count = len(cut)
    cells = len(keys) * count
    found = levels(use.intervals, cut.edges, len(keys))
    cell = found.group * count + found.period
    most = np.zeros(cells, dtype=np.int64)
    np.maximum.at(most, cell, found.level)
    used = per_cell(cell, cells, found.seconds * found.level)
    pieces = split(use.intervals.start, use.intervals.end, cut.edges)
    piece_cell = use.intervals.group[pieces.index] * count + pieces.period
    users = distinct_per_cell(piece_cell, use.member[pieces.index], cells)
    # One item per key and period with use: an aggregate, not a row.
    cell_used = np.flatnonzero(used > 0)
    key_of, period_of = np.divmod(cell_used, count)
    columns = zip(
        key_of.tolist(),
        period_of.tolist(),
        most[cell_used].tolist(),
        np.round(used[cell_used] / np.diff(cut.edges)[period_of], 6).tolist(),
        users[cell_used].tolist(),
        np.round(used[cell_used] / 3600, 6).tolist(),
        strict=True,
    )
    items = [
        {
            "period": cut.label(period),
            "key": keys[key],
            "product_pool_id": pool_ids[key],
            "max_concurrent": peak,
            "avg_concurrent": average,
            "distinct_users": distinct,
            "hours": hours_used,
        }
        for key, period, peak, average, distinct, hours_used in columns
    ]
    return sorted(items, key=lambda item: (item["period"], item["key"]))
