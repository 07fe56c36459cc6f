"""The control API under /_emulator/: not Autodesk's, for tests and demos.

No authentication (the emulator listens on loopback only). It reads the
call log and the issued tokens, changes the data while running, revokes
tokens and changes the faults. Bad input is a 400 problem naming the
field, as the Team Admin routes answer.
"""

import logging
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seatmeter.emulator.calls import CallLog
from seatmeter.emulator.config import Faults, Limits
from seatmeter.emulator.data import (
    Assignment,
    Pool,
    Team,
    TeamState,
    User,
    World,
    check_team,
    field_path,
)
from seatmeter.emulator.faults import FaultDice
from seatmeter.emulator.oauth import TokenStore
from seatmeter.emulator.problems import Problem, invalid
from seatmeter.emulator.rate_limit import RateLimiter
from seatmeter.emulator.team_admin import json_body, pool_item

log = logging.getLogger(__name__)

POOL_CHANGES = {"productName", "totalQuantity", "unlimited", "startDate", "endDate", "supported"}


def validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        raise invalid(
            field_path(first["loc"]), f"{field_path(first['loc'])}: {first['msg']}"
        ) from None


def known_team(request: Request) -> TeamState:
    world: World = request.app.state.world
    team = world.teams.get(request.path_params["team"])
    if team is None:
        raise Problem(404, "not-found", f"No team {request.path_params['team']!r} in the data.")
    return team


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def list_calls(request: Request) -> Response:
    calls: CallLog = request.app.state.calls
    return JSONResponse({"data": calls.all()})


async def clear_calls(request: Request) -> Response:
    calls: CallLog = request.app.state.calls
    calls.clear()
    return Response(status_code=204)


async def show_data(request: Request) -> Response:
    world: World = request.app.state.world
    return JSONResponse(world.to_data())


async def list_tokens(request: Request) -> Response:
    tokens: TokenStore = request.app.state.tokens
    return JSONResponse({"data": tokens.public()})


async def change_pool(request: Request) -> Response:
    team = known_team(request)
    product_id = request.path_params["product"]
    pool = team.pools.get(product_id)
    if pool is None:
        raise Problem(404, "not-found", f"Team {team.id} has no product pool {product_id!r}.")
    body = await json_body(request)
    unknown = set(body) - POOL_CHANGES
    if unknown:
        raise invalid(sorted(unknown)[0], f"can change only {sorted(POOL_CHANGES)}")
    changed: Pool = validated(Pool, {**pool.model_dump(), **body})
    _check_whole(team, pool=changed)
    team.pools[product_id] = changed
    log.info("team %s: pool %s changed: %s", team.id, product_id, sorted(body))
    return JSONResponse({**pool_item(team, changed), "supported": changed.supported})


async def add_user(request: Request) -> Response:
    team = known_team(request)
    user: User = validated(User, await json_body(request))
    if user.id in team.users or team.user_by_email(user.email):
        raise Problem(
            409, "conflict", f"Team {team.id} already has user {user.id} or {user.email}."
        )
    team.users[user.id] = user
    log.info("team %s: user %s added", team.id, user.id)
    return JSONResponse(user.model_dump(), status_code=201)


async def add_assignment(request: Request) -> Response:
    """Any type, GROUP and TEAM included: what Autodesk's API cannot do."""
    team = known_team(request)
    assignment: Assignment = validated(Assignment, await json_body(request))
    if assignment.userId not in team.users:
        raise invalid("userId", f"no user {assignment.userId!r} on team {team.id}")
    if assignment.productId not in team.pools:
        raise invalid("productId", f"no product pool {assignment.productId!r} on team {team.id}")
    created = team.grant(assignment.userId, assignment.productId, assignment.assignmentType)
    return JSONResponse(assignment.model_dump(), status_code=201 if created else 200)


async def remove_assignment(request: Request) -> Response:
    team = known_team(request)
    query = request.query_params
    kind = query.get("assignmentType", "DIRECT")
    if not team.revoke(query.get("userId", ""), query.get("productId", ""), kind):
        raise Problem(404, "not-found", "No such assignment of that type.")
    return Response(status_code=204)


