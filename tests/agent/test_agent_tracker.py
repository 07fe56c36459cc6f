"""The session rules, with a clock the test controls: process lifetimes
for 2020 and newer, trackable actions and the idle window before 2020."""

from datetime import UTC, datetime

import pytest

from seatmeter.agent.state import AgentState
from seatmeter.agent.tracker import Seen, Tracker, recover

MINUTE = 60.0
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
IDLE = 30 * MINUTE


def at(minutes: float) -> float:
    return T0 + minutes * MINUTE


def minutes_of(text: str) -> float:
    return (datetime.fromisoformat(text).timestamp() - T0) / MINUTE


class Saves:
    """Usage-file actions at given minutes, as the action finder sees them."""

    def __init__(self, *minutes: float) -> None:
        self.times = [at(m) for m in minutes]
        self.now = T0

    def __call__(self, _process: Seen, since: float) -> float | None:
        done = [t for t in self.times if since < t <= self.now]
        return max(done) if done else None


@pytest.fixture
def state(tmp_path):
    state = AgentState(tmp_path / "state.db")
    yield state
    state.close()


def process(legacy: bool, pid: int = 100, created: float = T0, release: str = "2024") -> Seen:
    name = "AutoCAD"
    return Seen(pid, created, "CORP\\jdoe", name, "2019" if legacy else release, legacy)


def run_scans(tracker, saves, alive_until: float, last: float, seen: Seen) -> list[dict]:
    """Scan once a minute from 0 to `last`, the process alive until then."""
    events = []
    minute = 0.0
    while minute <= last:
        saves.now = at(minute)
        running = [seen] if minute <= alive_until else []
        events += tracker.observe(at(minute), running)
        minute += 1
    return events


def sessions_of(events: list[dict]) -> list[tuple[float, float | None]]:
    stops = {e["session_id"]: minutes_of(e["ended_at"]) for e in events if e["kind"] == "stop"}
    starts = [e for e in events if e["kind"] == "start"]
    return [(minutes_of(e["started_at"]), stops.get(e["session_id"])) for e in starts]


def test_legacy_rule_as_the_product_page_states_it(state):
    saves = Saves(0, 20, 45, 80)
    tracker = Tracker(state, "CAD-01", IDLE, saves)

    events = run_scans(tracker, saves, alive_until=90, last=95, seen=process(legacy=True))

    # Start-up at 0, saves at 20 and 45: one session 0-75, closed when the
    # window expired; the save at 80 opens another, ended by the exit at 90.
    assert sessions_of(events) == [(0, 75), (80, 90)]
    assert all(e["source"] == "legacy" for e in events)
    assert tracker.consent_missing(at(95)) == []
    assert state.depth() == 4


def test_legacy_session_closes_at_expiry_not_at_the_scan(state):
    saves = Saves(0)
    tracker = Tracker(state, "CAD-01", IDLE, saves)

    events = run_scans(tracker, saves, alive_until=200, last=200, seen=process(legacy=True))

    assert sessions_of(events) == [(0, 30)]


def test_legacy_application_without_usage_files_raises_the_consent_problem(state):
    saves = Saves()
    tracker = Tracker(state, "CAD-01", IDLE, saves)
    seen = process(legacy=True)

    run_scans(tracker, saves, alive_until=40, last=29, seen=seen)
    assert tracker.consent_missing(at(29)) == []

    run_scans(tracker, saves, alive_until=40, last=31, seen=seen)
    assert tracker.consent_missing(at(31)) == [seen]


def test_process_session_spans_the_process_lifetime(state):
    tracker = Tracker(state, "CAD-01", IDLE, Saves())
    seen = process(legacy=False, created=at(-5))

    events = run_scans(tracker, Saves(), alive_until=42, last=50, seen=seen)

    # Created 5 minutes before the first scan; last seen alive at 42.
    assert sessions_of(events) == [(-5, 42)]
    assert {e["source"] for e in events} == {"process"}


def test_a_reused_pid_is_a_new_session(state):
    tracker = Tracker(state, "CAD-01", IDLE, Saves())
    first = process(legacy=False, pid=7, created=at(0))
    second = process(legacy=False, pid=7, created=at(10))

    tracker.observe(at(1), [first])
    tracker.observe(at(9), [first])
    events = tracker.observe(at(11), [second])

    kinds = [(e["kind"], minutes_of(e.get("ended_at") or e["started_at"])) for e in events]
    assert kinds == [("stop", 9), ("start", 10)]


def test_events_are_in_the_outbox_before_they_are_returned(state):
    tracker = Tracker(state, "CAD-01", IDLE, Saves())

    events = tracker.observe(at(1), [process(legacy=False)])

    assert [e["event_id"] for e in state.take(10)] == [e["event_id"] for e in events]
    assert [s.application for s in state.open_sessions()] == ["AutoCAD"]


def test_restart_closes_gone_sessions_at_last_seen_and_keeps_running_ones(state):
    tracker = Tracker(state, "CAD-01", IDLE, Saves())
    gone = process(legacy=False, pid=1)
    alive = process(legacy=False, pid=2)
    tracker.observe(at(1), [gone, alive])
    tracker.observe(at(4), [gone, alive])

    # The agent dies here; at restart only pid 2 still runs.
    closed = recover(state, {alive.run}, at(30), IDLE)

    assert closed == 1
    stop = [e for e in state.take(10) if e["kind"] == "stop"]
    assert [minutes_of(e["ended_at"]) for e in stop] == [4]
    assert [s.pid for s in state.open_sessions()] == [2]
    restarted = Tracker(state, "CAD-01", IDLE, Saves())
    assert restarted.observe(at(31), [alive]) == []


def test_stop_all_ends_every_session_now(state):
    tracker = Tracker(state, "CAD-01", IDLE, Saves())
    tracker.observe(at(1), [process(legacy=False)])

    events = tracker.stop_all(at(5))

    assert [(e["kind"], minutes_of(e["ended_at"])) for e in events] == [("stop", 5)]
    assert state.open_sessions() == []
