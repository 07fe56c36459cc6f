"""The dashboard: what is in use now, and whether the parts are healthy.

Seats in use per pool, the top idle seats and the last 30 days of each
pool's most users at once come from the reports, as the report pages do.
"""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.agents.models import Agent
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import utcnow
from seatmeter.server.reports.current_usage import current_usage
from seatmeter.server.reports.seat_efficiency import seat_efficiency
from seatmeter.server.reports.usage_history import usage_history
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.settings import Settings
from seatmeter.web import charts
from seatmeter.web.auth import SignedIn
from seatmeter.web.pages.license_servers import all_servers
from seatmeter.web.pages.reports import raw_query
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

HISTORY_DAYS = 30
TOP_APPLICATIONS = 10
TOP_IDLE = 10


@router.get("/")
def dashboard(request: Request, _: SignedIn, db: Db, settings: Config) -> Response:
    with db.reading() as session:
        agents = _agents(session, settings)
        in_use = _in_use(session)
        per_day = _sessions_per_day(session)
        pools, idle, history = _reports(session, settings)
    return render(
        request,
        "dashboard.html",
        agents=agents,
        in_use=in_use,
        per_day=per_day,
        pools=pools,
        idle=idle,
        history=history,
        servers=all_servers(db),
    )


def _reports(session: Session, settings: Settings) -> tuple[Any, Any, Any]:
    """Seats in use per pool, the longest idle seats, and the history."""
    query = raw_query({}, settings.report_time_zone)
    pools = current_usage(session, query).items
    idle = [
        {"pool": item["pool"], **user}
        for item in seat_efficiency(session, query).items
        if item["product_pool_id"] is not None
        for user in item["idle_users"]
    ]
    # Never used first, then the longest unused.
    idle.sort(key=lambda user: (user["last_use"] != "never", str(user["last_use"])))
    history = charts.usage_history(session, usage_history(session, query))
    return pools, idle[:TOP_IDLE], history


def _agents(session: Session, settings: Settings) -> dict[str, int]:
    online_since = utcnow() - timedelta(seconds=2 * settings.agent_checkin_interval_s)
    total, online, monitoring = session.execute(
        select(
            func.count(),
            func.count().filter(Agent.last_seen >= online_since),
            func.count().filter(Agent.monitoring),
        ).select_from(Agent)
    ).one()
    return {"total": total, "online": online, "offline": total - online, "monitoring": monitoring}


def _in_use(session: Session) -> dict[str, Any]:
    """Active sessions by application and release, most used first."""
    name = UsageSession.application + " " + UsageSession.version
    rows = session.execute(
        select(name, func.count())
        .where(UsageSession.ended_at.is_(None))
        .group_by(UsageSession.application, UsageSession.version)
        .order_by(func.count().desc(), name)
    ).all()
    shown = rows[:TOP_APPLICATIONS]
    return {
        "total": sum(count for _, count in rows),
        "labels": [label for label, _ in shown],
        "datasets": [{"label": "active sessions", "data": [c for _, c in shown]}],
    }


def _sessions_per_day(session: Session) -> dict[str, Any]:
    today = utcnow().date()
    first = today - timedelta(days=HISTORY_DAYS - 1)
    day = func.date(UsageSession.started_at)
    counts = {
        str(value): count
        for value, count in session.execute(
            select(day, func.count())
            .where(UsageSession.started_at >= utcnow() - timedelta(days=HISTORY_DAYS))
            .group_by(day)
        )
    }
    days = [str(first + timedelta(days=n)) for n in range(HISTORY_DAYS)]
    return {
        "labels": [d[5:] for d in days],
        "datasets": [{"label": "sessions started", "data": [counts.get(d, 0) for d in days]}],
    }