async def set_admins(request: Request) -> Response:
    """Who administers the team; a token of a removed admin gets 403."""
    team = known_team(request)
    admins = (await json_body(request)).get("admins")
    if not isinstance(admins, list) or not all(isinstance(a, str) for a in admins):
        raise invalid("admins", "admins must be a list of email addresses")
    team.admins = {email.lower() for email in admins}
    log.info("team %s: admins now %s", team.id, sorted(team.admins))
    return JSONResponse({"admins": sorted(team.admins)})


async def add_team(request: Request) -> Response:
    world: World = request.app.state.world
    team: Team = validated(Team, await json_body(request))
    if team.id in world.teams:
        raise Problem(409, "conflict", f"Team {team.id} exists already.")
    problems = list(check_team("team", team))
    if problems:
        raise invalid("team", problems[0])
    world.teams[team.id] = TeamState(team)
    log.info("team %s added", team.id)
    return JSONResponse({"id": team.id, "name": team.name}, status_code=201)


def _check_whole(team: TeamState, pool: Pool) -> None:
    if not pool.unlimited and pool.totalQuantity is None:
        raise invalid("totalQuantity", "required unless unlimited is true")
    if pool.endDate < pool.startDate:
        raise invalid("endDate", "endDate is before startDate")


async def revoke(request: Request) -> Response:
    """The chain lapses: every token (of one client) stops working."""
    tokens: TokenStore = request.app.state.tokens
    body = await json_body(request) if await request.body() else {}
    client_id = body.get("client_id")
    count = tokens.revoke(client_id)
    log.info("revoked %d tokens of %s", count, client_id or "every client")
    return JSONResponse({"revoked": count})


class FaultChange(Faults, Limits):
    pass


async def show_faults(request: Request) -> Response:
    return JSONResponse(_faults_now(request))


async def change_faults(request: Request) -> Response:
    body = await json_body(request)
    merged = {**_faults_now(request), **body}
    change: FaultChange = validated(FaultChange, merged)
    dice: FaultDice = request.app.state.dice
    limiter: RateLimiter = request.app.state.limiter
    dice.change(Faults(**{name: getattr(change, name) for name in Faults.model_fields}))
    if (change.rate_limit, change.rate_window) != (limiter.limit, limiter.window_s):
        limiter.reconfigure(change.rate_limit, change.rate_window)
    log.info("faults now %s", change.model_dump())
    return JSONResponse(_faults_now(request))


def _faults_now(request: Request) -> dict[str, Any]:
    dice: FaultDice = request.app.state.dice
    limiter: RateLimiter = request.app.state.limiter
    return {
        **dice.faults.model_dump(),
        "rate_limit": limiter.limit,
        "rate_window": limiter.window_s,
    }


ROUTES = [
    Route("/_emulator/health", health, methods=["GET"]),
    Route("/_emulator/calls", list_calls, methods=["GET"]),
    Route("/_emulator/calls", clear_calls, methods=["DELETE"]),
    Route("/_emulator/data", show_data, methods=["GET"]),
    Route("/_emulator/tokens", list_tokens, methods=["GET"]),
    Route("/_emulator/teams", add_team, methods=["POST"]),
    Route("/_emulator/teams/{team}/admins", set_admins, methods=["PUT"]),
    Route("/_emulator/teams/{team}/users", add_user, methods=["POST"]),
    Route("/_emulator/teams/{team}/assignments", add_assignment, methods=["POST"]),
    Route("/_emulator/teams/{team}/assignments", remove_assignment, methods=["DELETE"]),
    Route("/_emulator/teams/{team}/product-pools/{product}", change_pool, methods=["PATCH"]),
    Route("/_emulator/revoke", revoke, methods=["POST"]),
    Route("/_emulator/faults", show_faults, methods=["GET"]),
    Route("/_emulator/faults", change_faults, methods=["PUT"]),
]
