"""A license server's Autodesk side: "Connect with Autodesk", "Sync now"
and the sync history, on the license server's page.

Connecting starts the connector's consent (a single-use state, PKCE) and
sends the browser to Autodesk's authorize page; Autodesk sends it back
to the connector's callback. A sync runs in the background, as the API's
does; the page shows it in the history, newest first.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Box, Config, Db
from seatmeter.server.autodesk import oauth, sync
from seatmeter.server.autodesk.api import Transport
from seatmeter.server.autodesk.models import SyncRun
from seatmeter.web.auth import AdminViewer
from seatmeter.web.csrf import AdminForm
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

PATH = "/license-servers/{server_id}"
HISTORY = 20


@router.post(PATH + "/connect")
def connect(
    server_id: RowId,
    request: Request,
    _: AdminForm,
    viewer: AdminViewer,
    db: Db,
    box: Box,
    config: Config,
) -> Response:
    base = config.public_url or str(request.base_url)
    redirect_uri = base.rstrip("/") + oauth.CALLBACK_PATH
    url = oauth.start_consent(db, box, server_id, viewer.name, redirect_uri)
    return RedirectResponse(url, status_code=303)


@router.post(PATH + "/sync")
def sync_now(
    server_id: RowId, _: AdminForm, db: Db, box: Box, config: Config, http: Transport
) -> Response:
    sync_id, owner = sync.begin(db, server_id, "manual")
    sync.carry_out_in_background(db, box, config, sync_id, owner, http)
    return back_to(f"/license-servers/{server_id}", f"sync {sync_id} started")


def sync_history(db: Db, server_id: int) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.scalars(
            select(SyncRun)
            .where(SyncRun.license_server_id == server_id)
            .order_by(SyncRun.id.desc())
            .limit(HISTORY)
        ).all()
        return [sync.sync_view(row) for row in rows]
