# ruff: noqa: F811 (the fixtures imported below are requested by name)
"""A real agent whose state folder stops working: it must stay up, tell
the server, keep what it must send in memory, and put it on the file
once the folder works again.

The faults are real file systems, since the tests run as root, which
ignores mode bits: a small tmpfs filled to the last byte for a full disk,
a read-only bind mount for a read-only folder. Without the right to mount
(not root, or a container without CAP_SYS_ADMIN) the tests skip.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from fakeapps import CIVIL_3D_2024, REVIT_2025, FakeApp, running_app
from serverproc import clean_environment
from test_agent_end_to_end import (  # noqa: F401 (fixtures)
    AgentProcess,
    Server,
    agent,
    assert_each_once,
    server,
    wait_for,
    wait_for_active,
    wait_for_drain,
    wait_for_end,
)

from seatmeter.agent.cli import STATE_FILE
from seatmeter.agent.state import AgentState

pytestmark = pytest.mark.slow

UNWRITABLE = "state_unwritable"
# Small, so that filling it is quick; large enough for a fresh state.
TMPFS_SIZE = "4m"
FALLBACK_WARNING = "keeping session events in memory until it works"


def test_a_full_disk_mid_run_keeps_the_agent_up_and_loses_nothing(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    state_dir = agent.state_dir
    mounted(["-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(state_dir)], state_dir)
    agent.environment = {"SEATMETER_AGENT_STATE_RETRY_S": "1"}
    server.api.create_license_server()
    agent.start()
    started: list[FakeApp] = []
    try:
        with running_app(tmp_path, CIVIL_3D_2024) as before:
            started.append(before)
            wait_for_active(server, agent, before)
            wait_for_drain(agent)
            filler = fill(state_dir)

            # A whole session, an end and a start, all while the disk is full.
            with running_app(tmp_path, REVIT_2025) as during:
                started.append(during)
                shown = wait_for_active(server, agent, during)
                during.stop()
                wait_for_end(server, agent, shown["id"])
            before.stop()
            with running_app(tmp_path, REVIT_2025) as ongoing:
                started.append(ongoing)
                wait_for_active(server, agent, ongoing)

                problem = wait_for_problem(server, agent)
                assert "free space on its disk" in problem["message"], problem
                assert problem["detail"]["os_error"] == "No space left on device (ENOSPC)"
                assert str(state_dir / STATE_FILE) in problem["message"], problem
                assert problem["detail"]["hostname"], problem
                assert "UNWRITABLE" in agent.status(), agent.status()
                assert agent.alive, agent.log_tail()

                filler.unlink()
                wait_for_no_problem(server, agent)
                # What memory kept is on the file now: the ongoing session.
                wait_for(
                    "the ongoing session on the state file",
                    lambda: agent.open_sessions(ongoing),
                    agent,
                )
                assert "state:         writable" in wait_for_drain(agent)
        wait_for_end(server, agent, shown["id"])
    finally:
        agent.stop()

    assert_each_once(started, server.api.sessions())
    assert agent.log_path.read_text().count(FALLBACK_WARNING) == 1, agent.log_tail()


def test_a_read_only_state_folder_from_the_start_still_reports(
    server: Server, agent: AgentProcess, tmp_path: Path
) -> None:
    state_dir = agent.state_dir
    state_dir.mkdir()
    # An existing state file, as an agent upgraded in place would have.
    AgentState(state_dir / STATE_FILE).close()
    mounted(["--bind", str(state_dir), str(state_dir)], state_dir)
    remount(state_dir, "remount,bind,ro")
    agent.environment = {"SEATMETER_AGENT_STATE_RETRY_S": "1"}
    server.api.create_license_server()
    agent.start()
    try:
        with running_app(tmp_path, CIVIL_3D_2024) as app:
            # Enrolled with its token, though it could store nothing.
            shown = wait_for_active(server, agent, app)
            problem = wait_for_problem(server, agent)
            assert "agent's service account" in problem["message"], problem
            assert problem["detail"]["os_error"] == "Read-only file system (EROFS)", problem
            status = run_status(agent)
            assert status.returncode == 1 and "cannot be" in status.stderr, status
            assert agent.alive, agent.log_tail()

            remount(state_dir, "remount,bind,rw")
            wait_for_no_problem(server, agent)
            wait_for("the session on the state file", lambda: agent.open_sessions(app), agent)
            with closing(AgentState(state_dir / STATE_FILE)) as state:
                assert state.get("credential"), "the credential was not kept"
            app.stop()
            wait_for_end(server, agent, shown["id"])
    finally:
        agent.stop()

    assert_each_once([app], server.api.sessions())


# Mounts


def mounted(arguments: list[str], target: Path) -> None:
    """Mount, or skip the test where this machine does not let us."""
    target.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root")
    done = subprocess.run(["mount", *arguments], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")
    # Lazy: the agent may still hold files in it when the test ends.
    _unmounts.append(target)


def remount(target: Path, options: str) -> None:
    subprocess.run(["mount", "-o", options, str(target)], check=True)


_unmounts: list[Path] = []


@pytest.fixture(autouse=True)
def unmount_at_the_end() -> Iterator[None]:
    yield
    while _unmounts:
        subprocess.run(["umount", "-l", str(_unmounts.pop())], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system to the last byte; returns the filler file."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for chunk in (1 << 20, 4096, 1):
            try:
                while True:
                    out.write(b"\0" * chunk)
            except OSError as error:
                assert error.errno == errno.ENOSPC, error
    return filler


# What the server and `status` say


def run_status(agent: AgentProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seatmeter.agent", "status", "--state-dir", str(agent.state_dir)],
        capture_output=True,
        text=True,
        env=clean_environment(),
        timeout=30,
        check=False,
    )


def problems(server: Server) -> list[dict[str, Any]]:
    [shown] = server.api.call("GET", "/api/v1/agents")["items"]
    full = server.api.agent(shown["id"])
    return [p for p in full["problems"] if p["code"] == UNWRITABLE]


def wait_for_problem(server: Server, agent: AgentProcess) -> dict[str, Any]:
    found = wait_for("the state_unwritable problem", lambda: problems(server), agent)
    return found[0]


def wait_for_no_problem(server: Server, agent: AgentProcess) -> None:
    wait_for("the state_unwritable problem to clear", lambda: not problems(server), agent)
