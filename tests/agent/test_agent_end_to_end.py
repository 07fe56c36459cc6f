"""The agent end to end: a real `seatmeter serve` on loopback, a real
`seatmeter-agent run` process, and fake Autodesk applications that are
real processes (fakeapps.py). What arrived is read through the admin API.

The agent scans and checks in every second, so that a test waits seconds,
not minutes.

An agent reports every Autodesk application on its host, including those
of other programs: another test, another test run, a benchmark. So a test
counts only the sessions of its own processes, known by their start time
(the process creation time, to the clock tick), and a lock file makes the
tests of this module take turns, so that no two of their processes start
in the same tick.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest
from conftest import bearer
from fakeapps import CIVIL_3D_2024, REVIT_2025, FakeApp, running_app
from serverproc import ServerProcess, clean_environment, create_token, free_port

from seatmeter.agent import processes
from seatmeter.agent.catalog import load_packaged
from seatmeter.agent.cli import STATE_FILE
from seatmeter.agent.state import AgentState, OpenSession

pytestmark = pytest.mark.slow

T = TypeVar("T")
# A session as the API shows it.
Shown = dict[str, Any]

SCAN_S = 1.0
CHECKIN_S = 1.0
# A scan runs after the tick's check-in, so it may start a round trip
# late; a stop is then up to one scan interval and this much early.
SLACK_S = 0.5
START_TOLERANCE_S = 1.0
# A process's creation time is counted in clock ticks of 10 ms.
SAME_START_S = 0.01
# Times pass through microseconds and durations through milliseconds.
ROUNDING_S = 0.01
DEADLINE_S = 30.0
# Sending backs off exponentially while the server is down, so the
# outbox may wait for a while after it returns.
DRAIN_DEADLINE_S = 60.0
POLL_S = 0.1
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 40
HOST_LOCK = Path(tempfile.gettempdir()) / "seatmeter-agent-end-to-end.lock"
LICENSE_SERVER = "Autodesk team"
DEFAULT_SELECTED = "agent group 'Default' is selected on license server 'Autodesk team'"
NONE_SELECTED = (
    "none of the agent's groups ('Default') is selected on an enabled "
    "Autodesk license server; select one on the license server"
)


# The fake applications themselves


def test_fake_applications_are_what_the_catalog_recognises(tmp_path: Path) -> None:
    with (
        host_to_ourselves(),
        running_app(tmp_path, CIVIL_3D_2024) as civil,
        running_app(tmp_path, REVIT_2025) as revit,
    ):
        for app in (civil, revit):
            process = psutil.Process(app.pid)
            name, exe = process.name(), process.exe()
            assert name == app.application.executable
            assert exe.endswith(f"/Autodesk/{app.application.folder}/{name}")
            match = load_packaged().match(name, exe, process.cmdline())
            assert match is not None
            assert (match.application, match.release) == (
                app.application.name,
                app.application.release,
            )
            assert (match.legacy, match.problem) == (False, None)

        # And the agent's own scan finds them, owner and start included.
        seen = {s.pid: s for s in processes.scan(load_packaged()).seen}
        for app in (civil, revit):
            assert seen[app.pid].create_time == app.started_at
            assert seen[app.pid].username == host_user()


# The scenarios


def test_running_applications_are_sessions_that_end_with_their_process(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    server.api.create_license_server()
    agent.start()

    with (
        running_app(tmp_path, CIVIL_3D_2024) as civil,
        running_app(tmp_path, REVIT_2025) as revit,
    ):
        shown = [wait_for_active(server, agent, app) for app in (civil, revit)]
        for app, session in zip((civil, revit), shown, strict=True):
            assert_session_of(app, session)

        # What the agent says of itself while it runs.
        status = wait_for_drain(agent)
        assert field(status, "monitoring") == f"yes: {DEFAULT_SELECTED}"
        assert int(field(status, "open sessions")) >= 2
        for app in (civil, revit):
            assert open_session_line(app) in status.splitlines()
        assert field(status, "server").startswith("reachable, last try ")

        for app in (civil, revit):
            app.stop()

    for app, session in zip((civil, revit), shown, strict=True):
        ended = wait_for_end(server, agent, session["id"])
        assert_ended_with(app, ended)
    assert_each_once([civil, revit], server.api.sessions())


def test_an_agent_in_no_selected_group_records_nothing_until_one_is(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    license_server = server.api.create_license_server(group_ids=[])
    agent.start()

    with running_app(tmp_path, CIVIL_3D_2024) as civil:
        # Told by the server, not merely not told yet.
        status = wait_for(
            "the agent to be told why it does not monitor",
            lambda: _told(agent.status(), f"no: {NONE_SELECTED}"),
            agent,
        )

        # Nothing to wait for: the point is that nothing happens. Not
        # monitoring, the agent records no application at all, ours or not.
        time.sleep(3 * SCAN_S)
        assert server.api.sessions() == []
        agent_id = field(status, "agent id")
        assert server.api.agent(agent_id)["monitoring"] is False
        status = agent.status()
        assert field(status, "open sessions") == "0"
        assert field(status, "outbox") == "0 event(s) waiting, 0 dropped"

        # Selecting the agent's group reaches it at its next check-in.
        server.api.select_groups(license_server, [server.api.default_group_id()])
        session = wait_for_active(server, agent, civil)
        assert_session_of(civil, session)
        status = agent.status()
        assert field(status, "monitoring") == f"yes: {DEFAULT_SELECTED}"
        assert open_session_line(civil) in status.splitlines()
        assert server.api.agent(agent_id)["monitoring"] is True


def test_sessions_during_a_server_outage_arrive_once_when_it_returns(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    server.api.create_license_server()
    agent.start()
    started: list[FakeApp] = []

    with running_app(tmp_path, CIVIL_3D_2024) as before:
        started.append(before)
        wait_for_active(server, agent, before)
        wait_for_drain(agent)
        server.process.stop()

        # Two whole sessions while the server is down, and one that ends.
        for application in (REVIT_2025, CIVIL_3D_2024):
            with running_app(tmp_path, application) as app:
                started.append(app)
                wait_for_agent_to_open(agent, app)
                app.stop()
                wait_for_agent_to_close(agent, app)
        before.stop()
        wait_for_agent_to_close(agent, before)

        # And one that starts now and outlives the outage.
        with running_app(tmp_path, REVIT_2025) as ongoing:
            started.append(ongoing)
            wait_for_agent_to_open(agent, ongoing)

            # Starts and stops of both whole sessions, a stop, a start.
            assert waiting_events(agent, started) == [
                (1, "start"),
                (1, "stop"),
                (2, "start"),
                (2, "stop"),
                (0, "stop"),
                (3, "start"),
            ]
            status = agent.status()
            assert field(status, "server").startswith("unreachable (")
            assert int(field(status, "outbox").split()[0]) >= 6

            server.process.start()
            server.process.wait_until_ready()
            wait_for_drain(agent, DRAIN_DEADLINE_S)
            assert_each_once(started, server.api.sessions())
            [active] = ours(ongoing, server.api.sessions(active=True))
            assert_session_of(ongoing, active)
            ongoing.stop()

    assert_ended_with(ongoing, wait_for_end(server, agent, active["id"]))
    assert_each_once(started, server.api.sessions())


def test_a_session_that_ends_while_the_agent_is_dead_ends_when_last_seen(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    server.api.create_license_server()
    agent.start()

    with running_app(tmp_path, CIVIL_3D_2024) as civil:
        session = wait_for_active(server, agent, civil)
        killed_at = agent.kill()
        civil.stop()

    # Long enough that closing at the restart would show.
    time.sleep(2 * SCAN_S)
    restarted_at = time.time()
    agent.start()

    ended = wait_for_end(server, agent, session["id"])
    ended_at = moment(ended["ended_at"])
    assert killed_at - SCAN_S - SLACK_S <= ended_at <= killed_at + ROUNDING_S
    assert ended_at < restarted_at - SCAN_S
    wait_for_drain(agent)
    mine = ours(civil, server.api.sessions())
    assert [s["id"] for s in mine] == [session["id"]]
    assert agent.open_sessions(civil) == []


def test_a_session_whose_process_outlives_an_agent_kill_continues(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    server.api.create_license_server()
    agent.start()

    with running_app(tmp_path, CIVIL_3D_2024) as civil:
        session = wait_for_active(server, agent, civil)
        [tracked] = agent.open_sessions(civil)
        agent.kill()
        # The application runs on, unwatched, for a couple of scans.
        time.sleep(2 * SCAN_S)
        restarted_at = time.time()
        agent.start()

        # A scan of the new agent process has seen it, as the same session.
        [seen] = wait_for(
            "the restarted agent to scan",
            lambda: _seen_since(agent.open_sessions(civil), restarted_at),
            agent,
        )
        assert seen.session_id == tracked.session_id
        wait_for_drain(agent)
        active = ours(civil, server.api.sessions(active=True))
        assert [s["id"] for s in active] == [session["id"]]
        civil.stop()

    # One session, from the process's start to its end.
    assert_ended_with(civil, wait_for_end(server, agent, session["id"]))
    assert_each_once([civil], server.api.sessions())


# Assertions


def assert_session_of(app: FakeApp, session: Shown) -> None:
    assert (session["application"], session["version"]) == (
        app.application.name,
        app.application.release,
    )
    host = (socket.gethostname(), host_user())
    assert (session["hostname"], session["username"]) == host
    assert session["source"] == "process"
    assert abs(moment(session["started_at"]) - app.started_at) <= START_TOLERANCE_S


def assert_ended_with(app: FakeApp, session: Shown) -> None:
    """Ended at the last scan that saw the process alive: at most one scan
    interval (and a late scan's slack) before the process was gone."""
    assert session["ended_at"] is not None
    ended_at = moment(session["ended_at"])
    assert app.gone_at is not None
    early, late = SCAN_S + SLACK_S, ROUNDING_S
    assert app.gone_at - early <= ended_at <= app.gone_at + late
    assert app.lifetime - early <= session["duration_s"] <= app.lifetime + late


def assert_each_once(apps: list[FakeApp], sessions: list[Shown]) -> None:
    """One session for each process, with its start and its end."""
    for app in apps:
        mine = ours(app, sessions)
        assert len(mine) == 1, f"pid {app.pid}:\n{_listed(sessions)}"
        assert_session_of(app, mine[0])
        if app.gone_at is None:
            assert mine[0]["ended_at"] is None
        else:
            assert_ended_with(app, mine[0])


def ours(app: FakeApp, sessions: list[Shown]) -> list[Shown]:
    """The sessions of this process: its application, started with it."""
    return [s for s in sessions if _started_with(app, s)]


def waiting_events(agent: AgentProcess, apps: list[FakeApp]) -> list[tuple[int, str]]:
    """The outbox, oldest first, as (index of the process in apps, kind)."""
    waiting = []
    for event in agent.outbox():
        for index, app in enumerate(apps):
            if _started_with(app, event):
                waiting.append((index, event["kind"]))
    return waiting


def _started_with(app: FakeApp, session: dict[str, Any]) -> bool:
    """Whether a session, or an event of one, is of this process."""
    application: str = session["application"]
    started_at = moment(session["started_at"])
    same_start = abs(started_at - app.started_at) <= SAME_START_S
    return application == app.application.name and same_start


def _listed(sessions: list[Shown]) -> str:
    lines = [f"{s['id']} {s['application']} {s['started_at']}" for s in sessions]
    ends = [f" to {s['ended_at']}" for s in sessions]
    return "\n".join(line + end for line, end in zip(lines, ends, strict=True))


# Waiting


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    agent: AgentProcess,
    timeout: float = DEADLINE_S,
) -> T:
    """The probe's first true answer; fails with the agent's log after the
    deadline, since the agent is what the waiting is usually for."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(
                f"still waiting for {what} after {timeout:.0f} s; "
                f"last lines of {agent.log_path}:\n{agent.log_tail()}"
            )
        time.sleep(POLL_S)


def wait_for_active(server: Server, agent: AgentProcess, app: FakeApp) -> Shown:
    def active() -> Shown | None:
        found = ours(app, server.api.sessions(active=True))
        return found[0] if found else None

    started = datetime.fromtimestamp(app.started_at, UTC).isoformat()
    what = f"an active {app.application.name} session started at {started}"
    return wait_for(what, active, agent)


def wait_for_end(server: Server, agent: AgentProcess, session_id: int) -> Shown:
    def ended() -> Shown | None:
        [session] = [s for s in server.api.sessions() if s["id"] == session_id]
        return session if session["ended_at"] else None

    return wait_for(f"session {session_id} to end", ended, agent)


def wait_for_drain(agent: AgentProcess, timeout: float = DEADLINE_S) -> str:
    """The agent's status once its outbox is empty."""
    return wait_for(
        "the agent's outbox to drain",
        lambda: _drained(agent.status()),
        agent,
        timeout,
    )


