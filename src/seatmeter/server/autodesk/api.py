"""The connector's endpoints: consent, refresh token, syncs.

POST /api/v1/license-servers/{id}/authorize      -> {"authorize_url"}
GET  /api/v1/oauth/autodesk/callback?code&state  (no login: the state is the proof)
PUT  /api/v1/license-servers/{id}/refresh-token  (write-only, headless installs)
POST /api/v1/license-servers/{id}/sync[?wait=true]
GET  /api/v1/license-servers/{id}/syncs[/{sync_id}]
"""

import html
from datetime import datetime
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, StringConstraints
from sqlalchemy import select

from seatmeter.server import errors
from seatmeter.server.accounts.auth import Admin, Reader
from seatmeter.server.api.fields import MAX_ID, Body, RowId
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Box, Config, Db
from seatmeter.server.autodesk import oauth, reclaim, sync
from seatmeter.server.autodesk.models import ReclaimRecord, SyncRun
from seatmeter.server.errors import ApiError, not_found
from seatmeter.server.license_servers import service

router = APIRouter(prefix="/api/v1", tags=["autodesk connector"], route_class=StrictRoute)

SERVER = "/license-servers/{server_id}"
RefreshToken = Annotated[
    StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)
]
CallbackText = Annotated[str | None, Query(max_length=4000)]


class AuthorizeOut(BaseModel):
    authorize_url: str


class RefreshTokenIn(Body):
    refresh_token: RefreshToken


class SyncOut(BaseModel):
    id: int
    license_server_id: int
    trigger: str
    status: Literal["running", "ok", "failed"]
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    calls: int
    pools: int | None
    users: int | None
    assignments: int | None
    changes: int | None
    error: str | None


Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class SeatIn(Body):
    cloud_user_id: Id
    product_pool_id: Id


class ReclaimIn(Body):
    assignments: list[SeatIn] = Field(min_length=1, max_length=1000)
    dry_run: StrictBool = Field(True, description="false to unassign in Autodesk")


class ReclaimRecordOut(BaseModel):
    id: int
    license_server_id: int
    cloud_user_id: int
    product_pool_id: int
    autodesk_id: str
    product_id: str
    email: str | None
    requested_by: str
    outcome: str
    message: str | None
    at: datetime


RECORD_FIELDS = tuple(ReclaimRecordOut.model_fields)


def transport(request: Request) -> httpx.BaseTransport | None:
    """Tests may put an httpx transport on the app; production has none."""
    return getattr(request.app.state, "autodesk_transport", None)


Transport = Annotated[httpx.BaseTransport | None, Depends(transport)]


@router.post(SERVER + "/authorize", response_model=AuthorizeOut)
def authorize(
    server_id: RowId, request: Request, caller: Admin, db: Db, box: Box, config: Config
) -> dict[str, str]:
    base = config.public_url or str(request.base_url)
    redirect_uri = base.rstrip("/") + oauth.CALLBACK_PATH
    url = oauth.start_consent(db, box, server_id, caller.name, redirect_uri)
    return {"authorize_url": url}


