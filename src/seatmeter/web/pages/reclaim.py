"""Reclaiming idle seats from the seat-efficiency report (admins only).

First a dry run: the idle assigned users of the report, as it is
filtered, become the seats the connector would unassign, listed exactly,
with those it cannot (inherited assignments). Nothing changes until the
confirm form, which names each seat, is sent.
"""

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from seatmeter.server.api.state import Box, Config, Db
from seatmeter.server.autodesk import reclaim
from seatmeter.server.autodesk.api import Transport
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.errors import invalid
from seatmeter.web.auth import AdminViewer
from seatmeter.web.csrf import AdminForm
from seatmeter.web.pages import reports
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)

PATH = "/reports/seat-efficiency/reclaim"
MAX_SEATS = 1000

# (license server id, cloud user id, product pool id)
Seat = tuple[int, int, int]


@router.get(PATH)
def dry_run(request: Request, _: AdminViewer, db: Db, config: Config) -> Response:
    with db.reading() as session:
        table, query, _grid, _view = reports.compute(
            request, session, "seat-efficiency", config.report_time_zone
        )
        seats = idle_seats(session, table.items)
    plans = {server: reclaim.plan(db, server, pairs) for server, pairs in _by_server(seats)}
    return render(request, "reclaim.html", plans=plans, results=None, query=query)


@router.post(PATH)
def confirm(
    request: Request,
    form: AdminForm,
    viewer: AdminViewer,
    db: Db,
    box: Box,
    config: Config,
    transport: Transport,
) -> Response:
    seats = _seats(form)
    results = {
        server_id: reclaim.carry_out(db, box, config, server_id, pairs, viewer.name, transport)
        for server_id, pairs in _by_server(seats)
    }
    return render(request, "reclaim.html", plans=None, results=results, query=None)


def idle_seats(session: Session, items: list[dict[str, Any]]) -> list[Seat]:
    """The assignments of the report's idle users, found by their email
    in their pool's license server (the report names users by email)."""
    wanted = {
        (item["product_pool_id"], user["email"])
        for item in items
        if item["product_pool_id"] is not None
        for user in item["idle_users"]
        if user["email"]
    }
    pool_ids = sorted({pool_id for pool_id, _ in wanted})
    found = session.execute(
        select(ProductPool.license_server_id, CloudUser.id, ProductPool.id, CloudUser.email)
        .join(Assignment, Assignment.product_pool_id == ProductPool.id)
        .join(CloudUser, CloudUser.id == Assignment.cloud_user_id)
        .where(ProductPool.id.in_(pool_ids))
        .order_by(ProductPool.id, CloudUser.email)
    )
    seats = [(server, user, pool) for server, user, pool, email in found if (pool, email) in wanted]
    return list(dict.fromkeys(seats))


def _by_server(seats: list[Seat]) -> list[tuple[int, list[tuple[int, int]]]]:
    grouped: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for server_id, user_id, pool_id in seats:
        grouped[server_id].append((user_id, pool_id))
    return sorted(grouped.items())


def _seats(form: FormData) -> list[Seat]:
    """The confirm form's seats: "server:user:pool" each."""
    raw = form.getlist("seat")
    if not raw:
        raise invalid("seat", "", "choose at least one seat to reclaim")
    if len(raw) > MAX_SEATS:
        raise invalid("seat", len(raw), f"reclaim at most {MAX_SEATS} seats at once")
    seats = []
    for value in raw:
        parts = value.split(":") if isinstance(value, str) else []
        if len(parts) != 3 or not all(part.isdigit() and 0 < int(part) < 2**31 for part in parts):
            raise invalid("seat", value, "must be license server, cloud user and pool ids as a:b:c")
        server_id, user_id, pool_id = map(int, parts)
        seats.append((server_id, user_id, pool_id))
    return seats
