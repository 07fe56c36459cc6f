"""Why is no usage seen? The checks, step by step, from what the server knows.

Each `Step` says what was checked, what the server found, and for a
failed one, what to do. The steps follow the path usage takes: an agent
enrols, checks in, is in a group a license server selects, is told to
monitor, recognises the applications, and the license server syncs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups.models import agent_group_members
from seatmeter.server.agents import monitoring
from seatmeter.server.agents.models import Agent
from seatmeter.server.db import utcnow
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.settings import Settings
from seatmeter.server.usage import identity

# Problems agents report (agent/problems.py), by the step they explain.
RECOGNITION = ("unknown_product_code", "unrecognised_autodesk_processes")
CONSENT = ("legacy_consent_missing",)


@dataclass(frozen=True)
class Step:
    title: str
    # ok, failed, warning, skipped (an earlier step failed) or later
    # (the check comes with a part not built yet).
    state: str
    finding: str
    todo: str = ""


def host_steps(
    session: Session, settings: Settings, hostname: str = "", agent_id: str = ""
) -> tuple[Agent | None, list[Step]]:
    agent = _find_agent(session, hostname, agent_id)
    if agent is None:
        who = f"agent id {agent_id!r}" if agent_id else f"host {hostname!r}"
        enrolled = Step(
            "Agent enrolled",
            "failed",
            f"no agent has enrolled as {who}",
            "install seatmeter-agent on the host and enrol it with a token of "
            "scope agent (API tokens page); check the spelling of the host name",
        )
        rest = [Step(title, "skipped", "needs an enrolled agent") for title in HOST_TITLES[1:]]
        return None, [enrolled, *rest]
    now = utcnow()
    decision = monitoring.decide(session, agent.id)
    steps = [
        Step("Agent enrolled", "ok", f"agent {agent.id} enrolled on {_day(agent.first_seen)}"),
        _online(agent, settings, now),
        _grouped(decision),
        _told(agent, decision, settings),
        _recognised(session, agent),
        _consent(agent),
        _other_problems(agent),
        _mapped(session, agent),
        *_cloud_sync(session, decision.license_server_ids),
    ]
    return agent, steps


HOST_TITLES = (
    "Agent enrolled",
    "Agent online",
    "In an agent group selected on a license server",
    "Told to monitor at its last check-in",
    "Applications recognised",
    "Pre-2020 applications have analytics consent",
    "No other problems reported",
    "Host user mapped to a cloud user",
    "Cloud sync up and authorized",
)


def server_steps(session: Session, server: LicenseServer, settings: Settings) -> list[Step]:
    now = utcnow()
    group_ids = [group.id for group in server.agent_groups]
    agents = (
        list(
            session.scalars(
                select(Agent).where(
                    Agent.id.in_(
                        select(agent_group_members.c.agent_id).where(
                            agent_group_members.c.agent_group_id.in_(group_ids)
                        )
                    )
                )
            )
        )
        if group_ids
        else []
    )
    online = [a for a in agents if _is_online(a, settings, now)]
    told = [a for a in agents if a.monitoring]
    return [
        Step("Enabled", "ok", "the server is enabled")
        if server.enabled
        else Step(
            "Enabled",
            "failed",
            "the server is disabled, so no agent monitors for it",
            "tick Enabled on the license server's page",
        ),
        *_sync_steps(server),
        _count_step(
            "Agent groups selected",
            len(group_ids),
            f"{len(group_ids)} agent group(s) selected",
            "select the agent groups whose agents should monitor, on this page",
        ),
        _count_step(
            "Agents in the selected groups",
            len(agents),
            f"{len(agents)} agent(s) in the selected groups",
            "add agents to a selected group (Agents page, or the group's page)",
        ),
        _count_step(
            "Agents online",
            len(online),
            f"{len(online)} of {len(agents)} agent(s) online",
            "start the agents' service on the hosts; check they reach this server",
        ),
        _count_step(
            "Agents told to monitor",
            len(told),
            f"{len(told)} of {len(agents)} agent(s) monitoring at their last check-in",
            "wait one check-in interval after selecting groups or enabling the server",
        ),
        _recent_sessions(session, [a.id for a in agents], now),
    ]


def _find_agent(session: Session, hostname: str, agent_id: str) -> Agent | None:
    if agent_id:
        return session.get(Agent, agent_id)
    if not hostname:
        return None
    # Several agents may share a host name (a reinstalled host): the one
    # seen last is the one that matters now.
    return session.scalars(
        select(Agent)
        .where(func.lower(Agent.hostname) == hostname.lower())
        .order_by(Agent.last_seen.desc().nulls_last(), Agent.id)
        .limit(1)
    ).first()


def _online(agent: Agent, settings: Settings, now: datetime) -> Step:
    title = HOST_TITLES[1]
    if _is_online(agent, settings, now):
        return Step(title, "ok", f"last check-in {_ago(agent.last_seen, now)}")
    seen = f"last seen {_ago(agent.last_seen, now)}" if agent.last_seen else "never checked in"
    return Step(
        title,
        "failed",
        f"{seen}; an agent is offline after two missed check-ins "
        f"({2 * settings.agent_checkin_interval_s} s)",
        "check that the agent service runs on the host (seatmeter-agent status) "
        "and that the host reaches this server",
    )


def _grouped(decision: monitoring.Decision) -> Step:
    title = HOST_TITLES[2]
    if decision.monitoring:
        return Step(title, "ok", decision.reason)
    finding, _, todo = decision.reason.partition("; ")
    return Step(title, "failed", finding, todo)


def _told(agent: Agent, decision: monitoring.Decision, settings: Settings) -> Step:
    title = HOST_TITLES[3]
    if agent.monitoring:
        return Step(title, "ok", "the agent was told to monitor")
    if decision.monitoring:
        return Step(
            title,
            "warning",
            "the agent was told not to monitor, before its group was selected",
            f"wait for its next check-in (every {settings.agent_checkin_interval_s} s)",
        )
    return Step(title, "failed", "the agent was told not to monitor", "fix the step above")


def _recognised(session: Session, agent: Agent) -> Step:
    title = HOST_TITLES[4]
    problems = [p for p in agent.problems if p.get("code") in RECOGNITION]
    count, last = session.execute(
        select(func.count(), func.max(UsageSession.started_at)).where(
            UsageSession.agent_id == agent.id
        )
    ).one()
    if problems:
        return Step(
            title,
            "warning",
            "; ".join(p["message"] for p in problems),
            "add these processes to the product catalog (PUT /api/v1/catalog) "
            "if they are Autodesk applications to measure",
        )
    if count:
        return Step(title, "ok", f"{count} session(s) recorded, the last started {_day(last)}")
    return Step(
        title,
        "warning",
        "no session has been recorded from this agent yet",
        "start an Autodesk application on the host while the agent monitors; "
        "it shows in Active sessions within a scan interval",
    )


def _consent(agent: Agent) -> Step:
    title = HOST_TITLES[5]
    problems = [p for p in agent.problems if p.get("code") in CONSENT]
    if not problems:
        return Step(title, "ok", "no pre-2020 application without consent reported")
    return Step(
        title,
        "failed",
        " ".join(p["message"] for p in problems),
        "give the consent in each application named above, as the message says",
    )


def _other_problems(agent: Agent) -> Step:
    title = HOST_TITLES[6]
    others = [p for p in agent.problems if p.get("code") not in RECOGNITION + CONSENT]
    if not others:
        return Step(title, "ok", "the agent reports no other problem")
    return Step(
        title,
        "warning",
        "; ".join(f"{p['message']} (since {p.get('since', '?')})" for p in others),
        "act on each problem as it says",
    )


def _cloud_sync(session: Session, server_ids: tuple[int, ...]) -> list[Step]:
    title = HOST_TITLES[8]
    if not server_ids:
        return [Step(title, "skipped", "no license server selects the agent's groups")]
    servers = session.scalars(
        select(LicenseServer).where(LicenseServer.id.in_(server_ids)).order_by(LicenseServer.name)
    )
    steps = []
    for server in servers:
        for step in _sync_steps(server):
            steps.append(Step(f"{step.title}: {server.name}", step.state, step.finding, step.todo))
    return steps


def _sync_steps(server: LicenseServer) -> list[Step]:
    authorized = server.refresh_token_encrypted is not None
    consent = (
        Step("Authorized with Autodesk", "ok", "an administrator gave OAuth consent")
        if authorized
        else Step(
            "Authorized with Autodesk",
            "failed",
            "no administrator has given OAuth consent for this team yet",
            "use Connect with Autodesk on the license server's page (comes with the connector)",
        )
    )
    status = {
        "up": Step("Cloud sync up", "ok", f"last sync {_day(server.last_sync_at)}"),
        "never": Step(
            "Cloud sync up",
            "failed",
            "the server has never synced with Autodesk",
            "authorize it; the first sync follows within one poll interval",
        ),
        "down": Step(
            "Cloud sync up",
            "failed",
            f"the last sync failed: {server.last_error or 'no error recorded'}",
            "fix what the error names; the next poll tries again",
        ),
        "unauthorized": Step(
            "Cloud sync up",
            "failed",
            "Autodesk refused the stored authorization",
            "connect with Autodesk again on the license server's page",
        ),
    }[server.status]
    return [consent, status]


def _count_step(title: str, count: int, finding: str, todo: str) -> Step:
    return Step(title, "ok", finding) if count else Step(title, "failed", finding, todo)


def _recent_sessions(session: Session, agent_ids: list[str], now: datetime) -> Step:
    title = "Sessions in the last 24 hours"
    since = now - timedelta(days=1)
    count = (
        session.scalar(
            select(func.count())
            .select_from(UsageSession)
            .where(UsageSession.agent_id.in_(agent_ids))
            .where((UsageSession.ended_at.is_(None)) | (UsageSession.ended_at > since))
        )
        if agent_ids
        else 0
    )
    if count:
        return Step(title, "ok", f"{count} session(s) from the monitoring agents")
    return Step(
        title,
        "warning",
        "no session from these agents in the last 24 hours",
        "troubleshoot one of the hosts to see which step fails",
    )


def _is_online(agent: Agent, settings: Settings, now: datetime) -> bool:
    window = timedelta(seconds=2 * settings.agent_checkin_interval_s)
    return agent.last_seen is not None and agent.last_seen >= now - window


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _day(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _mapped(session: Session, agent: Agent) -> Step:
    """Whether the host users of this host's sessions are cloud users."""
    title = "Host user mapped to a cloud user"
    host_users = sorted(
        session.scalars(
            select(UsageSession.username).where(UsageSession.agent_id == agent.id).distinct()
        )
    )
    if not host_users:
        return Step(title, "skipped", "no session from this host yet to take a host user from")
    directory = identity.Directory.load(session)
    found = {user: directory.resolve(user) for user in host_users}
    lonely = [user for user, resolution in found.items() if resolution.rule is None]
    if lonely:
        return Step(
            title,
            "warning",
            f"{', '.join(lonely)} map(s) to no cloud user, so their use counts against no seat",
            "add a user mapping (User mappings page), or check the identity_rules and "
            "identity_email_domains settings",
        )
    shown = "; ".join(f"{user} by {found[user].rule}" for user in host_users)
    return Step(title, "ok", f"every host user maps to a cloud user: {shown}")
