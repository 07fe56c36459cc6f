"""`/api/v1/reports/{name}`: every report, in JSON, CSV or XLSX.

Shared parameters are read by parameters.RawQuery; each report takes
the choices it understands (group_by, granularity) and refuses others
with a 400 that names the parameter.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from seatmeter.server.accounts.auth import Reader
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Config, Db
from seatmeter.server.reports.current_usage import current_usage
from seatmeter.server.reports.formats import Table, render
from seatmeter.server.reports.heatmap import heatmap
from seatmeter.server.reports.parameters import RawQuery, ReportQuery, bad_parameter
from seatmeter.server.reports.seat_efficiency import seat_efficiency
from seatmeter.server.reports.sessions_grid import paging, sessions_grid
from seatmeter.server.reports.usage_history import usage_history
from seatmeter.server.reports.usage_per_user import usage_per_user
from seatmeter.server.reports.utilization import utilization

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], route_class=StrictRoute)

Compute = Callable[[Session, ReportQuery], Table]
REPORTS: dict[str, Compute] = {
    "current-usage": current_usage,
    "usage-history": usage_history,
    "utilization": utilization,
    "usage-per-user": usage_per_user,
    "seat-efficiency": seat_efficiency,
    "heatmap": heatmap,
}
NAMES = (*REPORTS, "sessions")


def clock() -> datetime:
    """Now, as a dependency, so that tests can fix it."""
    return datetime.now(UTC)


@router.get("/{name}", response_model=None)
def report(
    name: str,
    _: Reader,
    db: Db,
    config: Config,
    now: Annotated[datetime, Depends(clock)],
    raw: RawQuery = Depends(),
    sort: str = Query("-started_at", description="sessions: a column, - for descending"),
    limit: str = Query("100", description="sessions: rows per page, at most 1000"),
    offset: str = Query("0", description="sessions: rows to skip"),
) -> Response:
    if name not in NAMES:
        raise bad_parameter("name", name, f"is not a report; use one of {', '.join(NAMES)}")
    query = raw.parse(config.report_time_zone, now)
    with db.reading() as session:
        if name == "sessions":
            table = sessions_grid(session, query, *paging(sort, limit, offset))
        else:
            table = REPORTS[name](session, query)
    log.debug("report %s: %d items", name, len(table.items))
    return render(name, table, query.format, query.tz)
