"""Check-ins that change nothing but the time are heartbeats: answered
from a decision kept per process and written together a moment later.
Anything else is written at once, and a change to what decides
monitoring, made through any process, reaches an agent at its next
check-in.
"""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import bearer, enrol, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import select

from seatmeter.agent.catalog import load_packaged
from seatmeter.server.agents.models import Agent, MonitoringGeneration
from seatmeter.server.app import create_app
from seatmeter.server.db import Database


def check_in(client: TestClient, credential: str, **report) -> dict:
    body = {"clock": datetime.now(UTC).isoformat(), **report}
    response = client.post("/api/agent/v1/check-in", json=body, headers=bearer(credential))
    assert response.status_code == 200, response.text
    return response.json()


def stored(database: Database, agent_id: str) -> Agent:
    with database.reading() as session:
        agent = session.scalar(select(Agent).where(Agent.id == agent_id))
    assert agent is not None
    return agent


def heartbeats(client: TestClient):
    return client.app.state.check_in_desk.heartbeats


def test_a_check_in_that_changes_nothing_is_written_with_the_next_flush(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    check_in(admin, credential)
    first = stored(database, "agent-1").last_seen

    check_in(admin, credential)
    assert stored(database, "agent-1").last_seen == first

    assert heartbeats(admin).flush() == 1
    assert stored(database, "agent-1").last_seen > first
    assert heartbeats(admin).flush() == 0


def test_pending_heartbeats_are_written_when_the_server_stops(settings, database, tokens):
    with TestClient(create_app(settings, database)) as client:
        credential = enrol(client, tokens["agent"], "agent-1", "CAD-01")
        check_in(client, credential)
        first = stored(database, "agent-1").last_seen
        check_in(client, credential)

    assert stored(database, "agent-1").last_seen > first


def test_heartbeats_are_written_without_being_asked(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    check_in(admin, credential)
    first = stored(database, "agent-1").last_seen

    check_in(admin, credential)

    for _ in range(100):
        if stored(database, "agent-1").last_seen > first:
            return
        time.sleep(0.1)
    pytest.fail("the heartbeat was not written within 10 seconds")


def test_a_heartbeat_never_moves_last_seen_back(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    check_in(admin, credential)
    newest = stored(database, "agent-1").last_seen

    heartbeats(admin).note("agent-1", newest - timedelta(minutes=5), 0.0)
    heartbeats(admin).flush()

    assert stored(database, "agent-1").last_seen == newest


@pytest.mark.parametrize(
    "change",
    [
        {"hostname": "CAD-01-RENAMED"},
        {"agent_version": "0.2.0"},
        {"problems": [{"code": "usage_files_unreadable", "message": "no consent"}]},
        {"clock_behind_s": 7200},
    ],
    ids=["hostname", "version", "problem", "clock"],
)
def test_a_check_in_that_changes_a_fact_is_written_at_once(admin, tokens, database, change):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    check_in(admin, credential)
    before = stored(database, "agent-1")

    change = dict(change)  # parameters are shared between the backends
    behind = change.pop("clock_behind_s", 0)
    clock = datetime.now(UTC) - timedelta(seconds=behind)
    check_in(admin, credential, **change, clock=clock.isoformat())

    after = stored(database, "agent-1")
    assert after.last_seen > before.last_seen
    assert (after.hostname, after.agent_version) == (
        change.get("hostname", before.hostname),
        change.get("agent_version", before.agent_version),
    )
    assert [p["code"] for p in after.problems] == [p["code"] for p in change.get("problems", [])]
    assert abs(after.clock_offset_s - behind) < 2


@pytest.fixture
def other_process(database_url: str, tmp_path: Path):
    """A second app over the same database, as a second server process
    would be: its own connections and its own kept decisions."""
    database = Database(database_url)
    settings = make_settings(database_url, tmp_path / "other")
    with TestClient(create_app(settings, database)) as client:
        yield client
    database.dispose()


def test_a_change_made_through_another_process_reaches_the_next_check_in(
    admin, tokens, other_process
):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    assert check_in(other_process, credential)["monitoring"] is False
    assert check_in(other_process, credential)["monitoring"] is False  # kept

    server = admin.post("/api/v1/license-servers", json={"name": "Main", "team_id": "1"}).json()
    told = check_in(other_process, credential)
    assert told["monitoring"] is True
    assert told["license_server_ids"] == [server["id"]]

    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"enabled": False})
    assert check_in(other_process, credential)["monitoring"] is False
    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"enabled": True})
    assert check_in(other_process, credential)["monitoring"] is True

    group = admin.get("/api/v1/agent-groups").json()["items"][0]
    admin.patch(f"/api/v1/agent-groups/{group['id']}", json={"name": "Workstations"})
    assert "'Workstations'" in check_in(other_process, credential)["reason"]

    admin.delete(f"/api/v1/agent-groups/{group['id']}/agents/agent-1")
    assert check_in(other_process, credential)["monitoring"] is False
    admin.put(f"/api/v1/agent-groups/{group['id']}/agents", json={"agent_ids": ["agent-1"]})
    assert check_in(other_process, credential)["monitoring"] is True

    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"agent_group_ids": []})
    assert check_in(other_process, credential)["monitoring"] is False


def test_a_new_catalog_reaches_the_next_check_in_through_another_process(
    admin, tokens, other_process
):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    packaged = load_packaged()
    assert check_in(other_process, credential)["catalog_revision"] == packaged.revision

    newer = packaged.as_document()
    newer["revision"] = packaged.revision + 1
    assert admin.put("/api/v1/catalog", json=newer).status_code == 200

    assert check_in(other_process, credential)["catalog_revision"] == packaged.revision + 1


def generation(database: Database) -> int:
    with database.reading() as session:
        return session.scalars(select(MonitoringGeneration.value)).one()


def test_an_enrolment_voids_no_kept_decision(admin, tokens, database):
    server = admin.post("/api/v1/license-servers", json={"name": "Main", "team_id": "1"})
    assert server.status_code == 201, server.text
    before = generation(database)

    credential = enrol(admin, tokens["agent"], "agent-2", "CAD-02")  # joins Default

    assert generation(database) == before
    assert check_in(admin, credential)["monitoring"] is True


def test_what_decides_monitoring_moves_the_generation(admin, database):
    moves = []
    group = admin.post("/api/v1/agent-groups", json={"name": "CAD"}).json()
    server = admin.post(
        "/api/v1/license-servers", json={"name": "Main", "team_id": "1", "agent_group_ids": []}
    ).json()
    changes = [
        (
            "select",
            "patch",
            f"/api/v1/license-servers/{server['id']}",
            {"agent_group_ids": [group["id"]]},
        ),
        ("disable", "patch", f"/api/v1/license-servers/{server['id']}", {"enabled": False}),
        ("rename server", "patch", f"/api/v1/license-servers/{server['id']}", {"name": "Other"}),
        ("rename group", "patch", f"/api/v1/agent-groups/{group['id']}", {"name": "Drafting"}),
    ]
    for name, method, path, body in changes:
        before = generation(database)
        answer = admin.request(method, path, json=body)
        assert answer.status_code == 200, answer.text
        moves.append((name, generation(database) > before))

    assert moves == [(name, True) for name, *_ in changes]
