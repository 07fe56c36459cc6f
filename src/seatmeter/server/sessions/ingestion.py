"""Session events from agents into sessions: idempotent and all-or-nothing.

An agent sends a batch of start and stop events, each with an event id of
its own choosing, and deletes the batch from its outbox once we answer.
The batch is checked whole before anything is written, so one bad event
rejects it all and stores nothing. Events already stored (a retry after a
lost answer) are recognised by (agent, event id) and skipped, so resending
a batch any number of times stores each event exactly once.

A batch costs a fixed number of statements, whatever its size: one read
of the agent's clock offset (locking its row) and of the entitlement
generation, one query for the events and sessions already stored, one
INSERT of the new sessions, already attributed, and one of the events
(plus one UPDATE when it stops sessions of earlier batches). The inserts
skip SQLAlchemy's compile and conversions (Database.insert_rows).
Attribution's cloud users, pools and assignments are kept across batches
until the entitlement generation moves (usage/attribution.py).

Known shortcoming: on SQLite most of what is left is the commit and the
one writer lock, which a raw insert pays too; on PostgreSQL, the round
trips (four statements, against the raw insert's two).
"""

import logging
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from pydantic import ConfigDict, ValidationError, model_validator
from sqlalchemy import (
    Connection,
    Executable,
    String,
    Table,
    bindparam,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from seatmeter.server.agents.models import Agent
from seatmeter.server.api.fields import AgentIdText, AgentTime, Body
from seatmeter.server.db import BigId, Database, utcnow
from seatmeter.server.errors import ApiError, describe_problem
from seatmeter.server.sessions.models import SessionEvent, UsageSession
from seatmeter.server.usage import attribution
from seatmeter.server.usage.generation import GENERATION

log = logging.getLogger(__name__)

# Below this, a measured clock offset is network delay, not a wrong clock.
CLOCK_TOLERANCE_S = 2.0
CHUNK = 500

# Core tables: a batch's rows go in without becoming ORM objects.
_agents = cast(Table, Agent.__table__)
_sessions = cast(Table, UsageSession.__table__)
_events = cast(Table, SessionEvent.__table__)


class Event(Body):
    model_config = ConfigDict(str_strip_whitespace=True)

    event_id: AgentIdText
    session_id: AgentIdText
    kind: Literal["start", "stop"]
    hostname: str
    username: str
    application: str
    version: str
    source: Literal["process", "legacy"]
    started_at: AgentTime
    ended_at: AgentTime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Event":
        for name, limit in (
            ("hostname", 255),
            ("username", 255),
            ("application", 100),
            ("version", 32),
        ):
            if not 1 <= len(getattr(self, name)) <= limit:
                raise ValueError(f"{name} must be 1 to {limit} characters")
        if self.kind == "stop" and self.ended_at is None:
            raise ValueError("a stop event needs ended_at")
        if self.kind == "start" and self.ended_at is not None:
            raise ValueError("a start event has no ended_at; send a stop event")
        if self.ended_at and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


def validate_batch(raw_events: list[Any]) -> list[Event]:
    """Every event checked before any is stored; errors name each event."""
    events, details = [], []
    for index, raw in enumerate(raw_events):
        try:
            events.append(Event.model_validate(raw))
        except ValidationError as error:
            event_id = raw.get("event_id") if isinstance(raw, dict) else None
            for problem in error.errors():
                detail = describe_problem(problem)
                inner = "" if detail["field"] == "body" else "." + detail["field"]
                detail["field"] = f"events[{index}]{inner}"
                details.append({"index": index, "event_id": event_id, **detail})
    if details:
        first = details[0]
        raise ApiError(
            422,
            "invalid_event",
            f"event {first['index']} (event_id {first['event_id']!r}): "
            f"{first['field']}: {first['problem']}; the whole batch was "
            "rejected and nothing was stored: fix or drop that event and "
            "send the batch again",
            details,
        )
    return events


def ingest(
    database: Database, session: Session, agent_id: str, events: list[Event]
) -> dict[str, int]:
    """Store a validated batch in the session's transaction."""
    # Core statements on the session's connection skip the ORM's own
    # work on each statement; the inserts skip SQLAlchemy's too.
    connection = session.connection()
    offset, generation = _locked_offset(connection, agent_id)
    shift = _clock_correction(offset)
    seen, known = _stored_before(connection, agent_id, events)
    fresh = _unseen(events, seen)
    if fresh:
        stored = _store_sessions(database, session, agent_id, fresh, known, shift, generation)
        _store_events(database, connection, agent_id, fresh, stored, shift)
    log.debug(
        "agent %s: %d events stored, %d already had", agent_id, len(fresh), len(events) - len(fresh)
    )
    return {"accepted": len(fresh), "duplicates": len(events) - len(fresh)}


def _locked_offset(connection: Connection, agent_id: str) -> tuple[float, int]:
    """The agent's clock offset, and the entitlement generation (in the
    same round trip, for attribution). Locking the agent's row serialises
    its batches on PostgreSQL, so two copies of one batch arriving
    together cannot both look new (SQLite has one writer at a time)."""
    offset, generation = connection.execute(_OFFSET_AND_GENERATION, {"agent_id": agent_id}).one()
    return float(offset), int(generation)


_OFFSET_AND_GENERATION = (
    select(_agents.c.clock_offset_s, GENERATION.scalar_subquery())
    .where(_agents.c.id == bindparam("agent_id"))
    .with_for_update(of=_agents)
)


def _clock_correction(offset: float) -> timedelta:
    return timedelta(seconds=offset if abs(offset) >= CLOCK_TOLERANCE_S else 0.0)


def _stored_before(
    connection: Connection, agent_id: str, events: list[Event]
) -> tuple[set[str], dict[str, int]]:
    """The batch's event ids stored before, and its sessions' ids by the
    agent's key: one query for both (a round trip less), per CHUNK events.
    By key alone, then the agent's rows kept: see migration 0010."""
    seen: set[str] = set()
    known: dict[str, int] = {}
    for start in range(0, len(events), CHUNK):
        chunk = events[start : start + CHUNK]
        event_ids = list(dict.fromkeys(event.event_id for event in chunk))
        keys = list(dict.fromkeys(event.session_id for event in chunk))
        lookup = _LOOKUPS[connection.dialect.name == "postgresql"]
        found = connection.execute(lookup, {"event_ids": event_ids, "keys": keys})
        for session_id, owner, key in found:
            if owner != agent_id:
                continue
            if session_id is None:
                seen.add(key)
            else:
                known[key] = session_id
    return seen, known


def _lookup(postgres: bool) -> Executable:
    """Events by id and sessions by key, the batch's lists bound as one
    parameter each, so the statement's text never changes.

    On PostgreSQL each key is looked up by itself (a lateral subquery
    per array element), whatever the statistics say: on tables not yet
    analysed (a new server's first minute) the planner took `IN` over a
    hundred keys for a large share of the table and scanned all of it.
    """
    if postgres:
        return text(_LOOKUP_ON_POSTGRESQL).bindparams(
            bindparam("event_ids", type_=ARRAY(String)), bindparam("keys", type_=ARRAY(String))
        )
    return union_all(
        select(null().cast(BigId), _events.c.agent_id, _events.c.event_id).where(
            _events.c.event_id.in_(bindparam("event_ids", expanding=True))
        ),
        select(_sessions.c.id, _sessions.c.agent_id, _sessions.c.agent_session_id).where(
            _sessions.c.agent_session_id.in_(bindparam("keys", expanding=True))
        ),
    )


_LOOKUP_ON_POSTGRESQL = """
SELECT CAST(NULL AS BIGINT), found.agent_id, found.event_id
FROM unnest(:event_ids) AS wanted(key) CROSS JOIN LATERAL (
    SELECT agent_id, event_id FROM session_events WHERE event_id = wanted.key OFFSET 0
) AS found
UNION ALL
SELECT found.id, found.agent_id, found.agent_session_id
FROM unnest(:keys) AS wanted(key) CROSS JOIN LATERAL (
    SELECT id, agent_id, agent_session_id FROM sessions
    WHERE agent_session_id = wanted.key OFFSET 0
) AS found
"""

# by "is it PostgreSQL"
_LOOKUPS = {postgres: _lookup(postgres) for postgres in (False, True)}


def _unseen(events: list[Event], seen: set[str]) -> list[Event]:
    """The events not stored before, each once."""
    fresh = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


def _store_sessions(
    database: Database,
    session: Session,
    agent_id: str,
    events: list[Event],
    known: dict[str, int],
    shift: timedelta,
    generation: int,
) -> dict[str, int]:
    """Create the sessions these events speak of, and close stopped ones
    (attributed with the entitlements of this generation); returns every
    session's id by the agent's key."""
    connection = session.connection()
    # The last stop of a session wins, as if the events came one by one.
    stops = {event.session_id: event.ended_at + shift for event in events if event.ended_at}
    new_rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.session_id not in known and event.session_id not in new_rows:
            ended_at = stops.pop(event.session_id, None)
            new_rows[event.session_id] = _session_row(agent_id, event, shift, ended_at)
    if new_rows:
        # In the same transaction: a session is never stored unattributed.
        _attribute(session, list(new_rows.values()), generation)
        known.update(_insert_sessions(database, connection, list(new_rows.values())))
    _close_sessions(connection, {known[key]: ended_at for key, ended_at in stops.items()})
    return known


def _session_row(
    agent_id: str, event: Event, shift: timedelta, ended_at: datetime | None
) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "agent_session_id": event.session_id,
        "hostname": event.hostname,
        "username": event.username,
        "application": event.application,
        "version": event.version,
        "source": event.source,
        "started_at": event.started_at + shift,
        "ended_at": ended_at,
    }