def wait_for_agent_to_open(agent: AgentProcess, app: FakeApp) -> None:
    wait_for(
        f"the agent to open a session for pid {app.pid}",
        lambda: agent.open_sessions(app),
        agent,
    )


def wait_for_agent_to_close(agent: AgentProcess, app: FakeApp) -> None:
    wait_for(
        f"the agent to close the session of pid {app.pid}",
        lambda: not agent.open_sessions(app),
        agent,
    )


def _drained(status: str) -> str | None:
    return status if field(status, "outbox").startswith("0 event(s)") else None


def _told(status: str, monitoring: str) -> str | None:
    return status if field(status, "monitoring") == monitoring else None


def _seen_since(sessions: list[OpenSession], since: float) -> list[OpenSession]:
    return sessions if all(s.last_seen > since for s in sessions) else []


# Reading what the agent and the server say


def field(status: str, label: str) -> str:
    """A value of `seatmeter-agent status`, e.g. field(text, "outbox")."""
    found = re.search(rf"^{re.escape(label)}:\s+(.*)$", status, re.MULTILINE)
    assert found, f"no {label!r} line in:\n{status}"
    return found.group(1)


def open_session_line(app: FakeApp) -> str:
    application = app.application
    who = f"{application.name} {application.release} by {host_user()}"
    return f"  {who} (pid {app.pid}, process)"


