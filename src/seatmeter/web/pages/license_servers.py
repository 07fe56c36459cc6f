"""License servers: the list with each one's status, creating an Autodesk
server, and one server's page where its groups and settings change.

"Connect with Autodesk", "Sync now" and the sync history: pages/autodesk.py.
"""

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from starlette.datastructures import FormData

from seatmeter.server.agent_groups.models import AgentGroup
from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Box, Db
from seatmeter.server.db import utcnow
from seatmeter.server.errors import invalid
from seatmeter.server.license_servers import service
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.web.auth import SignedIn
from seatmeter.web.csrf import AdminForm
from seatmeter.web.pages.autodesk import sync_history
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

PATH = "/license-servers"
MIN_POLL_S, MAX_POLL_S = 60, 7 * 86_400
# Age of the last sync against the poll interval: one sync late is
# usual (green), a few is worth a look (orange), more is a failure (red).
GREEN_WITHIN, ORANGE_WITHIN = 2, 4


def freshness(server: dict[str, Any], now: datetime) -> str:
    """green, orange or red, by the age of the last sync."""
    last = server["last_sync_at"]
    if last is None:
        return "red"
    intervals = (now - last).total_seconds() / server["poll_interval_s"]
    if intervals <= GREEN_WITHIN:
        return "green"
    return "orange" if intervals <= ORANGE_WITHIN else "red"


def all_servers(db: Db) -> list[dict[str, Any]]:
    with db.reading() as session:
        servers = session.scalars(
            select(LicenseServer)
            .options(selectinload(LicenseServer.agent_groups))
            .order_by(LicenseServer.name)
        ).all()
        shown = [service.describe(server) for server in servers]
    now = utcnow()
    return [{**server, "freshness": freshness(server, now)} for server in shown]


@router.get(PATH)
def servers_page(request: Request, _: SignedIn, db: Db) -> Response:
    return render(request, "license_servers.html", servers=all_servers(db), groups=_groups(db))


@router.post(PATH)
def create_server(form: AdminForm, db: Db, box: Box) -> Response:
    fields = _fields(form)
    with db.writing() as session:
        server = service.create(session, fields, box)
        server_id = server.id
    return back_to(f"{PATH}/{server_id}", f"license server {fields['name']} created")


@router.get(PATH + "/{server_id}")
def server_page(request: Request, server_id: RowId, _: SignedIn, db: Db) -> Response:
    with db.reading() as session:
        shown = service.describe(service.get(session, server_id))
    shown["freshness"] = freshness(shown, utcnow())
    return render(
        request,
        "license_server.html",
        server=shown,
        groups=_groups(db),
        syncs=sync_history(db, server_id),
        form_targets=(_origin(shown["api_base_url"]),),
    )


def _origin(url: str) -> str:
    """Where "Connect with Autodesk" leads: the consent page's origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@router.post(PATH + "/{server_id}")
def change_server(server_id: RowId, form: AdminForm, db: Db, box: Box) -> Response:
    fields = _fields(form)
    if not fields.get("client_secret"):
        # A blank secret field keeps the stored one; a box clears it.
        fields.pop("client_secret", None)
        if form.get("clear_client_secret"):
            fields["client_secret"] = None
    with db.writing() as session:
        service.update(session, service.get(session, server_id), fields, box)
    return back_to(f"{PATH}/{server_id}", "license server saved")


@router.post(PATH + "/{server_id}/delete")
def delete_server(server_id: RowId, _: AdminForm, db: Db) -> Response:
    with db.writing() as session:
        server = service.get(session, server_id)
        name = server.name
        session.delete(server)
    return back_to(PATH, f"license server {name} deleted")


def _fields(form: FormData) -> dict[str, Any]:
    """The form as the service takes it, each value checked as the API does."""
    fields: dict[str, Any] = {
        "name": _text(form, "name", 1, 100),
        "team_id": _text(form, "team_id", 1, 64),
        "api_base_url": _text(form, "api_base_url", 1, 500),
        "client_id": _text(form, "client_id", 0, 200) or None,
        "client_secret": str(form.get("client_secret", "")) or None,
        "poll_interval_s": _poll_interval(str(form.get("poll_interval_s", "900"))),
        "enabled": form.get("enabled") == "on",
        "agent_group_ids": [_group_id(v) for v in form.getlist("agent_group_ids")],
    }
    if len(fields["client_secret"] or "") > 1000:
        raise invalid("client_secret", "(hidden)", "is longer than 1000 characters")
    return fields


def _text(form: FormData, name: str, shortest: int, longest: int) -> str:
    value = str(form.get(name, "")).strip()
    if not shortest <= len(value) <= longest:
        raise invalid(name, value, f"give {shortest} to {longest} characters")
    return value


def _poll_interval(raw: str) -> int:
    if not raw.strip().isdigit() or not MIN_POLL_S <= int(raw) <= MAX_POLL_S:
        raise invalid(
            "poll_interval_s", raw, f"give whole seconds from {MIN_POLL_S} to {MAX_POLL_S}"
        )
    return int(raw)


def _group_id(raw: Any) -> int:
    if not str(raw).isdigit() or int(raw) > 2**31 - 1:
        raise invalid("agent_group_ids", raw, "choose agent groups from the list")
    return int(raw)


def _groups(db: Db) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.execute(
            select(AgentGroup.id, AgentGroup.name, AgentGroup.is_default).order_by(AgentGroup.name)
        )
        return [{"id": i, "name": name, "is_default": default} for i, name, default in rows]