def _attribute(session: Session, rows: list[dict[str, Any]], generation: int) -> None:
    """Each new session's attribution, decided once per (host user,
    application) pair as usage/attribution.py decides it for stored ones."""
    pairs = {(row["username"], row["application"]) for row in rows}
    outcomes = attribution.outcomes(session, pairs, generation)
    for row in rows:
        outcome = outcomes[(row["username"], row["application"])]
        row["attribution"], row["cloud_user_id"], row["product_pool_id"] = outcome


def _insert_sessions(
    database: Database, connection: Connection, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """One multi-row INSERT; the new ids come back by the agent's key."""
    returning = ("agent_session_id", "id")
    return dict(database.insert_rows(connection, _sessions, rows, returning))


def _close_sessions(connection: Connection, ended: dict[int, datetime]) -> None:
    """Sessions stored before, stopped now: one executemany."""
    if not ended:
        return
    statement = (
        update(_sessions)
        .where(_sessions.c.id == bindparam("stopped_id"))
        .values(ended_at=bindparam("stopped_at"))
    )
    rows = [{"stopped_id": row_id, "stopped_at": at} for row_id, at in ended.items()]
    connection.execute(statement, rows)


def _store_events(
    database: Database,
    connection: Connection,
    agent_id: str,
    events: list[Event],
    session_ids: dict[str, int],
    shift: timedelta,
) -> None:
    received_at = utcnow()
    rows = [
        {
            "agent_id": agent_id,
            "event_id": event.event_id,
            "session_id": session_ids[event.session_id],
            "kind": event.kind,
            "at": (event.ended_at or event.started_at) + shift,
            "received_at": received_at,
        }
        for event in events
    ]
    database.insert_rows(connection, _events, rows)
