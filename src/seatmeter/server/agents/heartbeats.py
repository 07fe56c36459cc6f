"""Heartbeats: the check-ins that change nothing but the time.

Most check-ins only say "still here". Writing each one would make every
check-in a write transaction, and on SQLite every writer waits for the
one before it. Instead such check-ins are noted here and written
together, one transaction per flush, at most `FLUSH_INTERVAL_S` later.

What can wait is only what a heartbeat carries: when the agent was
last seen and its clock offset (which moved by less than a second). A
check-in that changes anything else (monitoring, host facts, problems,
address) is written at once by the check-in itself. If the process
dies, at most the last second of last-seen times is lost; no session
event ever passes through here.
"""

import logging
import threading
from datetime import datetime

from sqlalchemy import bindparam, or_, update

from seatmeter.server.agents.models import Agent
from seatmeter.server.db import Database

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0

# Several processes may write the same agent: never move last_seen back.
_WRITE = (
    update(Agent)
    .where(Agent.id == bindparam("agent"))
    .where(or_(Agent.last_seen.is_(None), Agent.last_seen < bindparam("seen")))
    .values(last_seen=bindparam("seen"), clock_offset_s=bindparam("offset"))
)


class Heartbeats:
    def __init__(self, database: Database, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self._database = database
        self._interval_s = interval_s
        self._pending: dict[str, tuple[datetime, float]] = {}
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._closing = threading.Event()

    def note(self, agent_id: str, seen: datetime, offset_s: float) -> None:
        """Remember the newest heartbeat of an agent until the next flush."""
        with self._lock:
            self._pending[agent_id] = (seen, offset_s)
            if self._writer is None and not self._closed:
                self._writer = threading.Thread(
                    target=self._write_while_busy, name="heartbeats", daemon=True
                )
                self._writer.start()

    def forget(self, agent_id: str) -> None:
        """Drop what is pending for an agent whose row was just written."""
        with self._lock:
            self._pending.pop(agent_id, None)

    def flush(self) -> int:
        """Write every pending heartbeat in one transaction; how many."""
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, {}
            if not taken:
                return 0
            rows = [
                {"agent": agent, "seen": seen, "offset": offset}
                for agent, (seen, offset) in taken.items()
            ]
            try:
                with self._database.writing() as session:
                    session.connection().execute(_WRITE, rows)
            except Exception:
                self._put_back(taken)
                raise
            return len(rows)

    def close(self) -> None:
        """Stop the writer and write what is left, at shutdown."""
        with self._lock:
            self._closed = True
            writer = self._writer
        self._closing.set()
        if writer is not None:
            writer.join()
        self.flush()

    def _write_while_busy(self) -> None:
        # The thread lives while heartbeats arrive and ends when they stop,
        # so an idle server, or an app that never started, keeps none.
        while True:
            self._closing.wait(self._interval_s)
            try:
                written = self.flush()
            except Exception:
                log.warning("last-seen times not written yet; retrying", exc_info=True)
                written = -1
            with self._lock:
                if (written == 0 and not self._pending) or self._closed:
                    self._writer = None
                    return

    def _put_back(self, taken: dict[str, tuple[datetime, float]]) -> None:
        with self._lock:
            for agent, beat in taken.items():
                self._pending.setdefault(agent, beat)
