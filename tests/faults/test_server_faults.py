"""Faults on the server side, each bounded in time, all on loopback: a
server killed mid-ingestion, PostgreSQL restarted under load, an agent
whose clock is two hours wrong. Whatever happens, every event a simulated
agent sent is stored exactly once."""

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from conftest import REQUIRE_POSTGRES, bearer
from serverproc import ServerProcess, create_token, free_port
from simulated import SimulatedAgent, send_together
from sqlalchemy import func, select

from seatmeter.server.db import Database
from seatmeter.server.sessions.models import SessionEvent, UsageSession

AGENTS = 3
BATCHES = 30
SESSIONS_PER_BATCH = 20
DEADLINE_S = 120.0
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_a_server_killed_mid_ingestion_stores_every_event_once(
    database_url: str, tmp_path: Path
) -> None:
    with served(database_url, tmp_path) as (server, agent_token):
        agents, batches = simulated_estate(server.base_url, agent_token)
        threads = send_together(agents, batches, DEADLINE_S)
        wait_until(lambda: acknowledged(agents) >= 5, "the first batches")

        server.kill()
        assert acknowledged(agents) < AGENTS * BATCHES, "killed too late to matter"
        server.start()
        server.wait_until_ready()
        for thread in threads:
            thread.join(DEADLINE_S)

    assert_each_event_once(database_url, agents, batches)


def test_postgres_restarted_under_load_loses_nothing(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import dev

    bin_dir = dev.find_postgres()
    if bin_dir is None:
        if REQUIRE_POSTGRES:
            pytest.fail("SEATMETER_REQUIRE_POSTGRES=1 but PostgreSQL is not installed")
        pytest.skip("PostgreSQL is not installed")
    # Not under tmp_path: its parents are closed to the postgres user.
    cluster, user = Path(tempfile.mkdtemp(prefix="seatmeter-pg-")), dev.cluster_user()
    port = dev.start_cluster(bin_dir, cluster, user)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    try:
        with served(url, tmp_path) as (server, agent_token):
            pid = server.pid
            agents, batches = simulated_estate(server.base_url, agent_token)
            threads = send_together(agents, batches, DEADLINE_S)
            wait_until(lambda: acknowledged(agents) >= 5, "the first batches")

            assert acknowledged(agents) < AGENTS * BATCHES, "restarted too late to matter"
            # With its log file, or the new postmaster would hold our pipes.
            data, log = cluster / "data", cluster / "log"
            pg_ctl = (bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-m", "fast")
            dev.run_quiet(*pg_ctl, "restart", cwd=cluster, user=user)
            for thread in threads:
                thread.join(DEADLINE_S)
            # The same process recovered: no restart of its own.
            assert server.pid == pid
            assert httpx.get(f"{server.base_url}/readyz", timeout=10).status_code == 200
        assert_each_event_once(url, agents, batches)
    finally:
        dev.stop_cluster(bin_dir, cluster, user)
        shutil.rmtree(cluster, ignore_errors=True)


def test_an_agent_clock_two_hours_wrong_is_corrected(database_url: str, tmp_path: Path) -> None:
    two_hours_slow = -7200.0
    with served(database_url, tmp_path) as (server, agent_token):
        agent = SimulatedAgent(server.base_url, agent_token, "WS-SLOW")
        agent.check_in(shift_s=two_hours_slow)
        batches = agent.batches(1, 3, shift_s=two_hours_slow)
        agent.send_all(batches, DEADLINE_S)
        admin = create_token(database_url, server.data_dir, "read", "reader")
        listing = httpx.get(
            f"{server.base_url}/api/v1/sessions", headers=bearer(admin), timeout=30
        ).json()

    stated = sorted(e["started_at"] for e in batches[0]["events"] if e["kind"] == "start")
    stored = sorted(item["started_at"] for item in listing["items"])
    assert len(stored) == len(stated) == 3
    for said, kept in zip(stated, stored, strict=True):
        error = _seconds(kept) - (_seconds(said) - two_hours_slow)
        assert abs(error) < 5, f"stored {kept} for {said} stated by a clock 2 h slow"


# Helpers


class served:
    """A real server on a port of its own, so that it comes back on the
    same address after a kill, with an agent token to enrol with."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.data_dir = tmp_path / "server"
        self.data_dir.mkdir(exist_ok=True)
        self.agent_token = create_token(database_url, self.data_dir, "agent", "agents")
        self.server = ServerProcess(database_url, self.data_dir, port=free_port())

    def __enter__(self) -> tuple[ServerProcess, str]:
        self.server.start()
        self.server.wait_until_ready()
        return self.server, self.agent_token

    def __exit__(self, *_: object) -> None:
        self.server.stop()


def simulated_estate(
    base_url: str, agent_token: str
) -> tuple[list[SimulatedAgent], list[list[dict]]]:
    agents = [SimulatedAgent(base_url, agent_token, f"WS-{n:02}") for n in range(AGENTS)]
    return agents, [agent.batches(BATCHES, SESSIONS_PER_BATCH) for agent in agents]


def acknowledged(agents: list[SimulatedAgent]) -> int:
    return sum(agent.acknowledged for agent in agents)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.02)


def assert_each_event_once(
    database_url: str, agents: list[SimulatedAgent], batches: list[list[dict]]
) -> None:
    for agent in agents:
        assert agent.refusals == [], agent.refusals
        assert agent.acknowledged == BATCHES, f"{agent.hostname} gave up"
    with stored(database_url) as database, database.reading() as session:
        for agent, sent in zip(agents, batches, strict=True):
            keys = {e["session_id"] for batch in sent for e in batch["events"]}
            rows = session.execute(
                select(UsageSession.agent_session_id, UsageSession.ended_at).where(
                    UsageSession.agent_id == agent.agent_id
                )
            ).all()
            assert len(rows) == len(keys), "a session was lost or doubled"
            assert {key for key, _ in rows} == keys
            assert all(ended is not None for _, ended in rows), "a stop was lost"
            events = session.scalar(
                select(func.count())
                .select_from(SessionEvent)
                .where(SessionEvent.agent_id == agent.agent_id)
            )
            assert events == 2 * len(keys)


@contextmanager
def stored(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
