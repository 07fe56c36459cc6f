"""A real `seatmeter serve` process: its identity settings reach the rules,
and imported and agent sessions come back attributed over real HTTP."""

from pathlib import Path

import httpx
import pytest
from serverproc import create_token, running_server
from usage_data import Team

from seatmeter.server.db import Database

CSV = (
    "hostname,username,application,version,started_at,ended_at\r\n"
    "CAD-07,CORP\\jdoe,Revit,2024,2025-03-04T08:00:00Z,2025-03-04T12:30:00Z\r\n"
    "CAD-07,CORP\\asmith,Revit,2024,2025-03-04T09:00:00Z,2025-03-04T10:00:00Z\r\n"
)


@pytest.mark.slow
def test_imported_and_agent_sessions_are_attributed(database_url: str, tmp_path: Path) -> None:
    admin_token = create_token(database_url, tmp_path, "admin", "admin")
    agent_token = create_token(database_url, tmp_path, "agent", "agents")
    database = Database(database_url)
    try:
        team = Team(database)
        revit = team.pool("Revit")
        jdoe = team.user("jdoe@corp.com")
        team.assign(jdoe, revit)
        # Outside the configured domain: asmith stays unmapped.
        team.user("asmith@gmail.com")
    finally:
        database.dispose()

    with (
        running_server(database_url, tmp_path, identity_email_domains="corp.com") as base_url,
        httpx.Client(base_url=base_url, timeout=10) as client,
    ):
        admin = {"Authorization": f"Bearer {admin_token}"}
        imported = client.post(
            "/api/v1/sessions/import",
            content=CSV.encode(),
            headers={**admin, "content-type": "text/csv"},
        )
        enrolled = client.post(
            "/api/agent/v1/enrol",
            json={"agent_id": "a-1", "hostname": "CAD-09", "os": "windows", "agent_version": "0"},
            headers={"Authorization": f"Bearer {agent_token}"},
        )
        credential = enrolled.json()["credential"]
        start = {
            "event_id": "e-1",
            "session_id": "s-1",
            "kind": "start",
            "hostname": "CAD-09",
            "username": "CORP\\JDOE",
            "application": "Revit",
            "version": "2025",
            "source": "process",
            "started_at": "2026-12-03T10:00:00+00:00",
        }
        sent = client.post(
            "/api/agent/v1/session-events",
            json={"events": [start]},
            headers={"Authorization": f"Bearer {credential}"},
        )
        sessions = client.get("/api/v1/sessions", headers=admin).json()["items"]

    assert imported.status_code == 200, imported.text
    assert sent.status_code == 200, sent.text
    found = {(s["source"], s["username"]): s for s in sessions}
    expected = {
        ("import", "CORP\\jdoe"): ("pool", jdoe, revit),
        ("import", "CORP\\asmith"): ("unmapped", None, None),
        ("process", "CORP\\JDOE"): ("pool", jdoe, revit),
    }
    assert {
        key: (s["attribution"], s["cloud_user_id"], s["product_pool_id"])
        for key, s in found.items()
    } == expected
