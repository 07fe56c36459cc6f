"""Sessions from what a scan sees: the rules of the product page, as code.

2020 and newer: a session is one process run, keyed by pid and creation
time so that a reused pid never merges two runs. It starts when the
process was created and stops at the last scan that saw it alive.

Before 2020 only two actions are trackable, start-up and saving (a new or
changed usage file). A legacy session starts at start-up, is extended by
each action, and ends `idle_window` after the last one; a later action
while the process still runs starts a new session. Exiting ends it too.

Every start and stop is recorded in the agent's state (the outbox) in the
same transaction that changes the open sessions, before anything is sent.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from seatmeter.agent.guarded_state import GuardedState
from seatmeter.agent.state import AgentState, OpenSession

log = logging.getLogger(__name__)

IDLE_KEY = "legacy_idle_processes"


@dataclass(frozen=True)
class Seen:
    """One recognised application process in a scan."""

    pid: int
    create_time: float
    username: str
    application: str
    release: str
    legacy: bool

    @property
    def run(self) -> str:
        return f"{self.pid}:{self.create_time:.3f}"


# Latest usage-file action for a legacy process after a moment, or None.
ActionFinder = Callable[[Seen, float], float | None]


class Tracker:
    def __init__(
        self,
        state: AgentState | GuardedState,
        hostname: str,
        idle_window_s: float,
        latest_action: ActionFinder,
    ) -> None:
        self.state = state
        self.hostname = hostname
        self.idle_window_s = idle_window_s
        self.latest_action = latest_action
        self._open = {_run_of(s): s for s in state.open_sessions()}
        # Legacy processes still running whose session went idle, by run,
        # with their last action: a new action there opens a new session.
        self._idle: dict[str, float] = dict(state.get(IDLE_KEY, {}))
        # Legacy runs that have, or have not yet, written a usage file.
        self._heard: set[str] = set()
        self._silent: dict[str, Seen] = {}

    @property
    def open_sessions(self) -> list[OpenSession]:
        return list(self._open.values())

    def observe(self, now: float, seen: Iterable[Seen]) -> list[dict[str, Any]]:
        """Apply one scan taken at `now`; returns the events it recorded."""
        current = {process.run: process for process in seen}
        idle_before = dict(self._idle)
        events: list[dict[str, Any]] = []
        closed: list[str] = []

        for run, session in list(self._open.items()):
            if run not in current:
                events.append(self._stop(session, _gone_at(session, self.idle_window_s)))
                closed.append(session.session_id)
                del self._open[run]
        for run in [run for run in self._idle if run not in current]:
            del self._idle[run]
        self._silent = {run: p for run, p in self._silent.items() if run in current}
        self._heard &= set(current)

        for run, process in current.items():
            if process.legacy:
                self._legacy(now, process, events, closed)
            elif run not in self._open:
                session = self._begin(process, process.create_time, now, "process")
                events.append(self._start(session))
                self._open[run] = session
            else:
                self._open[run] = replace(self._open[run], last_seen=now)

        self._commit(events, closed, idle_before)
        return events

    def stop_all(self, now: float) -> list[dict[str, Any]]:
        """Monitoring was turned off: end every session as of now."""
        events = [self._stop(s, _ended_by(s, now, self.idle_window_s)) for s in self._open.values()]
        closed = [s.session_id for s in self._open.values()]
        self._open.clear()
        self._idle.clear()
        self.state.record(events, closed=closed, values={IDLE_KEY: {}})
        return events

    def consent_missing(self, now: float) -> list[Seen]:
        """Legacy processes that ran a whole idle window without writing a
        usage file: the sign that analytics consent was never given."""
        return [
            process
            for process in self._silent.values()
            if now - process.create_time >= self.idle_window_s
        ]

    def _legacy(
        self, now: float, process: Seen, events: list[dict[str, Any]], closed: list[str]
    ) -> None:
        session = self._open.get(process.run)
        known = session.last_action if session else self._idle.get(process.run)
        action = self.latest_action(process, known or process.create_time)
        self._note_consent(process, action)

        if session is None and known is None:
            # First sight of the process: start-up is itself an action.
            session = self._begin(process, process.create_time, now, "legacy")
            session = replace(session, last_action=max(process.create_time, action or 0.0))
            events.append(self._start(session))
        elif session is None:
            if action is None or action <= (known or 0.0):
                return
            # An action after the session went idle: a new session.
            del self._idle[process.run]
            session = self._begin(process, action, now, "legacy")
            events.append(self._start(session))
        elif action is not None and action > session.last_action:
            session = replace(session, last_action=action)

        if now - session.last_action >= self.idle_window_s:
            events.append(self._stop(session, session.last_action + self.idle_window_s))
            closed.append(session.session_id)
            self._open.pop(process.run, None)
            self._idle[process.run] = session.last_action
        else:
            self._open[process.run] = replace(session, last_seen=now)

    def _note_consent(self, process: Seen, action: float | None) -> None:
        if action is not None:
            self._heard.add(process.run)
            self._silent.pop(process.run, None)
        elif process.run not in self._heard:
            self._silent.setdefault(process.run, process)

    def _begin(self, process: Seen, start: float, now: float, source: str) -> OpenSession:
        return OpenSession(
            session_id=uuid.uuid4().hex,
            pid=process.pid,
            create_time=process.create_time,
            username=process.username,
            application=process.application,
            version=process.release,
            source=source,
            started_at=start,
            last_seen=now,
            last_action=start,
        )

    def _commit(
        self, events: list[dict[str, Any]], closed: list[str], idle_before: dict[str, float]
    ) -> None:
        """Store the scan's outcome; a quiet scan with nothing open writes nothing.

        Open sessions are rewritten each scan so that their last-seen time
        survives a crash: recovery closes them at that time.
        """
        # Idle legacy runs are stored with the sessions they came from: a
        # crash between the two would restart a session already reported.
        idle = {IDLE_KEY: self._idle} if self._idle != idle_before else None
        if events or self._open or closed or idle:
            self.state.record(events, opened=list(self._open.values()), closed=closed, values=idle)
        for event in events:
            log.debug("%s %s for %s", event["kind"], event["application"], event["username"])

    def _start(self, session: OpenSession) -> dict[str, Any]:
        return self._event("start", session, None)

    def _stop(self, session: OpenSession, end: float) -> dict[str, Any]:
        return self._event("stop", session, max(end, session.started_at))

    def _event(self, kind: str, session: OpenSession, end: float | None) -> dict[str, Any]:
        event = {
            "event_id": uuid.uuid4().hex,
            "session_id": session.session_id,
            "kind": kind,
            "hostname": self.hostname,
            "username": session.username,
            "application": session.application,
            "version": session.version,
            "source": session.source,
            "started_at": iso(session.started_at),
        }
        if end is not None:
            event["ended_at"] = iso(end)
        return event


def recover(
    state: AgentState | GuardedState, running: set[str], now: float, idle_window_s: float
) -> int:
    """After a restart or crash: close the sessions whose process is gone,
    at the last time they were seen alive; the others simply continue."""
    gone = [s for s in state.open_sessions() if _run_of(s) not in running]
    if not gone:
        return 0
    hostname = state.get("hostname", "")
    tracker = Tracker(state, hostname, idle_window_s, lambda _p, _t: None)
    events = [tracker._stop(s, _gone_at(s, idle_window_s)) for s in gone]
    state.record(events, closed=[s.session_id for s in gone])
    log.info("closed %d session(s) whose process ended while the agent was down", len(gone))
    return len(gone)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _run_of(session: OpenSession) -> str:
    return f"{session.pid}:{session.create_time:.3f}"


def _gone_at(session: OpenSession, idle_window_s: float) -> float:
    """When a session whose process vanished ended: the last time it was
    seen alive, and for a legacy session no later than its idle expiry."""
    if session.source == "legacy":
        return min(session.last_seen, session.last_action + idle_window_s)
    return session.last_seen


def _ended_by(session: OpenSession, now: float, idle_window_s: float) -> float:
    if session.source == "legacy":
        return min(now, session.last_action + idle_window_s)
    return now
