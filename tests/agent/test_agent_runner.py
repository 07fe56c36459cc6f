"""The agent's loop against a scripted server (an injected HTTP transport):
what it does when the server says monitor, stop, or nothing at all."""

import json
from typing import Any

import httpx
import pytest

from seatmeter.agent.catalog import load_packaged
from seatmeter.agent.config import AgentConfig
from seatmeter.agent.runner import Agent
from seatmeter.agent.state import AgentState
from seatmeter.agent.tracker import Seen
from seatmeter.agent.uplink import Uplink


class FakeServer:
    """Answers the agent API from a script and remembers what it was sent."""

    def __init__(self) -> None:
        self.monitoring = True
        self.down = False
        self.catalog_revision = load_packaged().revision
        self.catalog_document: dict[str, Any] = load_packaged().as_document()
        self.refuse_event: str | None = None
        self.received: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        body = json.loads(request.content) if request.content else None
        route = request.url.path.rsplit("/", 1)[-1]
        return getattr(self, route.replace("-", "_"))(body)

    def enrol(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(201, json={"agent_id": body["agent_id"], "credential": "sma_x"})

    def check_in(self, _body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "monitoring": self.monitoring,
                "reason": "scripted",
                "scan_interval_s": 15,
                "checkin_interval_s": 60,
                "legacy_idle_window_s": 1800,
                "catalog_revision": self.catalog_revision,
            },
        )

    def session_events(self, body: dict[str, Any]) -> httpx.Response:
        bad = [e for e in body["events"] if e["event_id"] == self.refuse_event]
        if bad:
            detail = {"index": 0, "event_id": self.refuse_event, "field": "x"}
            error = {"code": "invalid_event", "message": "bad", "details": [detail]}
            return httpx.Response(422, json={"error": error})
        self.received += body["events"]
        return httpx.Response(200, json={"accepted": len(body["events"]), "duplicates": 0})

    def catalog(self, _body: None) -> httpx.Response:
        return httpx.Response(200, json=self.catalog_document)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def state(tmp_path):
    state = AgentState(tmp_path / "agent-state.db")
    yield state
    state.close()


def agent_for(server: FakeServer, state: AgentState, tmp_path) -> Agent:
    config = AgentConfig(server="http://seatmeter.test", token="smt_enrol", state_dir=tmp_path)
    uplink = Uplink(config.server or "", transport=httpx.MockTransport(server))
    return Agent(config, state, uplink, clock=lambda: 1_800_000_000.0)


def event(number: int) -> dict[str, Any]:
    return {"event_id": f"e-{number}", "session_id": "s", "kind": "start"}


def test_enrols_once_and_follows_the_server(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)

    agent.check_in(1_800_000_000.0)
    agent.check_in(1_800_000_060.0)

    assert server.calls.count("/api/agent/v1/enrol") == 1
    assert agent.monitoring is True
    assert state.get("credential") == "sma_x"


def test_keeps_the_last_instructions_while_the_server_is_away(server, state, tmp_path):
    agent_for(server, state, tmp_path).check_in(1_800_000_000.0)
    server.down = True

    restarted = agent_for(server, state, tmp_path)
    restarted.check_in(1_800_000_100.0)

    assert restarted.monitoring is True
    assert restarted.reachable is False
    assert state.get("status")["reachable"] is False


def test_stops_every_session_when_monitoring_is_turned_off(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    agent.check_in(1_800_000_000.0)
    revit = Seen(7, 1_799_999_000.0, "jdoe", "Revit", "2025", False)
    agent.tracker.observe(1_800_000_001.0, [revit])
    server.monitoring = False

    agent.check_in(1_800_000_060.0)

    assert agent.monitoring is False
    assert state.open_sessions() == []
    kinds = [e["kind"] for e in state.take(10)]
    assert kinds == ["start", "stop"]


def test_sends_oldest_first_and_empties_the_outbox(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    agent.batch_size = 2
    state.record([event(n) for n in range(5)])

    agent.send(1_800_000_000.0)

    assert [e["event_id"] for e in server.received] == [f"e-{n}" for n in range(5)]
    assert state.depth() == 0


def test_backs_off_while_the_server_is_down_and_loses_nothing(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    state.record([event(n) for n in range(3)])
    server.down = True

    agent.send(1_800_000_000.0)
    first = agent._due["send"]
    agent.send(first)
    second = agent._due["send"]

    assert state.depth() == 3
    assert 1_800_000_000.0 < first < second
    server.down = False
    agent.send(second)
    assert state.depth() == 0 and len(server.received) == 3


def test_a_refused_event_is_set_aside_and_the_rest_go_through(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    state.record([event(n) for n in range(3)])
    server.refuse_event = "e-1"

    agent.send(1_800_000_000.0)

    assert [e["event_id"] for e in server.received] == ["e-0", "e-2"]
    assert state.depth() == 0
    assert [p["code"] for p in agent.problems.current()] == ["events_rejected"]


def test_a_newer_catalog_from_the_server_is_used_and_kept(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    newer = load_packaged().as_document()
    newer["revision"] += 1
    server.catalog_document, server.catalog_revision = newer, newer["revision"]

    agent.check_in(1_800_000_000.0)

    assert agent.catalog.revision == newer["revision"]
    assert agent_for(server, state, tmp_path).catalog.revision == newer["revision"]


def test_an_empty_outbox_is_not_polled_between_scans(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)

    agent.send(1_800_000_000.0)

    assert agent._due["send"] == 1_800_000_000.0 + agent.interval("scan_interval_s")
    assert server.calls == []


def test_an_event_too_large_for_any_batch_is_set_aside(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    state.record([event(0)])
    server.session_events = lambda _body: httpx.Response(413, json={})  # type: ignore[method-assign]

    for _ in range(12):
        agent.send(1_800_000_000.0)

    assert agent.batch_size == 1
    assert state.depth() == 0
    assert [p["code"] for p in agent.problems.current()] == ["events_rejected"]


def test_a_refused_enrolment_token_backs_off_instead_of_storming(server, state, tmp_path):
    agent = agent_for(server, state, tmp_path)
    state.record([event(0)])
    server.enrol = lambda _body: httpx.Response(401, json={})  # type: ignore[method-assign]

    for second in range(10):
        agent.tick(1_800_000_000.0 + second)

    # Backing off doubles the wait: at most 5 tries in 10 s, not one a tick.
    assert server.calls.count("/api/agent/v1/enrol") <= 5
    assert "enrolment token" in state.get("status")["reason"]
