"""`/api/v1/sessions`: sessions as stored, newest first, with filters."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Select, and_, func, or_, select

from seatmeter.server.accounts.auth import Reader
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.db import utcnow
from seatmeter.server.errors import invalid
from seatmeter.server.sessions.models import UsageSession

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], route_class=StrictRoute)


class SessionOut(BaseModel):
    id: int
    agent_id: str | None = Field(description="null for imported sessions")
    hostname: str
    username: str = Field(description="the host user, e.g. CORP\\jdoe")
    application: str
    version: str = Field(description="the release, e.g. 2024")
    started_at: datetime
    ended_at: datetime | None = Field(description="null while running")
    duration_s: float = Field(description="up to now while running")
    source: Literal["process", "legacy", "import"]
    product_pool_id: int | None = Field(description="the pool it was attributed to")
    cloud_user_id: int | None = Field(description="the cloud user it was attributed to")
    attribution: Literal["pool", "unassigned", "unmapped"] | None = Field(
        description="pool: counted on a pool; unassigned: use without an "
        "assignment; unmapped: no cloud user matches; null: not yet attributed"
    )


@router.get("", response_model=Listing[SessionOut])
def list_sessions(
    _: Reader,
    db: Db,
    page: Page = Depends(),
    active: bool | None = Query(None, description="true: still running"),
    hostname: str | None = Query(None, max_length=255),
    username: str | None = Query(None, max_length=255),
    application: str | None = Query(None, max_length=100),
    since: AwareDatetime | None = Query(None, description="sessions running after"),
    until: AwareDatetime | None = Query(None, description="sessions running before"),
) -> dict[str, Any]:
    if since and until and until <= since:
        raise invalid("until", until.isoformat(), "must be later than since")
    query = _filtered(active, hostname, username, application, since, until)
    query = query.order_by(UsageSession.started_at.desc(), UsageSession.id.desc())
    if page.after:
        query = query.where(_before(page.after))
    with db.reading() as session:
        rows = list(session.scalars(query.limit(page.limit + 1)))
    now = utcnow()
    items = [_shown(row, now) for row in rows]
    return page.result(items, key=lambda item: [item["started_at"].isoformat(), item["id"]])


def _filtered(
    active: bool | None,
    hostname: str | None,
    username: str | None,
    application: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[UsageSession]:
    query = select(UsageSession)
    if active is not None:
        ended = UsageSession.ended_at.is_(None)
        query = query.where(ended if active else ~ended)
    for column, value in (
        (UsageSession.hostname, hostname),
        (UsageSession.username, username),
        (UsageSession.application, application),
    ):
        if value:
            query = query.where(func.lower(column) == value.lower())
    if since:
        query = query.where(or_(UsageSession.ended_at.is_(None), UsageSession.ended_at > since))
    if until:
        query = query.where(UsageSession.started_at < until)
    return query


def _before(key: list[Any]) -> Any:
    try:
        started_at, row_id = datetime.fromisoformat(key[0]), int(key[1])
    except (IndexError, TypeError, ValueError):
        raise invalid("cursor", key, "is not a cursor this API gave out") from None
    return or_(
        UsageSession.started_at < started_at,
        and_(UsageSession.started_at == started_at, UsageSession.id < row_id),
    )


def _shown(row: UsageSession, now: datetime) -> dict[str, Any]:
    end = row.ended_at or now
    return {
        "id": row.id,
        "agent_id": row.agent_id,
        "hostname": row.hostname,
        "username": row.username,
        "application": row.application,
        "version": row.version,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "duration_s": round((end - row.started_at).total_seconds(), 3),
        "source": row.source,
        "product_pool_id": row.product_pool_id,
        "cloud_user_id": row.cloud_user_id,
        "attribution": row.attribution,
    }
