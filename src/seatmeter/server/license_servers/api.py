"""`/api/v1/license-servers`: the Autodesk teams Seatmeter reads."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
)
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from seatmeter.server.accounts.auth import Admin, Reader
from seatmeter.server.api.fields import Body, Changes, IdList, Name, RowId
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Box, Db
from seatmeter.server.license_servers import service
from seatmeter.server.license_servers.models import AUTODESK_API, LicenseServer

router = APIRouter(
    prefix="/api/v1/license-servers", tags=["license servers"], route_class=StrictRoute
)

TeamId = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Url = Annotated[StrictStr, StringConstraints(max_length=500)]
ClientId = Annotated[StrictStr, StringConstraints(strip_whitespace=True, max_length=200)]
Secret = Annotated[StrictStr, StringConstraints(max_length=1000)]
# At least a minute: Autodesk allows 60 calls a minute per team in all.
PollInterval = Annotated[StrictInt, Field(ge=60, le=7 * 86_400)]


class LicenseServerIn(Body):
    name: Name
    type: Literal["autodesk"] = "autodesk"
    team_id: TeamId
    api_base_url: Url = AUTODESK_API
    client_id: ClientId | None = None
    client_secret: Secret | None = Field(None, description="write-only")
    agent_group_ids: IdList | None = Field(
        None, description="left out: the default agent group; [] for none"
    )
    poll_interval_s: PollInterval = 900
    enabled: StrictBool = True


class LicenseServerChanges(Changes):
    nullable = frozenset({"client_id", "client_secret"})

    name: Name | None = None
    team_id: TeamId | None = None
    api_base_url: Url | None = None
    client_id: ClientId | None = None
    client_secret: Secret | None = Field(None, description="write-only; null clears it")
    agent_group_ids: IdList | None = None
    poll_interval_s: PollInterval | None = None
    enabled: StrictBool | None = None


class LicenseServerOut(BaseModel):
    id: int
    name: str
    type: Literal["autodesk"]
    team_id: str
    api_base_url: str
    client_id: str | None
    has_client_secret: bool = Field(description="the secret itself is write-only")
    authorized: bool = Field(description="an administrator has given OAuth consent")
    agent_group_ids: list[int]
    poll_interval_s: int
    enabled: bool
    status: Literal["never", "up", "down", "unauthorized"]
    last_sync_at: datetime | None
    last_error: str | None
    created_at: datetime
    connected: bool = Field(description="Seatmeter holds Autodesk tokens for it")
    syncing: bool = Field(description="a sync is running now")
    last_sync_duration_s: float | None
    last_sync_pools: int | None
    last_sync_users: int | None
    last_sync_assignments: int | None
    last_update_late: bool = Field(description="no sync succeeded within twice the poll interval")


@router.get("", response_model=Listing[LicenseServerOut])
def list_servers(_: Reader, db: Db, page: Page = Depends()) -> dict[str, Any]:
    after = page.after[0] if page.after else 0
    with db.reading() as session:
        servers = session.scalars(
            select(LicenseServer)
            .options(selectinload(LicenseServer.agent_groups))
            .where(LicenseServer.id > after)
            .order_by(LicenseServer.id)
            .limit(page.limit + 1)
        ).all()
        items = [service.describe(server) for server in servers]
    return page.result(items, key=lambda item: [item["id"]])


@router.post("", status_code=201, response_model=LicenseServerOut)
def create_server(body: LicenseServerIn, _: Admin, db: Db, box: Box) -> dict[str, Any]:
    fields = body.model_dump(exclude={"type"})
    with db.writing() as session:
        return service.describe(service.create(session, fields, box))


@router.get("/{server_id}", response_model=LicenseServerOut)
def get_server(server_id: RowId, _: Reader, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        return service.describe(service.get(session, server_id))


@router.patch("/{server_id}", response_model=LicenseServerOut)
def change_server(
    server_id: RowId, body: LicenseServerChanges, _: Admin, db: Db, box: Box
) -> dict[str, Any]:
    with db.writing() as session:
        server = service.get(session, server_id)
        service.update(session, server, body.changes(), box)
        return service.describe(server)


@router.delete("/{server_id}", status_code=204)
def delete_server(server_id: RowId, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        session.delete(service.get(session, server_id))
    return Response(status_code=204)
