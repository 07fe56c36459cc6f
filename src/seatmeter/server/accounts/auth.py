"""Who is calling, and may they? Bearer tokens checked against scopes.

Scopes are coarse on purpose: `read` sees everything but secrets, `admin`
also changes things, `agent` only enrols agents. An agent, once enrolled,
speaks with its own credential, which opens the agent API and nothing
else, and only for itself.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import bindparam, select, update

from seatmeter.server.accounts.credentials import token_hash
from seatmeter.server.accounts.models import ApiToken
from seatmeter.server.agents.models import Agent
from seatmeter.server.api.state import database
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError

# Recording every use would turn each read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    scope: str


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(
            401,
            "unauthorized",
            "send an API token as 'Authorization: Bearer <token>'; "
            "create one with 'seatmeter token create'",
        )
    return token.strip()


def _scope_check(*scopes: str) -> Callable[..., Caller]:
    """A dependency that admits tokens holding one of `scopes`."""

    def check(request: Request, db: Database = Depends(database)) -> Caller:
        caller = _caller(db, bearer(request))
        if caller.scope not in scopes:
            raise ApiError(
                403,
                "forbidden",
                f"this endpoint needs a token with scope {' or '.join(scopes)}; "
                f"token {caller.name!r} has scope {caller.scope}",
            )
        return caller

    return check


Reader = Annotated[Caller, Depends(_scope_check("admin", "read"))]
Admin = Annotated[Caller, Depends(_scope_check("admin"))]
Enroller = Annotated[Caller, Depends(_scope_check("agent"))]


_AGENT_BY_CREDENTIAL = select(Agent.id).where(
    Agent.credential_hash == bindparam("credential_hash", "")
)


def current_agent(request: Request, db: Database = Depends(database)) -> str:
    """The id of the agent whose own credential signed the request."""
    found = db.first_row(_AGENT_BY_CREDENTIAL, credential_hash=token_hash(bearer(request)))
    if found is None:
        raise not_an_agent()
    agent_id: str = found[0]
    return agent_id


def not_an_agent() -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        "this is not a current agent credential; enrol the agent again with an agent token",
    )


AgentId = Annotated[str, Depends(current_agent)]


def _caller(db: Database, token: str) -> Caller:
    with db.reading() as session:
        found = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if found is None:
        raise ApiError(
            401,
            "unauthorized",
            "the API token is unknown or was revoked; create a new one with "
            "'seatmeter token create'",
        )
    _note_use(db, found)
    return Caller(found.id, found.name, found.scope)


def _note_use(db: Database, token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    with db.writing() as session:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
