"""Enrolment and check-in: how an agent joins and what it is told."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from seatmeter.server.accounts.credentials import (
    AGENT_CREDENTIAL_PREFIX,
    new_token,
    token_hash,
)
from seatmeter.server.agent_groups import service as groups
from seatmeter.server.agents import monitoring
from seatmeter.server.agents.models import Agent
from seatmeter.server.catalogs import service as catalogs
from seatmeter.server.db import utcnow
from seatmeter.server.settings import Settings

log = logging.getLogger(__name__)


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


def check_in(
    session: Session,
    agent_id: str,
    report: dict[str, Any],
    ip_address: str | None,
    settings: Settings,
) -> dict[str, Any]:
    agent = session.get(Agent, agent_id, with_for_update=True)
    assert agent is not None, "the credential check found this agent"
    now = utcnow()
    agent.last_seen = now
    agent.ip_address = ip_address
    agent.clock_offset_s = round((now - report["clock"]).total_seconds(), 3)
    for name in ("hostname", "os", "agent_version", "catalog_revision"):
        if report.get(name) is not None:
            setattr(agent, name, report[name])
    agent.problems = _merge_problems(agent.problems, report.get("problems", []), now)

    decision = monitoring.decide(session, agent_id)
    if decision.monitoring != agent.monitoring:
        log.info(
            "agent %s (%s) monitoring %s: %s",
            agent_id,
            agent.hostname,
            "on" if decision.monitoring else "off",
            decision.reason,
        )
    agent.monitoring = decision.monitoring
    return {
        "agent_id": agent_id,
        "monitoring": decision.monitoring,
        "reason": decision.reason,
        "license_server_ids": list(decision.license_server_ids),
        "scan_interval_s": settings.agent_scan_interval_s,
        "checkin_interval_s": settings.agent_checkin_interval_s,
        "legacy_idle_window_s": settings.legacy_idle_window_s,
        "catalog_revision": catalogs.current_revision(session),
        "server_time": now,
    }


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
