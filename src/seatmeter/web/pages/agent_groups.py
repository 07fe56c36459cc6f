"""Agent groups: the list, creating one, and one group's page with its
settings, auto-assign rules and members ("in group" and "not in group")."""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from seatmeter.server.agent_groups import service as groups
from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.agent_groups.rules import Rule
from seatmeter.server.agents.models import Agent
from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Db
from seatmeter.server.errors import ApiError, invalid
from seatmeter.web.auth import SignedIn
from seatmeter.web.csrf import AdminForm
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

PATH = "/agent-groups"
# Each member list shows this many agents at most; a filter narrows it.
LIST_LIMIT = 500


@router.get(PATH)
def groups_page(request: Request, _: SignedIn, db: Db) -> Response:
    with db.reading() as session:
        found = session.scalars(select(AgentGroup).order_by(AgentGroup.name)).all()
        shown = groups.describe(session, list(found), members=False)
    return render(request, "agent_groups.html", groups=shown)


@router.post(PATH)
def create_group(form: AdminForm, db: Db) -> Response:
    name, description = _name(form), str(form.get("description", ""))
    rules = parse_rules(str(form.get("auto_assign_rules", "")))
    with db.writing() as session:
        group = groups.create(session, name, description, rules)
        group_id = group.id
    return back_to(f"{PATH}/{group_id}", f"agent group {name} created")


@router.get(PATH + "/{group_id}")
def group_page(request: Request, group_id: RowId, _: SignedIn, db: Db, find: str = "") -> Response:
    with db.reading() as session:
        group = groups.get(session, group_id)
        [shown] = groups.describe(session, [group], members=False)
        members, others = _member_lists(session, group_id, find.strip())
    return render(
        request,
        "agent_group.html",
        group=shown,
        rules_text=rules_text(shown["auto_assign_rules"]),
        members=members,
        others=others,
        find=find,
        limit=LIST_LIMIT,
    )


@router.post(PATH + "/{group_id}")
def change_group(group_id: RowId, form: AdminForm, db: Db) -> Response:
    changes: dict[str, Any] = {
        "name": _name(form),
        "description": str(form.get("description", "")),
        "auto_assign_rules": [
            r.model_dump() for r in parse_rules(str(form.get("auto_assign_rules", "")))
        ],
    }
    with db.writing() as session:
        groups.update(session, groups.get(session, group_id), changes)
    return back_to(f"{PATH}/{group_id}", "agent group saved")


@router.post(PATH + "/{group_id}/members")
def add_members(group_id: RowId, form: AdminForm, db: Db) -> Response:
    agent_ids = _agent_ids(form)
    with db.writing() as session:
        groups.add_members(session, groups.get(session, group_id), agent_ids)
    return back_to(f"{PATH}/{group_id}", f"{len(agent_ids)} agent(s) added")


@router.post(PATH + "/{group_id}/members/remove")
def remove_members(group_id: RowId, form: AdminForm, db: Db) -> Response:
    agent_ids = _agent_ids(form)
    with db.writing() as session:
        group = groups.get(session, group_id)
        for agent_id in agent_ids:
            groups.remove_member(session, group, agent_id)
    return back_to(f"{PATH}/{group_id}", f"{len(agent_ids)} agent(s) removed")


@router.post(PATH + "/{group_id}/delete")
def delete_group(group_id: RowId, _: AdminForm, db: Db) -> Response:
    with db.writing() as session:
        group = groups.get(session, group_id)
        name = group.name
        groups.delete(session, group)
    return back_to(PATH, f"agent group {name} deleted")


def parse_rules(text: str) -> list[Rule]:
    """One rule a line, its kind then its value: `hostname CAD-*`,
    `os windows`, `network 10.1.0.0/16` or `all`."""
    rules = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        kind, _, value = line.strip().partition(" ")
        try:
            rules.append(Rule(kind=kind, value=value.strip() or None))
        except ValidationError as error:
            problem = error.errors()[0]["msg"].removeprefix("Value error, ")
            if error.errors()[0]["type"] == "literal_error":
                problem = "the kind must be all, hostname, os or network"
            raise invalid(f"auto_assign_rules line {number}", line, problem) from None
    return rules


def rules_text(rules: list[dict[str, Any]]) -> str:
    return "\n".join(f"{r['kind']} {r['value'] or ''}".strip() for r in rules)


def _name(form: FormData) -> str:
    name = str(form.get("name", "")).strip()
    if not name or len(name) > 100:
        raise invalid("name", name, "give a name of 1 to 100 characters")
    return name


def _agent_ids(form: FormData) -> list[str]:
    agent_ids = [str(value) for value in form.getlist("agent_ids")]
    if not agent_ids:
        raise ApiError(422, "invalid_value", "agent_ids: tick at least one agent (got none)")
    return agent_ids


def _member_lists(session: Session, group_id: int, find: str) -> tuple[list[Agent], list[Agent]]:
    member_ids = select(agent_group_members.c.agent_id).where(
        agent_group_members.c.agent_group_id == group_id
    )
    query = select(Agent).order_by(Agent.hostname, Agent.id).limit(LIST_LIMIT)
    if find:
        query = query.where(func.lower(Agent.hostname).contains(find.lower(), autoescape=True))
    members = list(session.scalars(query.where(Agent.id.in_(member_ids))))
    others = list(session.scalars(query.where(Agent.id.not_in(member_ids))))
    return members, others
