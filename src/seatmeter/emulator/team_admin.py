"""The Team Admin API (`/team-admin/v1/`), as the fact sheet describes it.

Every call is checked in Autodesk's order as far as it is known: a valid
three-legged access token (else 401, APS shape), the token's admin
currently administers the team (else 403, the same for a team that does
not exist), then the team's allowance (else 429). Only supported pools
are shown; an unsupported one is refused with 422 when written.
"""

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from seatmeter.emulator.data import Pool, TeamState, User, World, autodesk_time
from seatmeter.emulator.oauth import Grant, TokenStore
from seatmeter.emulator.paging import page
from seatmeter.emulator.problems import ApsError, FieldError, Problem, invalid
from seatmeter.emulator.rate_limit import RateLimiter

log = logging.getLogger(__name__)

BASE = "/team-admin/v1"
# Scopes per operation, from Autodesk's reference (users:write inferred);
# checked only with --enforce-scopes.
TEAM_READ = frozenset({"tmadmapi:team:read"})
USERS_READ = TEAM_READ | {"tmadmapi:team-users:read"}
USERS_WRITE = frozenset({"tmadmapi:team-users:write"})
PRODUCTS_READ = TEAM_READ | {"tmadmapi:team-products:read"}
PRODUCTS_WRITE = frozenset({"tmadmapi:team-products:write"})


# -- checks shared by every operation ------------------------------------


def caller(request: Request, needs: frozenset[str]) -> Grant:
    """The access token's grant; 401 in the APS shape otherwise, and 403
    when scopes are enforced and the token lacks one it `needs`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApsError("The header 'Authorization: Bearer <token>' is missing.", "AUTH-001")
    tokens: TokenStore = request.app.state.tokens
    grant = tokens.find("access", value.strip())
    if grant is None or not grant.usable(time.time()):
        raise ApsError("The access token is not valid: unknown, expired or revoked.")
    _note(request, client_id=grant.client_id)
    missing = needs - set(grant.scope.split())
    if request.app.state.enforce_scopes and missing:
        raise ApsError(
            f"The token lacks the scope {' '.join(sorted(missing))}; authorize with it.",
            "AUTH-010",
            status=403,
        )
    return grant


def administered_team(request: Request, grant: Grant) -> TeamState:
    """The team in the path, if the token's admin administers it now."""
    world: World = request.app.state.world
    team_id = request.path_params["team"]
    _note(request, team=team_id)
    team = world.teams.get(team_id)
    # One answer for "no such team" and "not yours": existence never leaks.
    if team is None or not team.is_admin(grant.user):
        raise Problem(
            403,
            "forbidden",
            f"You are not an administrator of team {team_id!r}, or it is not eligible.",
        )
    _count(request, f"team:{team.id}")
    return team


def _count(request: Request, key: str) -> None:
    limiter: RateLimiter = request.app.state.limiter
    allowance = limiter.take(key)
    extra: dict[str, str] = request.scope["emulator.headers"]
    extra.update(allowance.headers())
    if not allowance.allowed:
        raise Problem(
            429,
            "rate-limit-exceeded",
            f"Allowance of {allowance.limit} calls per window used; retry after"
            f" {allowance.retry_after} s.",
            headers={"Retry-After": str(allowance.retry_after)},
        )


def _note(request: Request, **facts: str) -> None:
    # What the call log records about this call (team, client).
    request.scope["emulator.call"].update(facts)


def team_call(request: Request, needs: frozenset[str]) -> TeamState:
    return administered_team(request, caller(request, needs))


# -- how items look --------------------------------------------------------


def user_item(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.firstName,
        "lastName": user.lastName,
    }


def pool_item(team: TeamState, pool: Pool) -> dict[str, Any]:
    # Unlimited pools have no quantities; a pool not started yet may not
    # have its assignments counted, and Autodesk then says null.
    future = pool.startDate > datetime.now(UTC)
    return {
        "productId": pool.productId,
        "teamId": team.id,
        "productName": pool.productName,
        "totalQuantity": None if pool.unlimited else pool.totalQuantity,
        "assignedQuantity": None if pool.unlimited or future else team.holders(pool.productId),
        "unlimited": pool.unlimited,
        "startDate": autodesk_time(pool.startDate),
        "endDate": autodesk_time(pool.endDate),
    }


def assignment_item(team: TeamState, user_id: str, product_id: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "email": team.users[user_id].email,
        "teamId": team.id,
        "productId": product_id,
        "assignmentType": team.effective_type(user_id, product_id),
    }


# -- operations --------------------------------------------------------------


async def list_teams(request: Request) -> Response:
    grant = caller(request, TEAM_READ)
    # List Teams counts against the client's allowance, not a team's.
    _count(request, f"client:{grant.client_id}")
    world: World = request.app.state.world
    teams = world.administered_by(grant.user)
    wanted = request.query_params.get("teamId")
    if wanted is not None:
        teams = [team for team in teams if team.id == wanted]
    listing = f"teams:{grant.user}:{wanted}"
    body = page(request.query_params, listing, teams, lambda t: {"id": t.id, "name": t.name})
    return JSONResponse(body)


async def list_users(request: Request) -> Response:
    team = team_call(request, USERS_READ)
    email = request.query_params.get("email")
    if email is None:
        users = list(team.users.values())
    else:
        found = team.user_by_email(email)
        users = [found] if found else []
    listing = f"users:{team.id}:{email}"
    return JSONResponse(page(request.query_params, listing, users, user_item))


