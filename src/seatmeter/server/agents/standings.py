"""Standings kept between check-ins, and voided when their agent changes.

Every check-in starts by reading its agent, the agent's groups and the
monitoring generation by credential. On PostgreSQL that read is most of
a heartbeat's cost, and its backend's CPU competes with the server's. So
a standing, once read, is kept in the process, and the database says
which agents changed since: triggers (migration 0012) log the id of an
agent whose credential, host facts, monitoring, problems or groups
change, or that is deleted, into `agent_changes`, in the same
transaction as the change, whichever process or code path makes it.

Before a kept standing is used, the log is read if it was last read
more than `agent_standing_refresh_ms` ago, by one check-in for all, and
the standings of the agents it names are dropped; a new monitoring
generation drops them all. A change therefore reaches every server
process's check-ins within that time (a second by default, well inside
an agent's check-in interval), and the process that made it at the very
next check-in: any write it commits has the log read first. A check-in
that writes its agent drops the standing itself.

Two races are closed here. A standing read while a log read ran may
predate a change that read saw, so it is used but not kept. On
PostgreSQL log numbers are taken before commit, so a later number can
be seen before an earlier one: rows past a gap are read again until the
gap fills, or for `GAP_WAIT_S` (a rolled-back change leaves a gap for
good). Whatever slips through both, a standing is kept at most
`MAX_AGE_S`.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import bindparam, delete, func, select

from seatmeter.server.agents.models import AgentChange, MonitoringGeneration
from seatmeter.server.db import Database

log = logging.getLogger(__name__)


class _OfAgent(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_OfAgent)

GAP_WAIT_S = 10.0
MAX_AGE_S = 300.0
# Standings kept at most; past it the oldest half is dropped.
MAX_KEPT = 200_000
# Log rows each process leaves behind it when it prunes, and how often.
KEEP_CHANGES = 100_000
PRUNE_EVERY_S = 600.0

_CHANGES = (
    select(AgentChange.seq, AgentChange.agent_id)
    .where(AgentChange.seq > bindparam("after"))
    .order_by(AgentChange.seq)
)
_GENERATION = select(MonitoringGeneration.value).where(MonitoringGeneration.id == 1)
_NEWEST = select(func.max(AgentChange.seq))


@dataclass
class _Kept:
    standing: _OfAgent
    agent_id: str
    at: float


class Standings:
    """Standings by credential hash, for one server process."""

    def __init__(self, database: Database, refresh_ms: int) -> None:
        self._database = database
        self._refresh_s = refresh_ms / 1000
        self._kept: dict[str, _Kept] = {}
        self._hashes: dict[str, set[str]] = {}  # agent id -> its kept hashes
        self._lock = threading.Lock()
        self._reading = threading.Lock()
        self._read_at = -1e9  # when the log was last read (monotonic)
        self._read_log_at = -1e9  # the same, but never expired
        self._reads = 0  # how many times it was read
        self._after: int | None = None  # every change up to this is applied
        self._gap_since: float | None = None
        self._generation: int | None = None
        self._pruned_at = time.monotonic()
        # Within this process a change is seen at the very next check-in.
        database.after_write(self.expire)

    def get(self, credential_hash: str, read: Callable[[], T | None]) -> T | None:
        """The standing of the agent with this credential hash: kept, or
        read by `read` (None: no such agent) and kept for next time."""
        self._catch_up()
        with self._lock:
            reads = self._reads
            kept = self._kept.get(credential_hash)
            if kept is not None and time.monotonic() - kept.at < MAX_AGE_S:
                return kept.standing  # type: ignore[return-value]
        found = read()
        if found is not None:
            self._keep(credential_hash, found.id, found, reads)
        return found

    def expire(self) -> None:
        """Read the log before the next standing is used."""
        self._read_at = -1e9

    def forget(self, agent_id: str) -> None:
        """Drop an agent's standings: this process just wrote the agent."""
        with self._lock:
            self._drop(agent_id)

    def __len__(self) -> int:
        return len(self._kept)

    def _keep(self, credential_hash: str, agent_id: str, standing: _OfAgent, reads: int) -> None:
        with self._lock:
            if reads != self._reads:
                return  # the log was read meanwhile: this may predate it
            if len(self._kept) >= MAX_KEPT:
                self._drop_oldest_half()
            self._kept[credential_hash] = _Kept(standing, agent_id, time.monotonic())
            self._hashes.setdefault(agent_id, set()).add(credential_hash)

    def _catch_up(self) -> None:
        if time.monotonic() - self._read_at < self._refresh_s:
            return
        with self._reading:
            began = time.monotonic()
            if began - self._read_at < self._refresh_s:
                return  # another check-in read it while this one waited
            self._read_log(began)
            self._read_at = self._read_log_at = began
        if began - self._pruned_at > PRUNE_EVERY_S:
            self._prune(began)

    def _read_log(self, now: float) -> None:
        # A process that has not looked for a while, or is far behind,
        # starts again from the newest change, keeping nothing.
        fresh_start = self._after is None or now - self._read_log_at > MAX_AGE_S
        with self._database.one_statement() as connection:
            generation = connection.execute(_GENERATION).scalar()
            if fresh_start:
                rows: list[tuple[int, str]] = []
                newest = connection.execute(_NEWEST).scalar() or 0
            else:
                found = connection.execute(_CHANGES, {"after": self._after})
                rows = [(seq, agent_id) for seq, agent_id in found]
        with self._lock:
            self._reads += 1
            if fresh_start or len(rows) > KEEP_CHANGES // 2 or generation != self._generation:
                self._clear()
                self._generation = generation
            for _seq, agent_id in rows:
                self._drop(agent_id)
            if fresh_start:
                self._after, self._gap_since = newest, None
            else:
                self._advance(rows, now)

    def _advance(self, rows: list[tuple[int, str]], now: float) -> None:
        """Move past the changes read, but not past a gap in their numbers
        that may yet fill, unless it has waited GAP_WAIT_S."""
        assert self._after is not None
        expected = self._after + 1
        for seq, _agent in rows:
            if seq != expected:
                break
            expected += 1
        else:
            self._gap_since = None
            self._after = expected - 1
            return
        if self._gap_since is None:
            self._gap_since = now
        if now - self._gap_since >= GAP_WAIT_S:
            self._gap_since = None
            self._after = rows[-1][0]
        else:
            self._after = expected - 1

    def _drop(self, agent_id: str) -> None:
        for credential_hash in self._hashes.pop(agent_id, ()):
            self._kept.pop(credential_hash, None)

    def _clear(self) -> None:
        self._kept.clear()
        self._hashes.clear()

    def _drop_oldest_half(self) -> None:
        ordered = sorted(self._kept.items(), key=lambda item: item[1].at)
        for credential_hash, kept in ordered[: len(ordered) // 2]:
            del self._kept[credential_hash]
            self._hashes.get(kept.agent_id, set()).discard(credential_hash)

    def _prune(self, now: float) -> None:
        """Delete log rows far behind this process. A process that far
        behind reads more than half of what is kept and drops every
        standing, so pruning never leaves one stale."""
        self._pruned_at = now
        after = self._after or 0
        with self._database.writing() as session:
            session.execute(delete(AgentChange).where(AgentChange.seq <= after - KEEP_CHANGES))
