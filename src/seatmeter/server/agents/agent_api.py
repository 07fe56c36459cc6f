"""`/api/agent/v1`: what workstation agents call, and nothing else does.

Enrolment takes an agent-scope API token; every later call carries the
agent's own credential, so an agent can only ever write as itself.
"""

from datetime import datetime
from functools import cache
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from seatmeter.server.accounts.auth import AgentId, Enroller, bearer, not_an_agent
from seatmeter.server.agents import checkin
from seatmeter.server.api.fields import AgentIdText, AgentTime, Body, Revision
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import Database
from seatmeter.server.errors import invalid
from seatmeter.server.operations.metrics import AppMetrics
from seatmeter.server.sessions import ingestion

router = APIRouter(prefix="/api/agent/v1", tags=["agent API"], route_class=StrictRoute)

CHECK_IN_THREADS = 4

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Host(Body):
    hostname: Annotated[Text, StringConstraints(max_length=255)]
    os: Annotated[Text, StringConstraints(max_length=32)]
    agent_version: Annotated[Text, StringConstraints(max_length=32)]


class Enrolment(Host):
    agent_id: AgentIdText


class Problem(Body):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.-]{1,64}$")]
    message: Annotated[Text, StringConstraints(max_length=1000)]
    detail: dict[str, str | int | float | bool | None] = Field(default={}, max_length=50)


class CheckIn(Body):
    clock: AgentTime = Field(description="the agent's own time when it sent this")
    hostname: Annotated[Text, StringConstraints(max_length=255)] | None = None
    os: Annotated[Text, StringConstraints(max_length=32)] | None = None
    agent_version: Annotated[Text, StringConstraints(max_length=32)] | None = None
    catalog_revision: Revision | None = None
    problems: list[Problem] = Field(default=[], max_length=100)


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Checked one by one in ingestion, so that errors name the event.
    events: list[Any]


class Enrolled(BaseModel):
    agent_id: str
    credential: str = Field(description="the agent's own bearer credential")


class Instructions(BaseModel):
    """What the agent is to do until its next check-in."""

    agent_id: str
    monitoring: bool
    reason: str = Field(description="why it monitors or not, for people")
    license_server_ids: list[int]
    scan_interval_s: int
    checkin_interval_s: int
    legacy_idle_window_s: int
    catalog_revision: int | None
    server_time: datetime


class Ingested(BaseModel):
    accepted: int = Field(description="events stored now")
    duplicates: int = Field(description="events stored before, ignored")


@router.post("/enrol", status_code=201, response_model=Enrolled)
def enrol(body: Enrolment, _: Enroller, db: Db, request: Request) -> dict[str, Any]:
    host = body.model_dump(exclude={"agent_id"})
    with db.writing() as session:
        credential = checkin.enrol(session, body.agent_id, host, _address(request))
    return {"agent_id": body.agent_id, "credential": credential}


async def agent_credential(request: Request) -> str:
    """The bearer credential; whether it is an agent's is checked later."""
    return bearer(request)


AgentCredential = Annotated[str, Depends(agent_credential)]


@router.post("/check-in", response_model=Instructions)
async def check_in(body: CheckIn, credential: AgentCredential, request: Request) -> dict[str, Any]:
    # The one call to the thread pool does all the database work: a
    # check-in is the call every agent makes, so it takes the short road.
    state = request.app.state
    report, address = body.model_dump(), _address(request)
    told = await anyio.to_thread.run_sync(
        _check_in,
        state.database,
        credential,
        report,
        address,
        state.check_in_desk,
        limiter=_check_in_threads(),
    )
    state.metrics.check_ins.inc()
    return told


@cache
def _check_in_threads() -> anyio.CapacityLimiter:
    """Few threads for check-ins: more only queue for the GIL."""
    return anyio.CapacityLimiter(CHECK_IN_THREADS)


def _check_in(
    db: Database,
    credential: str,
    report: dict[str, Any],
    address: str | None,
    desk: checkin.Desk,
) -> dict[str, Any]:
    agent = checkin.standing(db, credential, desk)
    if agent is None:
        raise not_an_agent()
    return checkin.check_in(db, agent, report, address, desk)


@router.post("/session-events", response_model=Ingested)
def session_events(
    body: EventBatch, agent_id: AgentId, db: Db, settings: Config, metrics: AppMetrics
) -> dict[str, int]:
    limit = settings.max_events_per_batch
    if len(body.events) > limit:
        raise invalid(
            "events",
            f"{len(body.events)} events",
            f"a batch holds at most {limit} events; send the rest in another batch",
        )
    events = ingestion.validate_batch(body.events)
    with db.writing() as session:
        counts = ingestion.ingest(db, session, agent_id, events)
    metrics.ingested(counts["accepted"], counts["duplicates"])
    return counts


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None
