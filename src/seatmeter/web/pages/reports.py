"""Report pages: each report as a grid with filters, a chart where one
helps, and CSV/XLSX export that keeps the filters, sort and columns.

The numbers come from the report modules, called in-process as the
report API calls them; a report's table is small (one row per pool,
period or user), so sorting and paging happen here, over its rows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups.models import AgentGroup
from seatmeter.server.api.state import Config, Db
from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.errors import invalid
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.reports import formats
from seatmeter.server.reports.api import REPORTS
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import RawQuery, ReportQuery
from seatmeter.web import charts, grid
from seatmeter.web.auth import SignedIn
from seatmeter.web.grid import Column, Filter, Grid
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

Chart = Callable[[Session, Table], dict[str, Any] | None]


@dataclass(frozen=True)
class ReportPage:
    title: str
    about: str
    default_sort: str
    group_by: tuple[str, ...] = ()
    granularity: tuple[str, ...] = ()
    chart: Chart | None = None
    chart_type: str = "line"


PAGES: dict[str, ReportPage] = {
    "current-usage": ReportPage(
        "Current usage",
        "Per product pool: seats, assigned seats, seats in use now and the sessions behind them.",
        "in_use",
    ),
    "usage-history": ReportPage(
        "Usage history",
        "Per pool or application and period: the most users at once, the average, "
        "distinct users and hours used. The chart sets each pool's peak against its seats.",
        "period",
        group_by=("pool", "application"),
        granularity=("hour", "day", "week", "month", "all"),
        chart=charts.usage_history,
    ),
    "utilization": ReportPage(
        "Utilization",
        "Per pool: how long exactly N seats were in use at once over the report.",
        "n",
        chart=charts.utilization,
        chart_type="bar",
    ),
    "usage-per-user": ReportPage(
        "Usage per user",
        "Hours, sessions and days used per host user, host, both, or host group.",
        "hours",
        group_by=("user", "host", "user+host", "host-group"),
        granularity=("all", "day", "week", "month"),
    ),
    "seat-efficiency": ReportPage(
        "Seat efficiency",
        "Per pool: assigned users who did not use it, peak use, the seats it needs, "
        "and what idle seats cost where a cost per seat is set.",
        "idle_users",
    ),
    "heatmap": ReportPage(
        "Heatmap",
        "Hours used per user (or host) and day.",
        "period",
        group_by=("user", "host"),
        granularity=("day", "hour"),
    ),
}

LABELS = {
    "product_pool_id": "Pool id",
    "in_use": "In use now",
    "max_concurrent": "Most at once",
    "avg_concurrent": "Average at once",
    "n": "Seats in use (N)",
    "seconds": "Time at N (s)",
    "share": "Share of time",
}


@router.get("/reports")
def report_index(request: Request, _: SignedIn) -> Response:
    return render(request, "reports.html", pages=PAGES)


@router.get("/reports/{report}")
def report_page(request: Request, report: str, _: SignedIn, db: Db, config: Config) -> Response:
    page = _known(report)
    with db.reading() as session:
        table, query, shown, view = compute(request, session, report, config.report_time_zone)
        chart = page.chart(session, table) if page.chart else None
    rows = _sorted(table, view)
    start = (view.page - 1) * view.per_page
    return render(
        request,
        "report.html",
        page=page,
        name=report,
        grid=shown,
        view=view,
        rows=rows[start : start + view.per_page],
        total=len(rows),
        live=0,
        page_sizes=grid.PAGE_SIZES,
        chart=chart,
        heat=charts.heat(table) if report == "heatmap" else None,
        query=query,
        about=table.about,
        items=table.items,
    )


@router.get("/reports/{report}/export")
def report_export(
    request: Request, report: str, _: SignedIn, db: Db, config: Config, format: str = "csv"
) -> Response:
    _known(report)
    if format not in grid.FORMATS:
        raise invalid("format", format, "export as csv or xlsx")
    with db.reading() as session:
        table, query, _shown, view = compute(request, session, report, config.report_time_zone)
    rows = _sorted(table, view)
    chosen = Table(
        items=[],
        columns=list(view.columns),
        rows=[[row[key] for key in view.columns] for row in rows],
        about=table.about,
    )
    return formats.render(report, chosen, format, query.tz)


def _known(name: str) -> ReportPage:
    if name not in PAGES:
        raise invalid("report", name, f"open one of {', '.join(PAGES)}")
    return PAGES[name]


def compute(
    request: Request, session: Session, name: str, default_tz: str
) -> tuple[Table, ReportQuery, Grid, grid.View]:
    """The report for the filters asked, and the grid that shows it."""
    params = request.query_params
    filters = _filters(session, PAGES[name])
    probe = Grid(f"/reports/{name}", PAGES[name].title, (), filters, "", None)
    chosen = grid._filters(probe, params)
    query = raw_query(chosen, default_tz)
    table = REPORTS[name](session, query)
    shown = _grid(name, table, filters)
    return table, query, shown, grid.read_view(shown, params)


def raw_query(chosen: dict[str, str], default_tz: str) -> ReportQuery:
    """The report query of a page's checked filters; dates are local days."""
    tz = ZoneInfo(default_tz)
    since, until = chosen.get("since"), chosen.get("until")
    raw = RawQuery(
        since=_midnight(since, tz, 0) if since else None,
        until=_midnight(until, tz, 1) if until else None,
        tz=None,
        license_server_id=chosen.get("license_server_id"),
        product_pool_id=chosen.get("product_pool_id"),
        application=chosen.get("application"),
        username=chosen.get("username"),
        hostname=chosen.get("hostname"),
        user_group_id=None,
        host_group_id=chosen.get("host_group_id"),
        granularity=chosen.get("granularity"),
        group_by=chosen.get("group_by"),
        format="json",
    )
    return raw.parse(default_tz)


