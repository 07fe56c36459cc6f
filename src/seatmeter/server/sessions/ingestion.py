"""Session events from agents into sessions: idempotent and all-or-nothing.

An agent sends a batch of start and stop events, each with an event id of
its own choosing, and deletes the batch from its outbox once we answer.
The batch is checked whole before anything is written, so one bad event
rejects it all and stores nothing. Events already stored (a retry after a
lost answer) are recognised by (agent, event id) and skipped, so resending
a batch any number of times stores each event exactly once.
"""

import logging
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ConfigDict, ValidationError, model_validator
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from seatmeter.server.agents.models import Agent
from seatmeter.server.api.fields import AgentIdText, AgentTime, Body
from seatmeter.server.errors import ApiError, describe_problem
from seatmeter.server.sessions.models import SessionEvent, UsageSession
from seatmeter.server.usage.attribution import attribute

log = logging.getLogger(__name__)

# Below this, a measured clock offset is network delay, not a wrong clock.
CLOCK_TOLERANCE_S = 2.0
CHUNK = 500


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


def ingest(session: Session, agent_id: str, events: list[Event]) -> dict[str, int]:
    # Locking the agent's row serialises its batches on PostgreSQL, so two
    # copies of one batch arriving together cannot both look new.
    agent = session.get(Agent, agent_id, with_for_update=True)
    assert agent is not None
    fresh = _unseen(session, agent_id, events)
    shift = _clock_correction(agent)
    session_ids, created = _upsert_sessions(session, agent_id, fresh, shift)
    # In the same transaction: a session is never stored unattributed.
    attribute(session, session_ids=created)
    if fresh:
        session.execute(
            insert(SessionEvent),
            [
                {
                    "agent_id": agent_id,
                    "event_id": event.event_id,
                    "session_id": session_ids[event.session_id],
                    "kind": event.kind,
                    "at": (event.ended_at or event.started_at) + shift,
                }
                for event in fresh
            ],
        )
    log.debug(
        "agent %s: %d events stored, %d already had", agent_id, len(fresh), len(events) - len(fresh)
    )
    return {"accepted": len(fresh), "duplicates": len(events) - len(fresh)}


def _unseen(session: Session, agent_id: str, events: list[Event]) -> list[Event]:
    ids = list(dict.fromkeys(event.event_id for event in events))
    seen: set[str] = set()
    for start in range(0, len(ids), CHUNK):
        seen.update(
            session.scalars(
                select(SessionEvent.event_id)
                .where(SessionEvent.agent_id == agent_id)
                .where(SessionEvent.event_id.in_(ids[start : start + CHUNK]))
            )
        )
    fresh = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


def _clock_correction(agent: Agent) -> timedelta:
    offset = agent.clock_offset_s
    return timedelta(seconds=offset if abs(offset) >= CLOCK_TOLERANCE_S else 0.0)


def _upsert_sessions(
    session: Session, agent_id: str, events: list[Event], shift: timedelta
) -> tuple[dict[str, int], list[int]]:
    """Create the sessions these events speak of, and close stopped ones;
    returns every session's id by the agent's key, and the new ids."""
    wanted = list(dict.fromkeys(event.session_id for event in events))
    known = _known_sessions(session, agent_id, wanted)
    stops: dict[str, datetime] = {}
    for event in events:
        if event.ended_at is not None:
            stops[event.session_id] = event.ended_at + shift
    new_rows = {}
    for event in events:
        if event.session_id not in known and event.session_id not in new_rows:
            new_rows[event.session_id] = _session_row(agent_id, event, shift)
            new_rows[event.session_id]["ended_at"] = stops.pop(event.session_id, None)
    created: dict[str, int] = {}
    if new_rows:
        rows = session.execute(
            insert(UsageSession).returning(UsageSession.agent_session_id, UsageSession.id),
            list(new_rows.values()),
        )
        created = {key: row_id for key, row_id in rows if key}
        known.update(created)
    for key, ended_at in stops.items():
        session.execute(
            update(UsageSession).where(UsageSession.id == known[key]).values(ended_at=ended_at)
        )
    return known, list(created.values())


def _known_sessions(session: Session, agent_id: str, keys: list[str]) -> dict[str, int]:
    known: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.execute(
            select(UsageSession.agent_session_id, UsageSession.id)
            .where(UsageSession.agent_id == agent_id)
            .where(UsageSession.agent_session_id.in_(keys[start : start + CHUNK]))
        )
        known.update({key: row_id for key, row_id in rows if key})
    return known


def _session_row(agent_id: str, event: Event, shift: timedelta) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "agent_session_id": event.session_id,
        "hostname": event.hostname,
        "username": event.username,
        "application": event.application,
        "version": event.version,
        "source": event.source,
        "started_at": event.started_at + shift,
    }
