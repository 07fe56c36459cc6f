"""GuardedState alone: the file fails, memory takes over, the file gets
back exactly what memory kept. The faults come from SQLite itself (a
page limit for a full disk, a read-only connection); the clock is moved
by the test. The real file systems are in test_agent_state_faults.py."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from seatmeter.agent import state as state_module
from seatmeter.agent.guarded_state import GuardedState
from seatmeter.agent.state import AgentState, OpenSession


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Disk:
    """Connections to the state file that can be made to fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.read_only = False
        self._connect = state_module._connect
        monkeypatch.setattr(state_module, "_connect", self.connect)

    def connect(self, path: Path) -> sqlite3.Connection:
        if self.read_only:
            uri = f"file:{path}?mode=ro"
            return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        return self._connect(path)


def event(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "session_id": "s1", "kind": "start"}


def session(session_id: str) -> OpenSession:
    return OpenSession(session_id, 1, 1.0, "CORP\\jdoe", "Revit", "2024", "process", 1, 1, 1)


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["event_id"] for e in events]


def test_a_failing_file_hands_over_to_memory_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, clock, disk = tmp_path / "state.db", Clock(), Disk(monkeypatch)
    guarded = GuardedState(path, retry_s=60, clock=clock)
    guarded.record([event("e1")], opened=[session("s1")], values={"credential": "c"})

    # The file turns read-only: the next write goes to memory, seeded
    # with what the file held.
    disk.read_only = True
    guarded.disk._db = disk.connect(path)  # type: ignore[union-attr]
    guarded.record([event("e2")], closed=["s1"])
    assert guarded.problem.startswith(f"agent state file {path} cannot be written")
    assert ids(guarded.take(10)) == ["e1", "e2"]
    assert guarded.get("credential") == "c"
    guarded.accept(["e1"])

    # Still failing at the first retry: the wait doubles.
    clock.now = 61
    guarded.put("status", "x")
    assert guarded.memory is not None and guarded._retry_at == 61 + 120

    # Works again: the file holds exactly what memory held.
    disk.read_only = False
    clock.now = 200
    assert guarded.depth() == 1
    assert guarded.memory is None and guarded.problem == ""
    guarded.close()
    reopened = AgentState(path)
    assert ids(reopened.take(10)) == ["e2"]
    assert reopened.open_sessions() == []
    assert reopened.get("status") == "x"
    reopened.close()


def test_a_file_unusable_from_the_start_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the folder should be")
    guarded = GuardedState(blocker / "state.db", clock=Clock())
    guarded.record([event("e1")])
    assert ids(guarded.take(10)) == ["e1"]
    assert "cannot be created" in guarded.problem
    assert guarded.os_error.startswith("Not a directory")
    guarded.close()


def test_memory_keeps_the_bound_of_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("")
    guarded = GuardedState(blocker / "state.db", max_events=2, clock=Clock())
    guarded.record([event("e1"), event("e2"), event("e3")])
    assert ids(guarded.take(10)) == ["e2", "e3"]
    assert guarded.dropped() == 1
    guarded.close()
