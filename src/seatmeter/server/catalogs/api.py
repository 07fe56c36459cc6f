"""`/api/v1/catalog` for administrators, `/api/agent/v1/catalog` for agents."""

from typing import Any

from fastapi import APIRouter, Body

from seatmeter.server.accounts.auth import Admin, AgentId, Reader
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.catalogs import service

router = APIRouter(tags=["product catalog"], route_class=StrictRoute)


@router.get("/api/v1/catalog")
def get_catalog(_: Reader, db: Db) -> dict[str, Any]:
    """The catalog agents are using now."""
    with db.reading() as session:
        return service.current(session)


@router.put("/api/v1/catalog")
def put_catalog(_: Admin, db: Db, document: dict[str, Any] = Body()) -> dict[str, Any]:
    """A newer catalog (higher revision); agents pick it up at check-in."""
    with db.writing() as session:
        revision = service.upload(session, document)
    return {"revision": revision}


@router.get("/api/agent/v1/catalog")
def agent_catalog(_: AgentId, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        return service.current(session)