@router.get(
    "/oauth/autodesk/callback",
    response_class=Response,
    responses={
        200: {
            "description": "the license server is connected",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        502: {"model": errors.ErrorBody, "description": "Autodesk could not be reached"},
    },
)
def callback(
    db: Db,
    box: Box,
    http: Transport,
    code: CallbackText = None,
    state: CallbackText = None,
    error: CallbackText = None,
    error_description: CallbackText = None,
) -> HTMLResponse:
    if not state:
        raise ApiError(
            400,
            "invalid_state",
            "state: is required; open the authorize_url that "
            "POST /api/v1/license-servers/{id}/authorize gave",
        )
    if error or not code:
        reason = f"{error}: {error_description or ''}".strip(": ") if error else "no code"
        raise ApiError(
            400,
            "consent_refused",
            f"Autodesk gave no consent ({reason}); start again with "
            "POST /api/v1/license-servers/{id}/authorize",
        )
    server = oauth.finish_consent(db, box, state, code, http)
    name, team = html.escape(server.name), html.escape(server.team_id)
    return HTMLResponse(
        "<!doctype html><title>Seatmeter: connected</title>"
        f"<p>License server <b>{name}</b> is connected to Autodesk team {team}. "
        "Its first sync follows shortly; you can close this page.</p>"
        f'<p><a href="/license-servers/{server.id}">Back to the license server</a></p>'
    )


@router.put(SERVER + "/refresh-token", status_code=204)
def put_refresh_token(
    server_id: RowId, body: RefreshTokenIn, _: Admin, db: Db, box: Box
) -> Response:
    oauth.set_refresh_token(db, box, server_id, body.refresh_token)
    return Response(status_code=204)


@router.post(
    SERVER + "/sync",
    status_code=202,
    response_model=SyncOut,
    responses={200: {"model": SyncOut, "description": "with wait=true: the ended sync"}},
)
def start_sync(
    server_id: RowId,
    _: Admin,
    db: Db,
    box: Box,
    config: Config,
    http: Transport,
    wait: bool = Query(False, description="answer only when the sync has ended"),
) -> Any:
    sync_id, owner = sync.begin(db, server_id, "manual")
    if wait:
        result = sync.carry_out(db, box, config, sync_id, owner, http)
        return JSONResponse(SyncOut(**result).model_dump(mode="json"), status_code=200)
    sync.carry_out_in_background(db, box, config, sync_id, owner, http)
    return sync.describe(db, sync_id)


@router.get(SERVER + "/syncs", response_model=Listing[SyncOut])
def list_syncs(server_id: RowId, _: Reader, db: Db, page: Page = Depends()) -> dict[str, Any]:
    """Newest first."""
    query = select(SyncRun).where(SyncRun.license_server_id == server_id)
    if page.after:
        query = query.where(SyncRun.id < int(page.after[0]))
    with db.reading() as session:
        service.get(session, server_id)
        rows = session.scalars(query.order_by(SyncRun.id.desc()).limit(page.limit + 1)).all()
        items = [sync.sync_view(row) for row in rows]
    return page.result(items, key=lambda item: [item["id"]])


@router.get(SERVER + "/syncs/{sync_id}", response_model=SyncOut)
def get_sync(server_id: RowId, sync_id: RowId, _: Reader, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        row = session.get(SyncRun, sync_id)
        if row is None or row.license_server_id != server_id:
            raise not_found("sync", sync_id, f"GET /api/v1/license-servers/{server_id}/syncs")
        return sync.sync_view(row)


@router.post(SERVER + "/reclaim")
def reclaim_seats(
    server_id: RowId,
    body: ReclaimIn,
    caller: Admin,
    db: Db,
    box: Box,
    config: Config,
    http: Transport,
) -> dict[str, Any]:
    """Unassign DIRECT seats in Autodesk; a dry run (the default) only lists."""
    wanted = [(seat.cloud_user_id, seat.product_pool_id) for seat in body.assignments]
    if body.dry_run:
        return reclaim.plan(db, server_id, wanted)
    return reclaim.carry_out(db, box, config, server_id, wanted, caller.name, http)


@router.get(SERVER + "/reclaims", response_model=Listing[ReclaimRecordOut])
def list_reclaims(server_id: RowId, _: Reader, db: Db, page: Page = Depends()) -> dict[str, Any]:
    """The audit trail of reclaims, newest first."""
    query = select(ReclaimRecord).where(ReclaimRecord.license_server_id == server_id)
    if page.after:
        query = query.where(ReclaimRecord.id < int(page.after[0]))
    with db.reading() as session:
        service.get(session, server_id)
        rows = session.scalars(query.order_by(ReclaimRecord.id.desc()).limit(page.limit + 1))
        items = [{name: getattr(row, name) for name in RECORD_FIELDS} for row in rows]
    return page.result(items, key=lambda item: [item["id"]])
