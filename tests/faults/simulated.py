"""Simulated agents for fault tests: the agent API spoken over real HTTP
by threads, each with an outbox in miniature: a batch is resent until the
server acknowledges it, whatever goes wrong in between, exactly as the
real agent's outbox behaves (tests/agent proves that part on its own).
"""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

RETRY_PAUSE_S = 0.2


class SimulatedAgent:
    def __init__(self, base_url: str, agent_token: str, name: str) -> None:
        self.base_url = base_url
        self.agent_id = str(uuid.uuid4())
        self.hostname = name
        self.credential = self._enrol(agent_token)
        self.acknowledged = 0
        self.refusals: list[str] = []

    def batches(self, count: int, sessions_per_batch: int, shift_s: float = 0) -> list[dict]:
        """Closed sessions, a start and a stop each, as the agent sends
        them; `shift_s` moves every time the agent states (a wrong clock)."""
        now = datetime.now(UTC) + timedelta(seconds=shift_s)
        made = []
        for number in range(count):
            events = []
            for offset in range(sessions_per_batch):
                started = now - timedelta(hours=2, minutes=number + offset)
                session = self._session(started)
                events.append({**session, "event_id": uuid.uuid4().hex, "kind": "start"})
                ended = {"ended_at": (started + timedelta(minutes=30)).isoformat()}
                events.append({**session, **ended, "event_id": uuid.uuid4().hex, "kind": "stop"})
            made.append({"events": events})
        return made

    def check_in(self, shift_s: float = 0) -> dict[str, Any]:
        clock = (datetime.now(UTC) + timedelta(seconds=shift_s)).isoformat()
        answer = self._post("/api/agent/v1/check-in", {"clock": clock})
        answer.raise_for_status()
        return dict(answer.json())

    def send_all(self, batches: list[dict], deadline_s: float) -> None:
        """Each batch until acknowledged, in order; gives up at the deadline."""
        give_up = time.monotonic() + deadline_s
        for batch in batches:
            while time.monotonic() < give_up:
                try:
                    answer = self._post("/api/agent/v1/session-events", batch)
                except httpx.TransportError:
                    time.sleep(RETRY_PAUSE_S)
                    continue
                if answer.status_code == 200:
                    self.acknowledged += 1
                    break
                if answer.status_code < 500:
                    self.refusals.append(answer.text)
                    return
                time.sleep(RETRY_PAUSE_S)

    def _session(self, started: datetime) -> dict[str, Any]:
        return {
            "session_id": uuid.uuid4().hex,
            "hostname": self.hostname,
            "username": f"CORP\\{self.hostname.lower()}",
            "application": "Revit",
            "version": "2025",
            "source": "process",
            "started_at": started.isoformat(),
        }

    def _enrol(self, agent_token: str) -> str:
        body = {"agent_id": self.agent_id, "hostname": self.hostname}
        body |= {"os": "windows", "agent_version": "0.1.0"}
        answer = httpx.post(
            f"{self.base_url}/api/agent/v1/enrol",
            json=body,
            headers={"Authorization": f"Bearer {agent_token}"},
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["credential"])

    def _post(self, path: str, body: dict) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.credential}"}
        return httpx.post(f"{self.base_url}{path}", json=body, headers=headers, timeout=30)


def send_together(agents: list[SimulatedAgent], batches: list[list[dict]], deadline_s: float):
    """Start every agent sending its batches; returns the threads."""
    threads = [
        threading.Thread(target=agent.send_all, args=(own, deadline_s), daemon=True)
        for agent, own in zip(agents, batches, strict=True)
    ]
    for thread in threads:
        thread.start()
    return threads
