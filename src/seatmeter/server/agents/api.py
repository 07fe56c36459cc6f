"""`/api/v1/agents`: the agents the server knows, and how they are doing."""

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.accounts.auth import Admin, Reader
from seatmeter.server.agent_groups.models import agent_group_members
from seatmeter.server.agents.models import Agent
from seatmeter.server.api.fields import MAX_ID, AgentIdText
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import utcnow
from seatmeter.server.errors import not_found
from seatmeter.server.settings import Settings

router = APIRouter(prefix="/api/v1/agents", tags=["agents"], route_class=StrictRoute)
LISTING = "GET /api/v1/agents"


class ProblemOut(BaseModel):
    code: str
    message: str
    detail: dict[str, Any] = {}
    since: str = Field(description="when the agent first reported it")


class AgentOut(BaseModel):
    id: str
    hostname: str
    os: str
    version: str
    ip_address: str | None
    status: Literal["online", "offline"] = Field(
        description="online when seen within two check-in intervals"
    )
    monitoring: bool = Field(description="what it was told at its last check-in")
    first_seen: datetime
    last_seen: datetime | None
    clock_offset_s: float = Field(description="server clock minus agent clock")
    group_ids: list[int]
    problems: list[ProblemOut]


@router.get("", response_model=Listing[AgentOut])
def list_agents(
    _: Reader,
    db: Db,
    settings: Config,
    page: Page = Depends(),
    hostname: str | None = Query(None, max_length=255, description="exact, any case"),
    agent_group_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> dict[str, Any]:
    query = select(Agent).order_by(Agent.id).limit(page.limit + 1)
    if page.after:
        query = query.where(Agent.id > str(page.after[0]))
    if hostname:
        query = query.where(func.lower(Agent.hostname) == hostname.lower())
    if agent_group_id is not None:
        query = query.join(agent_group_members).where(
            agent_group_members.c.agent_group_id == agent_group_id
        )
    with db.reading() as session:
        agents = list(session.scalars(query))
        items = describe(session, agents, settings)
    return page.result(items, key=lambda item: [item["id"]])


@router.get("/{agent_id}", response_model=AgentOut)
def get_agent(agent_id: AgentIdText, _: Reader, db: Db, settings: Config) -> dict[str, Any]:
    with db.reading() as session:
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise not_found("agent", agent_id, LISTING)
        return describe(session, [agent], settings)[0]


@router.delete("/{agent_id}", status_code=204)
def delete_agent(agent_id: AgentIdText, _: Admin, db: Db) -> Response:
    """Forget an agent; its sessions stay, and it may enrol again."""
    with db.writing() as session:
        agent = session.get(Agent, agent_id)
        if agent is None:
            raise not_found("agent", agent_id, LISTING)
        session.delete(agent)
    return Response(status_code=204)


def describe(session: Session, agents: list[Agent], settings: Settings) -> list[dict[str, Any]]:
    """Agents as the API shows them, with their groups in one more query."""
    groups: dict[str, list[int]] = {}
    rows = session.execute(
        select(agent_group_members.c.agent_id, agent_group_members.c.agent_group_id).where(
            agent_group_members.c.agent_id.in_([agent.id for agent in agents])
        )
    )
    for agent_id, group_id in rows:
        groups.setdefault(agent_id, []).append(group_id)
    # Online means seen within two check-in intervals: one late check-in
    # is normal on a busy network, two are not.
    online_since = utcnow() - timedelta(seconds=2 * settings.agent_checkin_interval_s)
    return [
        {
            "id": agent.id,
            "hostname": agent.hostname,
            "os": agent.os,
            "version": agent.agent_version,
            "ip_address": agent.ip_address,
            "status": "online"
            if agent.last_seen and agent.last_seen >= online_since
            else "offline",
            "monitoring": agent.monitoring,
            "first_seen": agent.first_seen,
            "last_seen": agent.last_seen,
            "clock_offset_s": agent.clock_offset_s,
            "group_ids": sorted(groups.get(agent.id, [])),
            "problems": agent.problems,
        }
        for agent in agents
    ]