def _midnight(day: str, tz: ZoneInfo, days_after: int) -> str:
    moment = datetime.combine(date.fromisoformat(day) + timedelta(days=days_after), time(), tz)
    return moment.isoformat()


def _filters(session: Session, page: ReportPage) -> tuple[Filter, ...]:
    def any_(_: Any) -> Any:
        return None

    servers = session.execute(select(LicenseServer.id, LicenseServer.name)).all()
    pools = session.execute(select(ProductPool.id, ProductPool.name)).all()
    host_groups = session.execute(select(AgentGroup.id, AgentGroup.name)).all()
    filters = [
        Filter("since", "From", any_, kind="date"),
        Filter("until", "To (inclusive)", any_, kind="date"),
        Filter("license_server_id", "License server", any_, _choices(servers)),
        Filter("product_pool_id", "Pool", any_, _choices(pools)),
        Filter("application", "Application", any_),
        Filter("username", "Host user", any_),
        Filter("hostname", "Host", any_),
        Filter("host_group_id", "Host group", any_, _choices(host_groups)),
    ]
    if page.group_by:
        filters.append(Filter("group_by", "Group by", any_, _named(page.group_by)))
    if page.granularity:
        filters.append(Filter("granularity", "Period", any_, _named(page.granularity)))
    return tuple(filters)


def _choices(rows: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(row_id), f"{label} ({row_id})") for row_id, label in sorted(rows))


def _named(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((value, value) for value in values)


def _grid(name: str, table: Table, filters: tuple[Filter, ...]) -> Grid:
    columns = tuple(
        Column(key, LABELS.get(key, key.replace("_", " ").capitalize()), sort=True, kind=kind)
        for key, kind in zip(table.columns, _kinds(table), strict=True)
    )
    page = PAGES[name]
    sort = page.default_sort if page.default_sort in table.columns else table.columns[0]
    return Grid(f"/reports/{name}", page.title, columns, filters, sort, None)


def _kinds(table: Table) -> list[str]:
    kinds = []
    for index in range(len(table.columns)):
        values = [row[index] for row in table.rows if row[index] is not None]
        sample = values[0] if values else None
        if isinstance(sample, datetime):
            kinds.append("moment")
        elif isinstance(sample, int | float) and not isinstance(sample, bool):
            kinds.append("number")
        else:
            kinds.append("text")
    return kinds


def _sorted(table: Table, view: grid.View) -> list[grid.Row]:
    rows = [dict(zip(table.columns, row, strict=True)) for row in table.rows]

    def key(row: grid.Row) -> tuple[bool, Any]:
        value = row[view.sort]
        if isinstance(value, datetime):
            value = value.astimezone(UTC).timestamp()
        elif isinstance(value, date):
            value = value.toordinal()
        return (value is None, value if isinstance(value, int | float) else str(value or ""))

    try:
        return sorted(rows, key=key, reverse=view.descending)
    except TypeError:
        return sorted(rows, key=lambda row: str(row[view.sort]), reverse=view.descending)
