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
    """The last thing each agent was told, while it still holds.

    Whatever could change a decision (groups, memberships, selections,
    license servers, catalogs) moves the monitoring generation, by
    trigger, in the same transaction. An answer kept under one
    generation is therefore good until the generation moves; a process
    reads the generation with every check-in, so a change made through
    any process reaches every agent at its next check-in.
    """

    def __init__(self) -> None:
        # One entry per agent; a stale one is replaced at its next check-in.
        self._told: dict[str, tuple[int, Told]] = {}

    def get(self, agent_id: str, generation: int) -> Told | None:
        kept = self._told.get(agent_id)
        return kept[1] if kept is not None and kept[0] == generation else None

    def keep(self, agent_id: str, generation: int, told: Told) -> None:
        """Keep `told`, decided from data at least as new as `generation`."""
        self._told[agent_id] = (generation, told)


def decide(session: Session, agent_id: str) -> Decision:
    selections = session.execute(
        select(LicenseServer.id, LicenseServer.name, AgentGroup.name)
        .join(
            license_server_agent_groups,
            license_server_agent_groups.c.license_server_id == LicenseServer.id,
        )
        .join(
            agent_group_members,
            agent_group_members.c.agent_group_id == license_server_agent_groups.c.agent_group_id,
        )
        .join(AgentGroup, AgentGroup.id == agent_group_members.c.agent_group_id)
        .where(agent_group_members.c.agent_id == agent_id)
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
    return Decision(False, _why_not(session, agent_id))


def _why_not(session: Session, agent_id: str) -> str:
    groups = session.scalars(
        select(AgentGroup.name)
        .join(agent_group_members)
        .where(agent_group_members.c.agent_id == agent_id)
        .order_by(AgentGroup.name)
    ).all()
    if not groups:
        return (
            "the agent is in no agent group; add it to a group that is "
            "selected on an Autodesk license server"
        )
    names = ", ".join(repr(name) for name in groups)
    return (
        f"none of the agent's groups ({names}) is selected on an enabled "
        "Autodesk license server; select one on the license server"
    )
