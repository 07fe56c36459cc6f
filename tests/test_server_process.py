"""End to end over real HTTP: `seatmeter serve` processes on loopback.

The agent API and the admin API are driven the way agents and scripts
drive them, with tokens made by the real `seatmeter token create`.
"""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import _admin_sql, _with_database, bearer, worker
from serverproc import create_token, running_server, running_servers
from sqlalchemy import text

from seatmeter.server.db import Database

pytestmark = pytest.mark.slow

EVENT = {
    "hostname": "CAD-01",
    "username": "CORP\\jdoe",
    "application": "Civil 3D",
    "version": "2024",
    "source": "process",
    "started_at": "2026-12-03T10:00:00+00:00",
}


def test_selected_agent_groups_decide_which_agents_monitor(
    database_url: str, tmp_path: Path
) -> None:
    admin_token = create_token(database_url, tmp_path, "admin", "admin")
    with (
        running_server(database_url, tmp_path) as base_url,
        Api(base_url, admin_token) as admin,
    ):
        # Made while the server runs: the command and the server share it.
        agent_token = create_token(database_url, tmp_path, "agent", "agents")
        default = admin.default_group_id()
        drafting = admin.create_group("Drafting")
        design = admin.create_group("Design")

        # Each agent gets its own credential, and joins Default by its rule.
        first = admin.enrol(agent_token, "agent-1", "CAD-01")
        second = admin.enrol(agent_token, "agent-2", "CAD-02")
        assert first != second
        admin.put_members(drafting, ["agent-1"])
        admin.put_members(design, ["agent-2"])
        assert admin.members(default) == ["agent-1", "agent-2"]

        server = admin.create_license_server("Autodesk team", [drafting])
        assert admin.check_in(first)["monitoring"] is True
        assert admin.check_in(second)["monitoring"] is False

        # Selecting Default reaches the second agent at its next check-in.
        admin.change_license_server(server, agent_group_ids=[drafting, default])
        told = admin.check_in(second)
        assert told["monitoring"] is True
        assert told["license_server_ids"] == [server]

        admin.change_license_server(server, enabled=False)
        assert admin.check_in(first)["monitoring"] is False
        assert admin.check_in(second)["monitoring"] is False


def test_several_processes_over_one_database_behave_as_one(
    database_url: str, tmp_path: Path
) -> None:
    skip_unless_postgres(database_url)
    admin_token = create_token(database_url, tmp_path, "admin", "admin")
    agent_token = create_token(database_url, tmp_path, "agent", "agents")
    dirs = [tmp_path / "a", tmp_path / "b"]
    with (
        running_servers(database_url, dirs) as (url_a, url_b),
        Api(url_a, admin_token) as a,
        Api(url_b, admin_token) as b,
    ):
        # What A writes, B acts on: the agent joins A's group as it enrols.
        rule = {"kind": "hostname", "value": "CAD-*"}
        group = a.create_group("Site", [rule])
        server = a.create_license_server("Autodesk team", [group])
        credential = b.enrol(agent_token, "agent-1", "CAD-01")
        told = b.check_in(credential)
        assert (told["monitoring"], told["license_server_ids"]) == (True, [server])

        batch = session_batch("e1", "e2", "s1")
        assert a.send_events(credential, batch) == {"accepted": 2, "duplicates": 0}
        [stored] = b.sessions()
        assert (stored["agent_id"], stored["username"]) == ("agent-1", "CORP\\jdoe")
        assert stored["ended_at"] is not None

        # A resend through either process stores nothing new.
        for api in (a, b):
            counts = api.send_events(credential, batch)
            assert counts == {"accepted": 0, "duplicates": 2}
        assert [row["id"] for row in a.sessions()] == [stored["id"]]

        # The same new batch through both at once is still stored once.
        batch = session_batch("e3", "e4", "s2")
        with ThreadPoolExecutor(2) as pool:
            sends = [pool.submit(api.send_events, credential, batch) for api in (a, b)]
            answers = [send.result() for send in sends]
            accepted = sorted(answer["accepted"] for answer in answers)
        assert accepted == [0, 2]
        assert len(b.sessions()) == 2


