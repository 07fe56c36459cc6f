"""Agent groups: creating, changing and filling them."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from seatmeter.server.agent_groups.models import (
    AgentGroup,
    AutoAssignRule,
    agent_group_members,
)
from seatmeter.server.agent_groups.rules import Rule, matches
from seatmeter.server.agents.models import Agent
from seatmeter.server.errors import ApiError, invalid, not_found
from seatmeter.server.license_servers.models import license_server_agent_groups

LISTING = "GET /api/v1/agent-groups"
ID_CHUNK = 5000


def get(session: Session, group_id: int) -> AgentGroup:
    group = session.get(AgentGroup, group_id, options=[selectinload(AgentGroup.rules)])
    if group is None:
        raise not_found("agent group", group_id, LISTING)
    return group


def create(session: Session, name: str, description: str, rules: list[Rule]) -> AgentGroup:
    _check_name_free(session, name)
    group = AgentGroup(name=name, description=description)
    group.rules = [AutoAssignRule(kind=r.kind, value=r.value) for r in rules]
    session.add(group)
    session.flush()
    return group


def update(session: Session, group: AgentGroup, changes: dict[str, Any]) -> None:
    if "name" in changes and changes["name"] != group.name:
        _check_name_free(session, changes["name"])
        group.name = changes["name"]
    if "description" in changes:
        group.description = changes["description"]
    if "auto_assign_rules" in changes:
        group.rules = [
            AutoAssignRule(kind=r["kind"], value=r["value"]) for r in changes["auto_assign_rules"]
        ]
    session.flush()


def delete(session: Session, group: AgentGroup) -> None:
    """Refuse while a license server still selects the group.

    Deleting it silently would stop every agent in it from monitoring.
    """
    selecting = group.license_servers
    if selecting:
        names = ", ".join(f"{s.name!r} (id {s.id})" for s in selecting)
        raise ApiError(
            409,
            "agent_group_in_use",
            f"agent group {group.name!r} is selected on license server {names}; "
            "unselect it there first (PATCH /api/v1/license-servers/{id} "
            "with agent_group_ids)",
            [{"license_server_id": s.id, "name": s.name} for s in selecting],
        )
    session.delete(group)


def set_members(session: Session, group: AgentGroup, agent_ids: list[str]) -> None:
    group.agents = _agents(session, agent_ids)


def add_members(session: Session, group: AgentGroup, agent_ids: list[str]) -> None:
    present = {agent.id for agent in group.agents}
    group.agents.extend(a for a in _agents(session, agent_ids) if a.id not in present)


def remove_member(session: Session, group: AgentGroup, agent_id: str) -> None:
    kept = [agent for agent in group.agents if agent.id != agent_id]
    if len(kept) == len(group.agents):
        raise not_found(f"agent in group {group.name!r}", agent_id, "the group's agent_ids")
    group.agents = kept


def auto_assign(session: Session, agent: Agent) -> list[AgentGroup]:
    """Put a newly enrolled agent in every group whose rules admit it."""
    groups = session.scalars(select(AgentGroup).options(selectinload(AgentGroup.rules))).all()
    chosen = [
        group
        for group in groups
        if any(
            matches(
                Rule(kind=r.kind, value=r.value),
                agent.hostname,
                agent.os,
                agent.ip_address,
            )
            for r in group.rules
        )
    ]
    agent.groups.extend(g for g in chosen if g not in agent.groups)
    return chosen


def describe(session: Session, groups: list[AgentGroup], members: bool) -> list[dict[str, Any]]:
    """Groups as the API shows them, in three queries whatever their number."""
    ids = [group.id for group in groups]
    counts: dict[int, int] = dict(
        session.execute(
            select(agent_group_members.c.agent_group_id, func.count())
            .where(agent_group_members.c.agent_group_id.in_(ids))
            .group_by(agent_group_members.c.agent_group_id)
        ).all()
    )
    servers: dict[int, list[int]] = {}
    for group_id, server_id in session.execute(
        select(
            license_server_agent_groups.c.agent_group_id,
            license_server_agent_groups.c.license_server_id,
        ).where(license_server_agent_groups.c.agent_group_id.in_(ids))
    ):
        servers.setdefault(group_id, []).append(server_id)
    return [
        _shown(session, group, counts.get(group.id, 0), servers.get(group.id, []), members)
        for group in groups
    ]


def _shown(
    session: Session, group: AgentGroup, count: int, servers: list[int], members: bool
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "is_default": group.is_default,
        "auto_assign_rules": [{"kind": r.kind, "value": r.value} for r in group.rules],
        "agent_count": count,
        "license_server_ids": sorted(servers),
        "created_at": group.created_at,
    }
    if members:
        shown["agent_ids"] = sorted(
            session.scalars(
                select(agent_group_members.c.agent_id).where(
                    agent_group_members.c.agent_group_id == group.id
                )
            )
        )
    return shown


def _agents(session: Session, agent_ids: list[str]) -> list[Agent]:
    wanted = list(dict.fromkeys(agent_ids))
    found: dict[str, Agent] = {}
    # Databases cap the parameters of one statement (SQLite at 32,766).
    for start in range(0, len(wanted), ID_CHUNK):
        chunk = wanted[start : start + ID_CHUNK]
        found.update(
            (agent.id, agent) for agent in session.scalars(select(Agent).where(Agent.id.in_(chunk)))
        )
    missing = [agent_id for agent_id in wanted if agent_id not in found]
    if missing:
        raise invalid("agent_ids", missing, "unknown agent id(s); see GET /api/v1/agents")
    return [found[agent_id] for agent_id in wanted]


def _check_name_free(session: Session, name: str) -> None:
    taken = session.scalar(select(AgentGroup.id).where(AgentGroup.name == name))
    if taken is not None:
        raise ApiError(
            409,
            "name_taken",
            f"name: an agent group named {name!r} already exists (id {taken}); choose another name",
            [{"field": "name", "value": name, "problem": "already taken"}],
        )
