"""The demo's workstations as agents, speaking the real agent API.

Each planned workstation enrols with the agent token, checks in, and
sends its history as start and stop events in batches, exactly as a real
agent's outbox would after a long time offline. Afterwards every agent
keeps checking in, so that the estate shows online, and now and then an
open session ends and another starts, so that current usage moves.
"""

import logging
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from seatmeter.demo.usage import PlannedSession, Workstation

log = logging.getLogger(__name__)

BATCH_EVENTS = 500
SENDERS = 4
CHURN_CHANCE = 0.3


class SimulatedAgent:
    def __init__(self, client: httpx.Client, station: Workstation, agent_token: str) -> None:
        self.client = client
        self.station = station
        self.agent_id = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{station.hostname}.demo"))
        self.credential = self._enrol(agent_token)
        self.open: dict[str, dict[str, Any]] = {}

    def check_in(self) -> None:
        body = {"clock": datetime.now(UTC).isoformat(), "agent_version": "demo"}
        self._post("/api/agent/v1/check-in", body)

    def send_history(self) -> int:
        events = []
        for planned in self.station.sessions:
            events += self._events(planned)
        for start in range(0, len(events), BATCH_EVENTS):
            self._post("/api/agent/v1/session-events", {"events": events[start:][:BATCH_EVENTS]})
        return len(events)

    def start_session(self, application: str, version: str, source: str) -> None:
        planned = PlannedSession(application, version, source, _now(), None)
        self._post("/api/agent/v1/session-events", {"events": self._events(planned)})

    def stop_session(self) -> None:
        if not self.open:
            return
        _, start = self.open.popitem()
        stop = {**start, "event_id": uuid.uuid4().hex, "kind": "stop"}
        stop["ended_at"] = _now().isoformat()
        self._post("/api/agent/v1/session-events", {"events": [stop]})

    def _events(self, planned: PlannedSession) -> list[dict[str, Any]]:
        start = {
            "event_id": uuid.uuid4().hex,
            "session_id": uuid.uuid4().hex,
            "kind": "start",
            "hostname": self.station.hostname,
            "username": self.station.username,
            "application": planned.application,
            "version": planned.version,
            "source": planned.source,
            "started_at": planned.started_at.isoformat(),
        }
        if planned.ended_at is None:
            self.open[start["session_id"]] = start
            return [start]
        stop = {**start, "event_id": uuid.uuid4().hex, "kind": "stop"}
        return [start, {**stop, "ended_at": planned.ended_at.isoformat()}]

    def _enrol(self, agent_token: str) -> str:
        body = {"agent_id": self.agent_id, "hostname": self.station.hostname}
        body |= {"os": "windows", "agent_version": "demo"}
        headers = {"Authorization": f"Bearer {agent_token}"}
        answer = self.client.post("/api/agent/v1/enrol", json=body, headers=headers)
        answer.raise_for_status()
        return str(answer.json()["credential"])

    def _post(self, path: str, body: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {self.credential}"}
        self.client.post(path, json=body, headers=headers).raise_for_status()


def start_estate(
    base_url: str, stations: list[Workstation], agent_token: str
) -> list[SimulatedAgent]:
    """Enrol every workstation and send all its history; returns the agents."""
    client = httpx.Client(base_url=base_url, timeout=60)
    with ThreadPoolExecutor(SENDERS) as pool:
        agents = list(pool.map(lambda s: SimulatedAgent(client, s, agent_token), stations))
        for agent in agents:
            agent.check_in()
        sent = sum(pool.map(SimulatedAgent.send_history, agents))
    log.info("demo: %d agents sent %d session events of history", len(agents), sent)
    return agents


def keep_alive(
    agents: list[SimulatedAgent], interval_s: float, stop: threading.Event, seed: int = 1
) -> None:
    """Check every agent in each interval; now and then end an open
    session and start another somewhere else."""
    rng = random.Random(seed)
    working = [a for a in agents if a.station.applications and a.station.habit != "never"]
    while not stop.wait(interval_s):
        try:
            for agent in agents:
                agent.check_in()
            if working and rng.random() < CHURN_CHANCE:
                _churn(rng, working)
        except httpx.HTTPError as error:
            # The server going away at Ctrl-C is no reason for a traceback.
            log.debug("demo agents paused: %s", error)


def _churn(rng: random.Random, working: list[SimulatedAgent]) -> None:
    with_open = [a for a in working if a.open]
    if with_open:
        rng.choice(with_open).stop_session()
    agent = rng.choice(working)
    application = rng.choice(agent.station.applications)
    agent.start_session(application, rng.choice(("2025", "2026")), "process")


def _now() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)