def test_processes_starting_together_on_an_empty_database_migrate_it_once(
    database_url: str, tmp_path: Path
) -> None:
    skip_unless_postgres(database_url)
    dirs = [tmp_path / "a", tmp_path / "b"]
    with empty_postgres_database() as url:
        # Both start, and so migrate, at the same moment.
        with running_servers(url, dirs) as base_urls:
            for base_url in base_urls:
                ready = httpx.get(f"{base_url}/readyz").json()
                assert ready["database"] == "postgresql"
        assert count_default_groups(url) == 1


def skip_unless_postgres(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("only PostgreSQL is shared by several server processes")


@contextmanager
def empty_postgres_database() -> Iterator[str]:
    """A database without any schema, rather than a copy of the template."""
    name = f"seatmeter_empty_{worker()}_{uuid.uuid4().hex[:12]}"
    _admin_sql(f"CREATE DATABASE {name}")
    try:
        yield _with_database(name)
    finally:
        _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def count_default_groups(url: str) -> int:
    database = Database(url)
    query = "SELECT count(*) FROM agent_groups WHERE name = 'Default'"
    try:
        with database.engine.connect() as connection:
            return int(connection.scalar(text(query)))
    finally:
        database.dispose()


def session_batch(start_id: str, stop_id: str, session_id: str) -> dict[str, Any]:
    """A start and a stop of one session, as an agent sends them."""
    start = {**EVENT, "session_id": session_id, "kind": "start"}
    stop = {**start, "kind": "stop", "ended_at": "2026-12-03T11:00:00+00:00"}
    return {"events": [{**start, "event_id": start_id}, {**stop, "event_id": stop_id}]}


class Api(httpx.Client):
    """One server process, called with a token; each call checks its status
    and fails with the response's body, which says what went wrong."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(base_url=base_url, headers=bearer(token), timeout=10)

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    # The admin API, with the token given at the start.

    def default_group_id(self) -> int:
        groups = self.call("GET", "/api/v1/agent-groups")["items"]
        [default] = [group for group in groups if group["is_default"]]
        assert default["name"] == "Default"
        assert default["auto_assign_rules"] == [{"kind": "all", "value": None}]
        return int(default["id"])

    def create_group(self, name: str, rules: list[Any] | None = None) -> int:
        body = {"name": name, "auto_assign_rules": rules or []}
        return int(self.call("POST", "/api/v1/agent-groups", 201, json=body)["id"])

    def put_members(self, group_id: int, agent_ids: list[str]) -> None:
        path = f"/api/v1/agent-groups/{group_id}/agents"
        shown = self.call("PUT", path, json={"agent_ids": agent_ids})
        assert shown["agent_ids"] == sorted(agent_ids)

    def members(self, group_id: int) -> list[str]:
        path = f"/api/v1/agent-groups/{group_id}"
        return list(self.call("GET", path)["agent_ids"])

    def create_license_server(self, name: str, group_ids: list[int]) -> int:
        body = {"name": name, "team_id": "team-1", "agent_group_ids": group_ids}
        shown = self.call("POST", "/api/v1/license-servers", 201, json=body)
        assert shown["agent_group_ids"] == sorted(group_ids)
        return int(shown["id"])

    def change_license_server(self, server_id: int, **changes: Any) -> None:
        path = f"/api/v1/license-servers/{server_id}"
        shown = self.call("PATCH", path, json=changes)
        for name, value in changes.items():
            expected = sorted(value) if isinstance(value, list) else value
            assert shown[name] == expected, name

    def sessions(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/v1/sessions")["items"])

    # The agent API, with an agent token or an agent's own credential.

    def enrol(self, agent_token: str, agent_id: str, hostname: str) -> str:
        host = {"hostname": hostname, "os": "windows", "agent_version": "0.1.0"}
        body = {"agent_id": agent_id, **host}
        path = "/api/agent/v1/enrol"
        headers = bearer(agent_token)
        answer = self.call("POST", path, 201, json=body, headers=headers)
        return str(answer["credential"])

    def check_in(self, credential: str) -> dict[str, Any]:
        body = {"clock": datetime.now(UTC).isoformat()}
        path = "/api/agent/v1/check-in"
        return dict(self.call("POST", path, json=body, headers=bearer(credential)))

    def send_events(self, credential: str, batch: dict[str, Any]) -> dict[str, int]:
        path = "/api/agent/v1/session-events"
        return dict(self.call("POST", path, json=batch, headers=bearer(credential)))