def moment(text: str) -> float:
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def host_user() -> str:
    return str(psutil.Process().username())


# The server and the agent


class Api(httpx.Client):
    """The admin API with an admin token; each call checks its status."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(base_url=base_url, headers=bearer(token), timeout=10)

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        response = self.request(method, path, **kw)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    def create_license_server(self, group_ids: list[int] | None = None) -> int:
        """Left out, the groups are the Default group, which every newly
        enrolled agent joins."""
        body: dict[str, Any] = {"name": LICENSE_SERVER, "team_id": "100001"}
        if group_ids is not None:
            body["agent_group_ids"] = group_ids
        shown = self.call("POST", "/api/v1/license-servers", 201, json=body)
        selected = [self.default_group_id()] if group_ids is None else sorted(group_ids)
        assert shown["agent_group_ids"] == selected
        return int(shown["id"])

    def select_groups(self, license_server_id: int, group_ids: list[int]) -> None:
        path = f"/api/v1/license-servers/{license_server_id}"
        shown = self.call("PATCH", path, json={"agent_group_ids": group_ids})
        assert shown["agent_group_ids"] == sorted(group_ids)

    def default_group_id(self) -> int:
        groups = self.call("GET", "/api/v1/agent-groups")["items"]
        [default] = [group for group in groups if group["is_default"]]
        return int(default["id"])

    def agent(self, agent_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/v1/agents/{agent_id}"))

    def sessions(self, active: bool | None = None) -> list[Shown]:
        params = {} if active is None else {"active": str(active).lower()}
        listing = self.call("GET", "/api/v1/sessions", params=params)
        assert listing["next"] is None, "more sessions than one page"
        return list(listing["items"])


@dataclass
class Server:
    process: ServerProcess
    api: Api
    agent_token: str


class AgentProcess:
    """`seatmeter-agent run` as a child process, its output in a log file;
    `stop` and `kill` are safe to call at any time."""

    def __init__(self, server_url: str, token: str, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.log_path = state_dir.parent / "agent.log"
        self._command = [
            *(sys.executable, "-m", "seatmeter.agent", "run"),
            *("--server", server_url, "--token", token),
            *("--state-dir", str(state_dir), "--log-level", "debug"),
            *("--scan-interval", str(SCAN_S), "--checkin-interval", str(CHECKIN_S)),
        ]
        self._process: subprocess.Popen[bytes] | None = None
        # Added to the agent's environment, for settings without a flag.
        self.environment: dict[str, str] = {}

    def start(self) -> None:
        assert self._process is None, "the agent is running already"
        # Appended to, so that a restart keeps the story before it.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**clean_environment(), **self.environment},
            )
        self._wait_for_state()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> float:
        """SIGKILL: no chance to close anything; returns when it was dead."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
        return time.time()

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def status(self) -> str:
        command = [sys.executable, "-m", "seatmeter.agent", "status"]
        done = subprocess.run(
            [*command, "--state-dir", str(self.state_dir)],
            capture_output=True,
            text=True,
            env=clean_environment(),
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def open_sessions(self, app: FakeApp) -> list[OpenSession]:
        """The app's open sessions in the agent's state, as a restart
        finds them."""
        with closing(AgentState(self.state_dir / STATE_FILE)) as state:
            sessions = state.open_sessions()
        run = (app.pid, app.started_at)
        return [s for s in sessions if (s.pid, s.create_time) == run]

    def outbox(self) -> list[dict[str, Any]]:
        """The events waiting to be sent, oldest first."""
        with closing(AgentState(self.state_dir / STATE_FILE)) as state:
            return state.take(state.max_events)

    def _wait_for_state(self) -> None:
        """Its state file is the first thing an agent makes; `status`
        refuses to run until it exists."""
        deadline = time.monotonic() + DEADLINE_S
        while not (self.state_dir / STATE_FILE).exists():
            assert self._process is not None
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the agent did not start:\n{self.log_tail()}")
            time.sleep(POLL_S)

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "server"
    data_dir.mkdir()
    admin_token = create_token(database_url, data_dir, "admin", "admin")
    agent_token = create_token(database_url, data_dir, "agent", "agents")
    # A port of our own, so that the agent finds the server after a restart.
    settings = {"port": free_port(), "agent_checkin_interval_s": 5}
    process = ServerProcess(database_url, data_dir, **settings)
    try:
        process.start()
        process.wait_until_ready()
        with Api(process.base_url, admin_token) as api:
            yield Server(process, api, agent_token)
    finally:
        process.stop()


@pytest.fixture
def agent(server: Server, tmp_path: Path) -> Iterator[AgentProcess]:
    """An agent for the server, not yet started; stopped at the end."""
    with host_to_ourselves():
        state_dir = tmp_path / "agent"
        agent = AgentProcess(server.process.base_url, server.agent_token, state_dir)
        try:
            yield agent
        finally:
            agent.stop()


@contextmanager
def host_to_ourselves() -> Iterator[None]:
    """Wait until no other test runs an agent or applications here."""
    # Read-only, so that another user's run can share the file.
    lock = os.open(HOST_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)
