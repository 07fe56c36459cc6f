"""The agent's durable state against real SQLite files and real processes.

The kill test runs a child process that records events and is stopped by
SIGKILL mid-stream; when the suite runs as root, which writes through
folder modes, the read-only folder test acts as an unprivileged account.
"""

import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from seatmeter.agent import state as state_module
from seatmeter.agent.state import AgentState, OpenSession, StateError

NOBODY = 65534


def event(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "session_id": "s-" + event_id,
        "kind": "start",
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": "2026-12-03T10:00:00+00:00",
        **extra,
    }


def session(session_id: str, **changes: Any) -> OpenSession:
    values: dict[str, Any] = {
        "session_id": session_id,
        "pid": 4242,
        "create_time": 1_780_000_000.25,
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": 1_780_000_001.0,
        "last_seen": 1_780_000_001.0,
        "last_action": 1_780_000_001.0,
    }
    return OpenSession(**{**values, **changes})


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [item["event_id"] for item in events]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "agent" / "state.db"


@pytest.fixture
def state(path: Path) -> Iterator[AgentState]:
    opened = AgentState(path)
    yield opened
    opened.close()


def test_outbox_round_trip_oldest_first(state: AgentState) -> None:
    state.record([event("e1"), event("e2")])
    state.record([event("e3")])

    # take only looks: the same events come back until accepted.
    assert state.take(2) == [event("e1"), event("e2")]
    assert ids(state.take(10)) == ["e1", "e2", "e3"]
    assert state.depth() == 3

    state.accept(["e2"])
    assert ids(state.take(10)) == ["e1", "e3"]
    state.accept(["e1", "e3", "unknown"])
    assert state.take(10) == []
    assert state.depth() == 0


def test_repeated_event_id_is_stored_once(state: AgentState) -> None:
    state.record([event("e1"), event("e2")])
    state.record([event("e1", kind="stop"), event("e3"), event("e3")])

    assert ids(state.take(10)) == ["e1", "e2", "e3"]
    assert state.take(1)[0]["kind"] == "start"


def test_take_with_no_room_returns_nothing(state: AgentState) -> None:
    state.record([event("e1")])
    assert state.take(0) == []
    assert state.take(-1) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"pid": "4242"},
        {"create_time": "yesterday"},
        {"username": None},
        {"last_seen": [1.0]},
    ],
    ids=["pid", "create_time", "username", "last_seen"],
)
def test_record_with_a_bad_session_stores_nothing(
    state: AgentState,
    bad: dict[str, Any],
) -> None:
    state.record([event("e0")], opened=[session("old")])

    with pytest.raises(TypeError, match=next(iter(bad))):
        state.record(
            [event("e1")],
            opened=[session("good"), session("bad", **bad)],
            closed=["old"],
            values={"idle": {"1:2.000": 3.0}},
        )

    assert ids(state.take(10)) == ["e0"]
    assert [item.session_id for item in state.open_sessions()] == ["old"]
    assert state.get("idle") is None


def test_record_stores_values_with_the_events(state: AgentState) -> None:
    state.record([event("e1")], values={"idle": {"1:2.000": 3.0}})

    assert state.get("idle") == {"1:2.000": 3.0}


