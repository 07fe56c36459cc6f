"""The emulator as one ASGI app: OAuth, Team Admin and control routes
behind the gate (request ids, faults, call log). No database: the data
lives in memory, loaded from the data file or generated.
"""

from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from seatmeter.emulator import control, oauth, team_admin
from seatmeter.emulator.calls import CallLog
from seatmeter.emulator.config import EmulatorConfig
from seatmeter.emulator.data import EmulatorData, World
from seatmeter.emulator.faults import FaultDice, Gate
from seatmeter.emulator.oauth import TokenStore
from seatmeter.emulator.problems import ApsError, Problem
from seatmeter.emulator.rate_limit import RateLimiter


def create_app(config: EmulatorConfig, data: EmulatorData) -> Gate:
    app = Starlette(
        routes=[*oauth.ROUTES, *team_admin.ROUTES, *control.ROUTES],
        exception_handlers={
            Problem: _problem,
            ApsError: _aps_error,
            HTTPException: _http_error,
        },
    )
    app.state.world = World(data)
    app.state.tokens = TokenStore(
        config.access_token_ttl, config.refresh_token_ttl, config.code_ttl
    )
    app.state.limiter = RateLimiter(config.rate_limit, config.rate_window)
    app.state.calls = CallLog(config.log)
    app.state.dice = FaultDice(config.faults())
    app.state.enforce_scopes = config.enforce_scopes
    return Gate(app, app.state.dice, app.state.calls)


async def _problem(request: Request, error: Any) -> Response:
    assert isinstance(error, Problem)
    return error.response(request)


async def _aps_error(request: Request, error: Any) -> Response:
    assert isinstance(error, ApsError)
    return error.response()


async def _http_error(request: Request, error: Any) -> Response:
    # Unknown paths and wrong methods, in the same problem shape.
    assert isinstance(error, HTTPException)
    kind = {404: "not-found", 405: "method-not-allowed"}.get(error.status_code, "invalid-request")
    detail = f"{request.method} {request.url.path}: {error.detail}"
    return Problem(error.status_code, kind, detail, headers=dict(error.headers or {})).response(
        request
    )
