"""`/api/v1/agent-groups`: the groups, their members and their rules."""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from seatmeter.server.accounts.auth import Admin, Reader
from seatmeter.server.agent_groups import service
from seatmeter.server.agent_groups.models import AgentGroup
from seatmeter.server.agent_groups.rules import Rule
from seatmeter.server.api.fields import (
    AgentIdList,
    AgentIdText,
    Body,
    Changes,
    Description,
    Name,
    RowId,
)
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db

router = APIRouter(prefix="/api/v1/agent-groups", tags=["agent groups"], route_class=StrictRoute)


class GroupIn(Body):
    name: Name
    description: Description = ""
    auto_assign_rules: list[Rule] = Field(default=[])
    agent_ids: AgentIdList = Field(default=[])


class GroupChanges(Changes):
    name: Name | None = None
    description: Description | None = None
    auto_assign_rules: list[Rule] | None = None


class Members(Body):
    agent_ids: AgentIdList


class GroupSummary(BaseModel):
    id: int
    name: str
    description: str
    is_default: bool = Field(description="selected on new license servers")
    auto_assign_rules: list[Rule]
    agent_count: int
    license_server_ids: list[int] = Field(description="servers that select it")
    created_at: datetime


class Group(GroupSummary):
    agent_ids: list[str]


@router.get("", response_model=Listing[GroupSummary])
def list_groups(_: Reader, db: Db, page: Page = Depends()) -> dict[str, Any]:
    after = page.after[0] if page.after else 0
    with db.reading() as session:
        groups = session.scalars(
            select(AgentGroup)
            .options(selectinload(AgentGroup.rules))
            .where(AgentGroup.id > after)
            .order_by(AgentGroup.id)
            .limit(page.limit + 1)
        ).all()
        items = service.describe(session, list(groups), members=False)
    return page.result(items, key=lambda item: [item["id"]])


@router.post("", status_code=201, response_model=Group)
def create_group(body: GroupIn, _: Admin, db: Db) -> dict[str, Any]:
    with db.writing() as session:
        group = service.create(session, body.name, body.description, body.auto_assign_rules)
        if body.agent_ids:
            service.set_members(session, group, body.agent_ids)
        session.flush()
        return service.describe(session, [group], members=True)[0]


@router.get("/{group_id}", response_model=Group)
def get_group(group_id: RowId, _: Reader, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        group = service.get(session, group_id)
        return service.describe(session, [group], members=True)[0]


@router.patch("/{group_id}", response_model=Group)
def change_group(group_id: RowId, body: GroupChanges, _: Admin, db: Db) -> dict[str, Any]:
    with db.writing() as session:
        group = service.get(session, group_id)
        service.update(session, group, body.changes())
        return service.describe(session, [group], members=True)[0]


@router.delete("/{group_id}", status_code=204)
def delete_group(group_id: RowId, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        service.delete(session, service.get(session, group_id))
    return Response(status_code=204)


@router.put("/{group_id}/agents", response_model=Group)
def set_agents(group_id: RowId, body: Members, _: Admin, db: Db) -> dict[str, Any]:
    """Make the group's members exactly these agents."""
    with db.writing() as session:
        group = service.get(session, group_id)
        service.set_members(session, group, body.agent_ids)
        session.flush()
        return service.describe(session, [group], members=True)[0]


@router.post("/{group_id}/agents", response_model=Group)
def add_agents(group_id: RowId, body: Members, _: Admin, db: Db) -> dict[str, Any]:
    """Add these agents to the group, keeping its other members."""
    with db.writing() as session:
        group = service.get(session, group_id)
        service.add_members(session, group, body.agent_ids)
        session.flush()
        return service.describe(session, [group], members=True)[0]


@router.delete("/{group_id}/agents/{agent_id}", status_code=204)
def remove_agent(group_id: RowId, agent_id: AgentIdText, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        service.remove_member(session, service.get(session, group_id), agent_id)
    return Response(status_code=204)
