"""Whether an agent monitors: it does when at least one of its groups is
selected on an enabled Autodesk license server. Nothing on the host
decides this; the agent learns it at its next check-in.
"""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.license_servers.models import (
    LicenseServer,
    license_server_agent_groups,
)


@dataclass(frozen=True)
class Decision:
    monitoring: bool
    reason: str
    license_server_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Told:
    """What an agent was told: its decision and the catalog to use."""

    decision: Decision
    catalog_revision: int


class Decisions:
    """What agents are told, by the set of groups they are in.

    A decision depends only on an agent's groups and on what is selected
    where, so agents in the same groups share one. Whatever could change
    it beyond the agent's own memberships (a selection, a license
    server's name, type or enabled flag, a group's name, the catalog)
    moves the monitoring generation, by trigger, in the same
    transaction. Each check-in reads the generation and the agent's
    groups with its credential, so a change made through any process
    reaches every agent at its next check-in.
    """

    def __init__(self) -> None:
        self._told: dict[tuple[int, tuple[int, ...]], Told] = {}

    def get(self, generation: int, groups: tuple[int, ...]) -> Told | None:
        return self._told.get((generation, groups))

    def keep(self, generation: int, groups: tuple[int, ...], told: Told) -> None:
        """Keep `told`, decided from data at least as new as `generation`."""
        if any(kept != generation for kept, _ in self._told):
            # A new generation: what was kept under older ones is void.
            self._told = {key: value for key, value in self._told.items() if key[0] >= generation}
        self._told[(generation, groups)] = told


def decide(session: Session, agent_id: str) -> Decision:
    """The decision for an agent, from its memberships as stored."""
    groups = session.scalars(
        select(agent_group_members.c.agent_group_id).where(
            agent_group_members.c.agent_id == agent_id
        )
    ).all()
    return decide_for(session, tuple(sorted(groups)))


def decide_for(session: Session, groups: tuple[int, ...]) -> Decision:
    """The decision for an agent in exactly these groups."""
    selections = session.execute(
        select(LicenseServer.id, LicenseServer.name, AgentGroup.name)
        .join(
            license_server_agent_groups,
            license_server_agent_groups.c.license_server_id == LicenseServer.id,
        )
        .join(AgentGroup, AgentGroup.id == license_server_agent_groups.c.agent_group_id)
        .where(AgentGroup.id.in_(groups))
        .where(LicenseServer.enabled, LicenseServer.type == "autodesk")
        .order_by(LicenseServer.id, AgentGroup.name)
    ).all()
    if selections:
        _, server, group = selections[0]
        return Decision(
            True,
            f"agent group {group!r} is selected on license server {server!r}",
            tuple(sorted({row[0] for row in selections})),
        )
    return Decision(False, _why_not(session, groups))


def _why_not(session: Session, groups: tuple[int, ...]) -> str:
    names = session.scalars(
        select(AgentGroup.name).where(AgentGroup.id.in_(groups)).order_by(AgentGroup.name)
    ).all()
    if not names:
        return (
            "the agent is in no agent group; add it to a group that is "
            "selected on an Autodesk license server"
        )
    listed = ", ".join(repr(name) for name in names)
    return (
        f"none of the agent's groups ({listed}) is selected on an enabled "
        "Autodesk license server; select one on the license server"
    )
