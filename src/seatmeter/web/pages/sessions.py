"""Sessions: the active ones, refreshing themselves, and the history."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Select, or_, select

from seatmeter.server.api.state import Db
from seatmeter.server.db import utcnow
from seatmeter.server.sessions.models import UsageSession
from seatmeter.web import grid
from seatmeter.web.auth import SignedIn
from seatmeter.web.grid import Column, Filter, Grid, contains
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

# Seconds between the active grid's refreshes: seconds-fresh without
# loading the server (one indexed page read per open grid each time).
REFRESH_S = 3

S = UsageSession
COLUMNS = (
    Column("hostname", "Host", sort=S.hostname),
    Column("username", "Host user", sort=S.username),
    Column("application", "Application"),
    Column("version", "Release"),
    Column("started_at", "Started", sort=S.started_at, kind="moment"),
    Column("ended_at", "Ended", sort=S.ended_at, kind="moment"),
    Column("duration_s", "Duration", kind="duration"),
    Column("source", "Source", shown=False),
    Column("agent_id", "Agent", shown=False),
    Column("id", "Session id", sort=S.id, shown=False, kind="number"),
)
FILTERS = (
    Filter("hostname", "Host contains", contains(S.hostname)),
    Filter("username", "Host user contains", contains(S.username)),
    Filter("application", "Application contains", contains(S.application)),
)
RANGE = (
    Filter(
        "since",
        "Running after",
        lambda day: or_(S.ended_at.is_(None), S.ended_at > day),
        kind="date",
    ),
    Filter("until", "Started before", lambda day: S.started_at < day, kind="date"),
)

ACTIVE = Grid(
    path="/sessions/active",
    title="Active sessions",
    columns=tuple(c for c in COLUMNS if c.key != "ended_at"),
    filters=FILTERS,
    default_sort="started_at",
    tiebreak=S.id,
)
HISTORY = Grid(
    path="/sessions/history",
    title="Session history",
    columns=COLUMNS,
    filters=FILTERS + RANGE,
    default_sort="started_at",
    tiebreak=S.id,
)


@router.get("/sessions/active")
def active_sessions(request: Request, _: SignedIn, db: Db) -> Response:
    return _page(request, db, ACTIVE, live=REFRESH_S)


@router.get("/sessions/active/export")
def export_active(request: Request, _: SignedIn, db: Db, format: str = "csv") -> Response:
    return _export(request, db, ACTIVE, format, "active-sessions")


@router.get("/sessions/history")
def session_history(request: Request, _: SignedIn, db: Db) -> Response:
    return _page(request, db, HISTORY, live=0)


@router.get("/sessions/history/export")
def export_history(request: Request, _: SignedIn, db: Db, format: str = "csv") -> Response:
    return _export(request, db, HISTORY, format, "session-history")


def _page(request: Request, db: Db, shown: Grid, live: int) -> Response:
    view = grid.read_view(shown, request.query_params)
    with db.reading() as session:
        records, total = grid.select_page(session, view, _query(shown, view))
    return render(
        request,
        "sessions.html",
        grid=shown,
        view=view,
        rows=_rows(records, utcnow()),
        total=total,
        live=live,
        page_sizes=grid.PAGE_SIZES,
        max_export=grid.MAX_EXPORT_ROWS,
    )


def _export(request: Request, db: Db, shown: Grid, format: str, name: str) -> Response:
    view = grid.read_view(shown, request.query_params)
    with db.reading() as session:
        records = grid.export_rows(session, _query(shown, view))
    return grid.export(shown, view, _rows(records, utcnow()), format, name)


def _query(shown: Grid, view: grid.View) -> Select[Any]:
    query = select(UsageSession)
    if shown is ACTIVE:
        query = query.where(UsageSession.ended_at.is_(None))
    return grid.filtered(shown, view, query)


def _rows(records: list[UsageSession], now: datetime) -> list[grid.Row]:
    return [
        {
            "id": s.id,
            "hostname": s.hostname,
            "username": s.username,
            "application": s.application,
            "version": s.version,
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "duration_s": ((s.ended_at or now) - s.started_at).total_seconds(),
            "source": s.source,
            "agent_id": s.agent_id,
        }
        for s in records
    ]