def test_record_failing_midway_stores_nothing(
    state: AgentState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fails after the events are in the outbox and before the sessions.
    def broken(opened: OpenSession) -> tuple[Any, ...]:
        raise RuntimeError("power cut in the middle of record")

    monkeypatch.setattr(state_module, "_session_row", broken)
    with pytest.raises(RuntimeError):
        state.record([event("e1"), event("e2")], opened=[session("s1")])

    assert state.depth() == 0
    assert state.open_sessions() == []


def test_event_without_id_is_refused_before_anything_is_stored(
    state: AgentState,
) -> None:
    with pytest.raises(ValueError, match="event_id"):
        state.record([event("e1"), {"kind": "start"}])
    assert state.depth() == 0


def test_open_sessions_survive_reopening(path: Path) -> None:
    first = AgentState(path)
    first.record([], opened=[session("s1"), session("s2", pid=7, source="legacy")])
    first.close()

    second = AgentState(path)
    assert second.open_sessions() == [
        session("s1"),
        session("s2", pid=7, source="legacy"),
    ]

    second.touch(["s1"], last_seen=1_780_000_100.0)
    second.touch(["s2", "gone"], last_seen=1_780_000_200.0, last_action=1_780_000_150.0)
    second.record([event("stop-s1")], closed=["s1"])
    second.close()

    third = AgentState(path)
    assert third.open_sessions() == [
        session(
            "s2",
            pid=7,
            source="legacy",
            last_seen=1_780_000_200.0,
            last_action=1_780_000_150.0,
        )
    ]
    third.close()


def test_touch_without_action_keeps_last_action(state: AgentState) -> None:
    state.record([], opened=[session("s1")])
    state.touch(["s1"], last_seen=1_780_000_100.0)
    [touched] = state.open_sessions()
    assert touched.last_seen == 1_780_000_100.0
    assert touched.last_action == 1_780_000_001.0


def test_opened_again_replaces_the_session(state: AgentState) -> None:
    state.record([], opened=[session("s1")])
    state.record([], opened=[session("s1", version="2025")])
    assert state.open_sessions() == [session("s1", version="2025")]


def test_outbox_keeps_the_newest_events_within_its_bound(path: Path) -> None:
    bounded = AgentState(path, max_events=5)
    bounded.record([event("e1"), event("e2"), event("e3")])
    bounded.record([event("e4"), event("e5"), event("e6")])
    bounded.record([event("e7"), event("e8")])

    assert ids(bounded.take(10)) == ["e4", "e5", "e6", "e7", "e8"]
    assert bounded.dropped() == 3
    bounded.close()

    reopened = AgentState(path, max_events=5)
    assert reopened.depth() == 5
    assert reopened.dropped() == 3

    # One record larger than the bound keeps its own newest events.
    reopened.record([event(f"n{number}") for number in range(7)])
    assert ids(reopened.take(10)) == ["n2", "n3", "n4", "n5", "n6"]
    assert reopened.dropped() == 10
    reopened.close()


def test_rejected_event_is_moved_aside(path: Path, state: AgentState) -> None:
    state.record([event("e1"), event("bad"), event("e2")])
    state.reject("bad", "started_at: not a date")

    assert ids(state.take(10)) == ["e1", "e2"]
    assert state.depth() == 2

    # Kept for inspection, with the reason.
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT event_id, event, reason FROM rejected").fetchall()
    assert [(row[0], row[2]) for row in rows] == [("bad", "started_at: not a date")]
    assert '"event_id": "bad"' in rows[0][1]


def test_stored_values_are_json_and_survive_reopening(path: Path) -> None:
    first = AgentState(path)
    assert first.get("config") is None
    assert first.get("config", {"interval": 60}) == {"interval": 60}
    first.put("config", {"monitoring": True, "interval": 30})
    first.put("catalog", ["Civil 3D", "Revit"])
    first.put("catalog", ["AutoCAD"])
    first.close()

    second = AgentState(path)
    assert second.get("config") == {"monitoring": True, "interval": 30}
    assert second.get("catalog") == ["AutoCAD"]
    second.close()


def test_file_is_set_up_for_durability(path: Path, state: AgentState) -> None:
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = db.execute("PRAGMA user_version").fetchone()[0]
    assert version == len(state_module.MIGRATIONS)
    # synchronous belongs to the connection, so it is read from the agent's.
    assert state._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes; Windows uses ACLs")
def test_file_and_folder_are_owner_only(path: Path) -> None:
    previous = os.umask(0o022)
    try:
        opened = AgentState(path)
        opened.record([event("e1")])
    finally:
        os.umask(previous)

    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # The -wal and -shm files hold the same data as the file itself.
    written = sorted(item.name for item in path.parent.iterdir())
    assert written == ["state.db", "state.db-shm", "state.db-wal"]
    for item in path.parent.iterdir():
        assert stat.S_IMODE(item.stat().st_mode) == 0o600, item
    opened.close()


def test_durable_under_kill(path: Path) -> None:
    """Every event record() returned for is there after SIGKILL."""
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Bounded even if the child hangs before its first event.
    watchdog = threading.Timer(30, child.kill)
    watchdog.start()
    try:
        # Kill while it is writing: after the first events, not at the end.
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first, child.stderr.read() if child.stderr else ""
        time.sleep(0.5)
        child.send_signal(signal.SIGKILL)
        rest, errors = child.communicate(timeout=10)
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL, errors
    printed = [first.decode().strip(), *rest.decode().split()]
    assert len(printed) > 10, "the child recorded too little to test anything"

    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    reopened = AgentState(path)
    stored = set(ids(reopened.take(reopened.depth())))
    reopened.close()
    assert set(printed) <= stored
    # At most the record in flight when killed: stored, not yet printed.
    assert len(stored) - len(printed) <= 1


RECORDER = """
import itertools, sys
from pathlib import Path
from seatmeter.agent.state import AgentState, OpenSession

state = AgentState(Path(sys.argv[1]))
for number in itertools.count():
    event_id = f"e{number}"
    session = OpenSession(
        f"s{number}", number, 1.0, "CORP\\\\jdoe", "Revit", "2024",
        "process", 2.0, 2.0, 2.0,
    )
    state.record(
        [{"event_id": event_id, "session_id": f"s{number}", "kind": "start"}],
        opened=[session],
        closed=[f"s{number - 1}"],
    )
    print(event_id, flush=True)
"""


@contextmanager
def service_account() -> Iterator[None]:
    """As root, act as an unprivileged account: root writes anywhere."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except PermissionError as error:
        os.setegid(0)
        pytest.skip(f"running as root and cannot act as another account: {error}")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_read_only_folder_gives_state_error(existing: bool) -> None:
    # Not under tmp_path: the unprivileged account could not reach it.
    base = Path(tempfile.mkdtemp(prefix="seatmeter-readonly-"))
    folder = base / "state"
    path = folder / "state.db"
    try:
        base.chmod(0o755)
        folder.mkdir()
        if existing:
            AgentState(path).close()
        if os.geteuid() == 0:
            for item in [folder, *folder.iterdir()]:
                os.chown(item, NOBODY, NOBODY)
        folder.chmod(0o500)

        with service_account(), pytest.raises(StateError) as caught:
            AgentState(path).record([event("e1")])
    finally:
        folder.chmod(0o700)
        shutil.rmtree(base)

    message = str(caught.value)
    assert message.startswith(f"agent state file {path} "), message
    assert "agent's service account" in message, message


def test_read_only_database_gives_state_error(
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    AgentState(path).close()
    monkeypatch.setattr(
        state_module,
        "_connect",
        lambda path: sqlite3.connect(
            f"file:{path}?mode=ro",
            uri=True,
            isolation_level=None,
        ),
    )
    opened = AgentState(path)
    with pytest.raises(StateError) as caught:
        opened.record([event("e1")])
    opened.close()
    assert str(caught.value) == (
        f"agent state file {path} cannot be written (attempt to write a "
        "readonly database); make the folder writable by the agent's "
        "service account"
    )


def test_full_disk_gives_state_error_and_keeps_what_was_stored(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect = state_module._connect

    def small_disk(path: Path) -> sqlite3.Connection:
        db = connect(path)
        db.execute("PRAGMA max_page_count = 40")
        return db

    monkeypatch.setattr(state_module, "_connect", small_disk)
    opened = AgentState(path)
    stored: list[str] = []
    with pytest.raises(StateError, match="free space on its disk") as caught:
        for number in range(1000):
            opened.record([event(f"e{number}", padding="x" * 2000)])
            stored.append(f"e{number}")
    assert str(path) in str(caught.value)
    assert ids(opened.take(1000)) == stored
    opened.close()


def folder_is_a_file(path: Path) -> None:
    path.parent.write_text("not a folder")


def file_is_a_folder(path: Path) -> None:
    path.mkdir(parents=True)


def file_is_not_a_database(path: Path) -> None:
    path.parent.mkdir()
    path.write_bytes(b"MZ not a database " * 100)


@pytest.mark.parametrize(
    ("spoil", "expected"),
    [
        (
            folder_is_a_file,
            "cannot be created (File exists); make {folder} a folder the "
            "agent's service account can write",
        ),
        (
            file_is_a_folder,
            "cannot be opened (unable to open database file); make it a "
            "file the agent's service account can read and write",
        ),
        (
            file_is_not_a_database,
            "is not a usable database (file is not a database); move it "
            "aside, losing its unsent events, so the agent starts anew",
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_unusable_path_gives_state_error(
    path: Path, spoil: Callable[[Path], None], expected: str
) -> None:
    spoil(path)
    with pytest.raises(StateError) as caught:
        AgentState(path)
    expected = expected.format(folder=path.parent)
    assert str(caught.value) == f"agent state file {path} {expected}"


def test_file_from_a_newer_agent_gives_state_error(path: Path) -> None:
    AgentState(path).close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="newer agent"):
        AgentState(path)
