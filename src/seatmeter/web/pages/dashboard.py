"""The dashboard: what is in use now, and whether the parts are healthy.

Seats in use per product pool, top idle seats and the usage history come
with the reports; the blocks for them are in the template, marked later.
"""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.agents.models import Agent
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import utcnow
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.settings import Settings
from seatmeter.web.auth import SignedIn
from seatmeter.web.pages.license_servers import all_servers
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

HISTORY_DAYS = 30
TOP_APPLICATIONS = 10


@router.get("/")
def dashboard(request: Request, _: SignedIn, db: Db, settings: Config) -> Response:
    with db.reading() as session:
        agents = _agents(session, settings)
        in_use = _in_use(session)
        per_day = _sessions_per_day(session)
    return render(
        request,
        "dashboard.html",
        agents=agents,
        in_use=in_use,
        per_day=per_day,
        servers=all_servers(db),
    )


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
