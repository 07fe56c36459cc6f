"""Troubleshooting: "why do I see no usage from this host / this server?"."""

from fastapi import APIRouter, Query, Request, Response

from seatmeter.server.agents.models import Agent
from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Config, Db
from seatmeter.server.license_servers import service
from seatmeter.web import troubleshooting
from seatmeter.web.auth import SignedIn
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


@router.get("/troubleshoot")
def host_page(
    request: Request,
    _: SignedIn,
    db: Db,
    settings: Config,
    hostname: str = Query("", max_length=255),
    agent_id: str = Query("", max_length=64),
) -> Response:
    hostname, agent_id = hostname.strip(), agent_id.strip()
    agent: Agent | None = None
    steps: list[troubleshooting.Step] = []
    if hostname or agent_id:
        with db.reading() as session:
            agent, steps = troubleshooting.host_steps(session, settings, hostname, agent_id)
    return render(
        request,
        "troubleshoot_host.html",
        hostname=agent.hostname if agent else hostname,
        agent=agent,
        asked=bool(hostname or agent_id),
        steps=steps,
    )


@router.get("/license-servers/{server_id}/troubleshoot")
def server_page(
    request: Request, server_id: RowId, _: SignedIn, db: Db, settings: Config
) -> Response:
    with db.reading() as session:
        server = service.get(session, server_id)
        steps = troubleshooting.server_steps(session, server, settings)
        shown = service.describe(server)
    return render(request, "troubleshoot_server.html", server=shown, steps=steps)
