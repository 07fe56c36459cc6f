"""Standings kept between check-ins: used while nothing changed, dropped
when the change log (written by triggers) names their agent, all dropped
when the monitoring generation moves, and never kept past a change that
a log read already passed."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import bearer, enrol, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, insert, select, update

from seatmeter.server.accounts.credentials import token_hash
from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.agents import checkin, standings
from seatmeter.server.agents.models import Agent, AgentChange, MonitoringGeneration
from seatmeter.server.agents.standings import Standings
from seatmeter.server.app import create_app
from seatmeter.server.db import Database

EVERY_TIME, NEVER = 0, 60_000


class Reads:
    """A standing reader that counts how often the database is asked."""

    def __init__(self, database: Database, credential: str) -> None:
        self.database, self.credential, self.count = database, credential, 0

    def __call__(self) -> checkin.Standing | None:
        self.count += 1
        return checkin._read_standing(self.database, token_hash(self.credential))


@pytest.fixture
def agent(admin: TestClient, tokens: dict[str, str]) -> str:
    return enrol(admin, tokens["agent"], "agent-1", "CAD-01")


def look_up(kept: Standings, reads: Reads) -> checkin.Standing | None:
    return kept.get(token_hash(reads.credential), reads)


def test_a_kept_standing_is_used_until_the_log_names_its_agent(database, agent) -> None:
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    look_up(kept, reads)
    look_up(kept, reads)
    assert reads.count == 1

    with database.writing() as session:
        session.execute(update(Agent).where(Agent.id == "agent-1").values(hostname="CAD-02"))
    found = look_up(kept, reads)

    assert reads.count == 2
    assert found is not None and found.hostname == "CAD-02"


@pytest.mark.parametrize(
    "change",
    ["membership added", "membership removed", "credential", "problems", "deleted"],
)
def test_every_change_to_a_standing_is_logged(database, agent, change) -> None:
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    before = look_up(kept, reads)
    assert before is not None

    with database.writing() as session:
        _make(session, change)
    after = look_up(kept, reads)

    assert reads.count == 2
    if change in ("credential", "deleted"):
        assert after is None
    else:
        assert after != before


def _make(session, change: str) -> None:
    agent = Agent.id == "agent-1"
    if change == "membership added":
        group = AgentGroup(name="Design")
        session.add(group)
        session.flush()
        session.execute(
            insert(agent_group_members).values(agent_id="agent-1", agent_group_id=group.id)
        )
    elif change == "membership removed":
        session.execute(
            delete(agent_group_members).where(agent_group_members.c.agent_id == "agent-1")
        )
    elif change == "credential":
        session.execute(update(Agent).where(agent).values(credential_hash=token_hash("other")))
    elif change == "problems":
        problem = {"code": "disk_full", "message": "no space", "since": "2026-12-04"}
        session.execute(update(Agent).where(agent).values(problems=[problem]))
    else:
        session.execute(delete(Agent).where(agent))


def test_heartbeat_writes_are_not_logged(database, agent) -> None:
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    look_up(kept, reads)
    with database.writing() as session:
        before = session.scalar(select(func.count()).select_from(AgentChange))
        session.execute(
            update(Agent)
            .where(Agent.id == "agent-1")
            .values(last_seen=datetime.now(UTC), clock_offset_s=0.5)
        )

    look_up(kept, reads)

    assert reads.count == 1
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(AgentChange)) == before


def test_a_new_monitoring_generation_drops_every_standing(database, agent) -> None:
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    look_up(kept, reads)
    with database.writing() as session:
        session.execute(update(MonitoringGeneration).values(value=MonitoringGeneration.value + 1))

    found = look_up(kept, reads)

    assert reads.count == 2
    assert len(kept) == 1 and found is not None


def test_within_the_refresh_another_process_s_change_is_not_seen_yet(
    database, database_url, agent
) -> None:
    kept, reads = Standings(database, NEVER), Reads(database, agent)
    look_up(kept, reads)
    other_process = Database(database_url)
    with other_process.writing() as session:
        session.execute(update(Agent).where(Agent.id == "agent-1").values(hostname="CAD-02"))
    other_process.dispose()

    found = look_up(kept, reads)

    assert reads.count == 1 and found is not None and found.hostname == "CAD-01"


def test_a_change_this_process_writes_is_seen_at_once(database, agent) -> None:
    kept, reads = Standings(database, NEVER), Reads(database, agent)
    look_up(kept, reads)
    with database.writing() as session:
        session.execute(update(Agent).where(Agent.id == "agent-1").values(hostname="CAD-02"))

    found = look_up(kept, reads)

    assert reads.count == 2 and found is not None and found.hostname == "CAD-02"


def test_a_standing_read_while_the_log_was_read_is_not_kept(database, agent) -> None:
    kept = Standings(database, EVERY_TIME)
    inner = Reads(database, agent)

    def read_during_a_log_read() -> checkin.Standing | None:
        kept._read_at = -1e9  # the next look-up reads the log
        kept._catch_up()
        return inner()

    kept.get(token_hash(agent), read_during_a_log_read)

    assert len(kept) == 0


def test_this_process_forgets_the_agent_it_writes(database, agent) -> None:
    kept, reads = Standings(database, NEVER), Reads(database, agent)
    look_up(kept, reads)

    kept.forget("agent-1")
    look_up(kept, reads)

    assert reads.count == 2


def test_changes_past_a_gap_are_read_again_until_it_fills_or_waits_out(database) -> None:
    kept = Standings(database, EVERY_TIME)
    kept._after = 10

    kept._advance([(11, "a"), (13, "b")], now=100.0)
    assert kept._after == 11
    kept._advance([(13, "b")], now=100.0 + standings.GAP_WAIT_S / 2)
    assert kept._after == 11
    kept._advance([(12, "c"), (13, "b")], now=101.0)
    assert kept._after == 13

    kept._advance([(15, "d")], now=200.0)
    kept._advance([(15, "d")], now=200.0 + standings.GAP_WAIT_S)
    assert kept._after == 15


def test_pruning_keeps_the_newest_changes(database, agent, monkeypatch) -> None:
    monkeypatch.setattr(standings, "KEEP_CHANGES", 3)
    with database.writing() as session:
        session.execute(insert(AgentChange), [{"agent_id": f"a-{n}"} for n in range(10)])
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    look_up(kept, reads)  # the first look starts at the newest change

    kept._prune(0.0)

    with database.reading() as session:
        left = session.scalars(select(AgentChange.agent_id).order_by(AgentChange.seq)).all()
    assert left == ["a-7", "a-8", "a-9"]


def test_a_process_far_behind_the_log_keeps_nothing(database, agent, monkeypatch) -> None:
    monkeypatch.setattr(standings, "KEEP_CHANGES", 4)
    kept, reads = Standings(database, EVERY_TIME), Reads(database, agent)
    look_up(kept, reads)
    with database.writing() as session:
        session.execute(insert(AgentChange), [{"agent_id": f"a-{n}"} for n in range(3)])

    look_up(kept, reads)

    assert reads.count == 2


def test_a_deleted_agent_kept_by_a_slow_refresh_is_refused_not_failed(
    database_url: str, database: Database, tokens: dict[str, str], tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path, agent_standing_refresh_ms=NEVER)
    with TestClient(create_app(settings, database)) as client:
        credential = enrol(client, tokens["agent"], "agent-1", "CAD-01")
        body = {"clock": datetime.now(UTC).isoformat()}
        assert (
            client.post("/api/agent/v1/check-in", json=body, headers=bearer(credential)).status_code
            == 200
        )
        with database.writing() as session:
            session.execute(delete(Agent).where(Agent.id == "agent-1"))

        # A report that must be written finds the agent gone.
        moved = {**body, "hostname": "CAD-02"}
        answer = client.post("/api/agent/v1/check-in", json=moved, headers=bearer(credential))

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
