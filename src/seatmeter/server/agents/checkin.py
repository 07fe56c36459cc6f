"""Enrolment and check-in: how an agent joins and what it is told."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, func, select
from sqlalchemy.orm import Session

from seatmeter.server.accounts.auth import not_an_agent
from seatmeter.server.accounts.credentials import (
    AGENT_CREDENTIAL_PREFIX,
    new_token,
    token_hash,
)
from seatmeter.server.agent_groups import service as groups
from seatmeter.server.agent_groups.models import agent_group_members
from seatmeter.server.agents import monitoring
from seatmeter.server.agents.heartbeats import Heartbeats
from seatmeter.server.agents.models import Agent, MonitoringGeneration
from seatmeter.server.agents.standings import Standings
from seatmeter.server.catalogs import service as catalogs
from seatmeter.server.db import Database, utcnow
from seatmeter.server.settings import Settings

log = logging.getLogger(__name__)

# A clock offset that moved less than this is network delay, not news;
# ingestion takes offsets this small for delay too.
OFFSET_TOLERANCE_S = 2.0


def enrol(session: Session, agent_id: str, host: dict[str, str], ip_address: str | None) -> str:
    """Register the agent, or re-register it, and return a new credential.

    Re-enrolment replaces the old credential: an agent whose credential
    was refused comes back under its id, with its groups and history.
    """
    credential = new_token(AGENT_CREDENTIAL_PREFIX)
    agent = session.get(Agent, agent_id, with_for_update=True)
    if agent is None:
        agent = Agent(id=agent_id, problems=[], **host, ip_address=ip_address)
        session.add(agent)
        joined = groups.auto_assign(session, agent)
        log.info(
            "agent %s (%s) enrolled into groups %s",
            agent_id,
            agent.hostname,
            [g.name for g in joined],
        )
    else:
        for name, value in host.items():
            setattr(agent, name, value)
        agent.ip_address = ip_address
        log.info("agent %s (%s) enrolled again", agent_id, agent.hostname)
    agent.credential_hash = token_hash(credential)
    agent.last_seen = utcnow()
    return credential


@dataclass(frozen=True)
class Standing:
    """An agent as stored, read with its credential in one statement."""

    id: str
    hostname: str
    os: str
    agent_version: str
    ip_address: str | None
    clock_offset_s: float
    monitoring: bool
    catalog_revision: int | None
    problems: list[dict[str, Any]]
    generation: int
    groups: tuple[int, ...]


_GROUPS = (
    select(func.aggregate_strings(cast(agent_group_members.c.agent_group_id, String), ","))
    .where(agent_group_members.c.agent_id == Agent.id)
    .scalar_subquery()
)
_STANDING = select(
    Agent.id,
    Agent.hostname,
    Agent.os,
    Agent.agent_version,
    Agent.ip_address,
    Agent.clock_offset_s,
    Agent.monitoring,
    Agent.catalog_revision,
    Agent.problems,
    select(MonitoringGeneration.value)
    .where(MonitoringGeneration.id == 1)
    .scalar_subquery()
    .label("generation"),
    _GROUPS.label("groups"),
).where(Agent.credential_hash == bindparam("credential_hash", ""))


def standing(db: Database, credential: str, desk: "Desk") -> Standing | None:
    """The agent whose credential this is, or None for no agent: kept
    from an earlier check-in when the desk has it (agents/standings.py)."""
    credential_hash = token_hash(credential)
    return desk.standings.get(credential_hash, lambda: _read_standing(db, credential_hash))


def _read_standing(db: Database, credential_hash: str) -> Standing | None:
    row = db.first_row(_STANDING, credential_hash=credential_hash)
    if row is None:
        return None
    agent_id, hostname, os, version, address, offset, monitoring, revision, *rest = row
    problems, generation, groups = rest
    return Standing(
        agent_id,
        hostname,
        os,
        version,
        address,
        offset,
        bool(monitoring),
        revision,
        json.loads(problems) if isinstance(problems, str) else problems,
        generation,
        tuple(sorted(int(group) for group in (groups or "").split(",") if group)),
    )


def check_in(
    db: Database,
    agent: Standing,
    report: dict[str, Any],
    ip_address: str | None,
    desk: "Desk",
) -> dict[str, Any]:
    """Record the check-in and say what the agent is to do.

    A check-in that changes nothing but the time is a heartbeat: it is
    answered from the decision kept for the agent's groups and written
    with others a moment later. Anything else is written at once.
    """
    now = utcnow()
    offset = round((now - report["clock"]).total_seconds(), 3)
    told = desk.decisions.get(agent.generation, agent.groups)
    if told is None:
        with db.reading() as session:
            told = monitoring.Told(
                monitoring.decide_for(session, agent.groups),
                catalogs.current_revision(session),
            )
        desk.decisions.keep(agent.generation, agent.groups, told)
    if _only_time_moved(agent, report, ip_address, offset, told):
        desk.heartbeats.note(agent.id, now, offset)
    else:
        with db.writing() as session:
            _record(session, agent.id, report, ip_address, offset, now, told)
        desk.heartbeats.forget(agent.id)
        desk.standings.forget(agent.id)
    return _instructions(agent.id, told, desk.settings, now)


@dataclass
class Desk:
    """What check-ins share within one server process."""

    settings: Settings
    decisions: monitoring.Decisions
    heartbeats: Heartbeats
    standings: Standings


def _only_time_moved(
    agent: Standing,
    report: dict[str, Any],
    ip_address: str | None,
    offset: float,
    told: monitoring.Told,
) -> bool:
    facts = ("hostname", "os", "agent_version", "catalog_revision")
    return (
        told.decision.monitoring == agent.monitoring
        and ip_address == agent.ip_address
        and all(report.get(name) in (None, getattr(agent, name)) for name in facts)
        and abs(offset - agent.clock_offset_s) < OFFSET_TOLERANCE_S
        and _as_reported(agent.problems) == report.get("problems", [])
    )


def _record(
    session: Session,
    agent_id: str,
    report: dict[str, Any],
    ip_address: str | None,
    offset: float,
    now: datetime,
    told: monitoring.Told,
) -> None:
    agent = session.get(Agent, agent_id, with_for_update=True)
    if agent is None:  # deleted since its standing was kept
        raise not_an_agent()
    agent.last_seen = now
    agent.ip_address = ip_address
    agent.clock_offset_s = offset
    for name in ("hostname", "os", "agent_version", "catalog_revision"):
        if report.get(name) is not None:
            setattr(agent, name, report[name])
    agent.problems = _merge_problems(agent.problems, report.get("problems", []), now)
    decision = told.decision
    if decision.monitoring != agent.monitoring:
        log.info(
            "agent %s (%s) monitoring %s: %s",
            agent_id,
            agent.hostname,
            "on" if decision.monitoring else "off",
            decision.reason,
        )
    agent.monitoring = decision.monitoring


def _instructions(
    agent_id: str, told: monitoring.Told, settings: Settings, now: datetime
) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "monitoring": told.decision.monitoring,
        "reason": told.decision.reason,
        "license_server_ids": list(told.decision.license_server_ids),
        "scan_interval_s": settings.agent_scan_interval_s,
        "checkin_interval_s": settings.agent_checkin_interval_s,
        "legacy_idle_window_s": settings.legacy_idle_window_s,
        "catalog_revision": told.catalog_revision,
        "server_time": now,
    }


def _as_reported(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in problem.items() if k != "since"} for problem in problems]


def _merge_problems(
    known: list[dict[str, Any]], reported: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The agent reports its current problems; keep when each first showed."""
    since = {_key(problem): problem.get("since") for problem in known}
    return [
        {**problem, "since": since.get(_key(problem)) or now.isoformat()} for problem in reported
    ]


def _key(problem: dict[str, Any]) -> tuple[str, str]:
    return problem["code"], problem.get("message", "")
