"""Agents (hosts): the grid of every agent, and adding them to a group."""

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups import service as groups
from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.agents.api import describe
from seatmeter.server.agents.models import Agent
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import utcnow
from seatmeter.server.errors import invalid
from seatmeter.server.settings import Settings
from seatmeter.web import grid
from seatmeter.web.auth import SignedIn
from seatmeter.web.csrf import AdminForm
from seatmeter.web.grid import Column, Filter, Grid, contains
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

PATH = "/agents"


def troubleshoot_link(row: grid.Row) -> str:
    return f"/troubleshoot?agent_id={row['id']}"


COLUMNS = (
    Column("hostname", "Host", sort=Agent.hostname, link=troubleshoot_link),
    Column("os", "OS"),
    Column("version", "Agent version"),
    Column("ip_address", "Address", shown=False),
    Column("status", "Status", kind="status"),
    Column("monitoring", "Monitoring", kind="yes/no"),
    # Not indexed: sorting by it reads every agent, which at 100,000
    # agents is a fraction of a second on PostgreSQL.
    Column("last_seen", "Last seen", sort=Agent.last_seen, kind="moment"),
    Column("groups", "Agent groups", kind="list"),
    Column("problems", "Problems", kind="number"),
    Column("id", "Agent id", sort=Agent.id, shown=False),
)


def agents_grid(settings: Settings, group_names: list[tuple[int, str]]) -> Grid:
    """The grid's filters depend on the groups that exist and on the time."""
    online_since = utcnow() - timedelta(seconds=2 * settings.agent_checkin_interval_s)
    filters = (
        Filter("hostname", "Host contains", contains(Agent.hostname)),
        Filter(
            "status",
            "Status",
            lambda value: (
                Agent.last_seen >= online_since
                if value == "online"
                else (Agent.last_seen.is_(None) | (Agent.last_seen < online_since))
            ),
            choices=(("online", "online"), ("offline", "offline")),
        ),
        Filter(
            "group",
            "Agent group",
            lambda group_id: Agent.id.in_(
                select(agent_group_members.c.agent_id).where(
                    agent_group_members.c.agent_group_id == int(group_id)
                )
            ),
            choices=tuple((str(i), name) for i, name in group_names),
        ),
    )
    return Grid(
        PATH,
        "Agents",
        COLUMNS,
        filters,
        default_sort="hostname",
        tiebreak=Agent.id,
        descending=False,
    )


@router.get(PATH)
def agents_page(request: Request, viewer: SignedIn, db: Db, settings: Config) -> Response:
    with db.reading() as session:
        names = _group_names(session)
        shown = agents_grid(settings, names)
        view = grid.read_view(shown, request.query_params)
        records, total = grid.select_page(session, view, _query(shown, view))
        rows = _rows(session, records, settings, dict(names))
    return render(
        request,
        "agents.html",
        grid=shown,
        view=view,
        rows=rows,
        total=total,
        live=0,
        groups=names,
        page_sizes=grid.PAGE_SIZES,
        max_export=grid.MAX_EXPORT_ROWS,
    )


@router.get(PATH + "/export")
def export_agents(
    request: Request, _: SignedIn, db: Db, settings: Config, format: str = "csv"
) -> Response:
    with db.reading() as session:
        names = _group_names(session)
        shown = agents_grid(settings, names)
        view = grid.read_view(shown, request.query_params)
        records = grid.export_rows(session, _query(shown, view))
        rows = _rows(session, records, settings, dict(names))
    return grid.export(shown, view, rows, format, "agents")


@router.post(PATH + "/add-to-group")
def add_to_group(form: AdminForm, db: Db) -> Response:
    """Bulk: the ticked agents join the chosen group."""
    agent_ids = form.getlist("agent_ids")
    group_id = str(form.get("agent_group_id", ""))
    if not agent_ids:
        raise invalid("agent_ids", [], "tick at least one agent")
    if not group_id.isdigit():
        raise invalid("agent_group_id", group_id, "choose an agent group")
    with db.writing() as session:
        group = groups.get(session, int(group_id))
        groups.add_members(session, group, [str(a) for a in agent_ids])
        name = group.name
    return back_to(PATH, f"{len(agent_ids)} agent(s) added to agent group {name}")


def _query(shown: Grid, view: grid.View) -> Select[Any]:
    return grid.filtered(shown, view, select(Agent))


def _group_names(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(select(AgentGroup.id, AgentGroup.name).order_by(AgentGroup.name))
    return [(group_id, name) for group_id, name in rows]


def _rows(
    session: Session, records: list[Agent], settings: Settings, names: dict[int, str]
) -> list[grid.Row]:
    described = describe(session, records, settings)
    return [
        {
            **agent,
            "groups": [names[i] for i in agent["group_ids"] if i in names],
            "problems": len(agent["problems"]),
        }
        for agent in described
    ]