async def get_user(request: Request) -> Response:
    team = team_call(request, USERS_READ)
    user = team.users.get(request.path_params["user"])
    if user is None:
        raise Problem(
            404, "user-not-found", f"No user {request.path_params['user']!r} on team {team.id}."
        )
    return JSONResponse(user_item(user))


async def add_user(request: Request) -> Response:
    """Invite by email; a repeat invite answers the user already there."""
    team = team_call(request, USERS_WRITE)
    body = await json_body(request)
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise invalid("email", f"email must be an email address; got {email!r}")
    existing = team.user_by_email(email)
    if existing is not None:
        return JSONResponse(user_item(existing), status_code=200)
    user = User(id=_new_user_id(team), email=email)
    team.users[user.id] = user
    log.info("team %s: invited %s as %s", team.id, email, user.id)
    return JSONResponse(user_item(user), status_code=201)


def _new_user_id(team: TeamState) -> str:
    number = 9_000_000_000 + len(team.users)
    while f"US{number}" in team.users:
        number += 1
    return f"US{number}"


async def list_pools(request: Request) -> Response:
    team = team_call(request, PRODUCTS_READ)
    pools = [pool for pool in team.pools.values() if pool.supported]
    listing = f"pools:{team.id}"
    return JSONResponse(page(request.query_params, listing, pools, lambda p: pool_item(team, p)))


async def list_assignments(request: Request) -> Response:
    """Not paginated: every match at once, one row per user-product pair."""
    team = team_call(request, PRODUCTS_READ)
    user_id = request.query_params.get("userId")
    product_id = request.query_params.get("productId")
    rows = [
        assignment_item(team, user, product)
        for user, product in team.grants
        if user_id in (None, user)
        and product_id in (None, product)
        and team.pools[product].supported
    ]
    return JSONResponse({"data": rows})


async def assign(request: Request) -> Response:
    team = team_call(request, PRODUCTS_WRITE)
    body = await json_body(request)
    kind = body.get("assignmentType", "DIRECT")
    if kind != "DIRECT":
        raise invalid("assignmentType", f"assignmentType must be 'DIRECT' if sent; got {kind!r}")
    user_id, product_id = _pair(team, body.get("userId"), body.get("productId"))
    created = team.grant(user_id, product_id, "DIRECT")
    if created:
        log.info("team %s: assigned %s to %s", team.id, product_id, user_id)
    answer = {**assignment_item(team, user_id, product_id), "reassignmentQuotaNearingLimit": False}
    return JSONResponse(answer, status_code=201 if created else 200)


async def unassign(request: Request) -> Response:
    """Only a DIRECT assignment can go; inherited ones stay (422)."""
    team = team_call(request, PRODUCTS_WRITE)
    query = request.query_params
    user_id, product_id = query.get("userId"), query.get("productId")
    for name, value in (("userId", user_id), ("productId", product_id)):
        if not value:
            raise invalid(name, f"{name} is required as a query parameter")
    assert user_id is not None and product_id is not None
    pool = team.pools.get(product_id)
    if pool is not None and not pool.supported:
        raise _unsupported(product_id)
    if team.revoke(user_id, product_id, "DIRECT"):
        log.info("team %s: unassigned %s from %s", team.id, product_id, user_id)
        return Response(status_code=204)
    if team.effective_type(user_id, product_id) is None:
        raise Problem(
            404,
            "assignment-not-found",
            f"User {user_id!r} has no assignment of product {product_id!r} on team {team.id}.",
        )
    raise Problem(
        422,
        "inherited-assignment",
        f"User {user_id!r} holds {product_id!r} only through a group or the team;"
        " those cannot be removed through this API.",
        [FieldError("productId", "only inherited assignments remain")],
    )


def _pair(team: TeamState, user_id: Any, product_id: Any) -> tuple[str, str]:
    """A user and a supported pool of this team, or a 400/422 naming which."""
    for name, value in (("userId", user_id), ("productId", product_id)):
        if not isinstance(value, str) or not value:
            raise invalid(name, f"{name} is required and must be a string; got {value!r}")
    if user_id not in team.users:
        raise Problem(
            422,
            "user-not-on-team",
            f"User {user_id!r} is not a member of team {team.id}; invite them first.",
            [FieldError("userId", "not a member of the team")],
        )
    pool = team.pools.get(product_id)
    if pool is None:
        raise Problem(
            422,
            "product-not-on-team",
            f"Team {team.id} has no product pool {product_id!r}; use a productId"
            " from List Product Pools.",
            [FieldError("productId", "no such product pool on the team")],
        )
    if not pool.supported:
        raise _unsupported(product_id)
    return user_id, product_id


def _unsupported(product_id: str) -> Problem:
    return Problem(
        422,
        "unsupported-product",
        f"Product {product_id!r} cannot be managed through the Team Admin API.",
        [FieldError("productId", "not supported by the Team Admin API")],
    )


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise invalid("body", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "the body must be a JSON object")
    return body


ROUTES = [
    Route(f"{BASE}/teams", list_teams, methods=["GET"]),
    Route(f"{BASE}/teams/{{team}}/users", list_users, methods=["GET"]),
    Route(f"{BASE}/teams/{{team}}/users", add_user, methods=["POST"]),
    Route(f"{BASE}/teams/{{team}}/users/{{user}}", get_user, methods=["GET"]),
    Route(f"{BASE}/teams/{{team}}/product-pools", list_pools, methods=["GET"]),
    Route(f"{BASE}/teams/{{team}}/assignments", list_assignments, methods=["GET"]),
    Route(f"{BASE}/teams/{{team}}/assignments", assign, methods=["POST"]),
    Route(f"{BASE}/teams/{{team}}/assignments", unassign, methods=["DELETE"]),
]
