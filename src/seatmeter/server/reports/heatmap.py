"""`heatmap`: hours of use per user and day (or hour), for a chart.

The cells are those of usage-per-user by user at day or hour
granularity; each item is one cell with use.
"""

from sqlalchemy.orm import Session

from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery, choose
from seatmeter.server.reports.periods import periods
from seatmeter.server.reports.usage_history import bounds
from seatmeter.server.reports.usage_per_user import keyed, per_key

GRANULARITIES = ("day", "hour")
COLUMNS = ["key", "period", "hours"]


def heatmap(session: Session, report: ReportQuery) -> Table:
    granularity = choose("granularity", report.granularity, GRANULARITIES, "day")
    group_by = choose("group_by", report.group_by, ("user", "host"), "user")
    cut = periods(report.since, report.until, report.tz, granularity)
    cells = per_key(keyed(session, report, group_by), cut, report, detail=False)
    rows = list(zip(cells.key, cells.period, cells.hours, strict=True))
    items = [{"key": key, "period": period, "hours": hours} for key, period, hours in rows]
    keys = sorted(set(cells.key))
    about = {"granularity": granularity, "group_by": group_by, "keys": keys, **bounds(report)}
    return Table(items, COLUMNS, rows, about)
