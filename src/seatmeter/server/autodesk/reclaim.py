"""Seat reclaim: unassign chosen seats in Autodesk, with an audit trail.

Only DIRECT assignments can be removed through the Team Admin API; ones
inherited through a group or the team are named as not reclaimable. A dry
run lists exactly what a confirmed run would do and changes nothing. A
confirmed run unassigns one seat per call, paced like a sync, and writes
each attempt to autodesk_reclaims with who asked. The entitlement tables
are left to the next sync, which sees the change as Autodesk records it.
If Autodesk stops answering part-way, the seats not yet tried are reported
as not attempted; the run can simply be sent again (404 = already gone).
"""

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from seatmeter.server.autodesk import oauth
from seatmeter.server.autodesk.client import TeamAdminClient
from seatmeter.server.autodesk.errors import AutodeskError, NotFound, Unprocessable
from seatmeter.server.autodesk.models import ReclaimRecord
from seatmeter.server.autodesk.pacing import pacer_for
from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.license_servers import service
from seatmeter.server.secrets import SecretBox
from seatmeter.server.settings import Settings

log = logging.getLogger(__name__)

INHERITED = "inherited through a group or the team; remove it in Autodesk Account"


@dataclass
class Seat:
    cloud_user_id: int
    product_pool_id: int
    autodesk_id: str = ""
    product_id: str = ""
    email: str | None = None
    assignment_type: str | None = None

    def view(self, **more: Any) -> dict[str, Any]:
        return {
            "cloud_user_id": self.cloud_user_id,
            "product_pool_id": self.product_pool_id,
            "email": self.email,
            "product_id": self.product_id,
            **more,
        }


def plan(database: Database, server_id: int, wanted: list[tuple[int, int]]) -> dict[str, Any]:
    """What a reclaim would do: {"changes", "not_reclaimable"}."""
    seats = _seats(database, server_id, wanted)
    changes = [seat.view(action="unassign") for seat in seats if seat.assignment_type == "DIRECT"]
    refused = [_refusal(seat) for seat in seats if seat.assignment_type != "DIRECT"]
    return {"dry_run": True, "changes": changes, "not_reclaimable": refused}


def carry_out(
    database: Database,
    box: SecretBox,
    settings: Settings,
    server_id: int,
    wanted: list[tuple[int, int]],
    requested_by: str,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Unassign every DIRECT seat asked for; each attempt audited."""
    seats = _seats(database, server_id, wanted)
    direct = [seat for seat in seats if seat.assignment_type == "DIRECT"]
    with database.reading() as session:
        server = service.get(session, server_id)
        team_id, base_url = server.team_id, server.api_base_url
    client = TeamAdminClient(
        base_url,
        team_id,
        lambda rejected: oauth.access_token(database, box, server_id, rejected, transport),
        pacer_for(base_url, team_id, settings.autodesk_rate_limit, settings.autodesk_rate_window_s),
        retries=settings.autodesk_retries,
        timeout_s=settings.autodesk_timeout_s,
        transport=transport,
    )
    results: list[dict[str, Any]] = []
    stopped: str | None = None
    with client:
        for seat in direct:
            if stopped:
                results.append(seat.view(outcome="not_attempted", message=stopped))
                continue
            outcome, message = _unassign(client, seat)
            if outcome == "failed":
                stopped = f"not tried: an earlier unassign failed ({message})"
            _audit(database, server_id, seat, requested_by, outcome, message)
            results.append(seat.view(outcome=outcome, message=message))
    refused = [_refusal(seat) for seat in seats if seat.assignment_type != "DIRECT"]
    return {"dry_run": False, "results": results, "not_reclaimable": refused}


def _unassign(client: TeamAdminClient, seat: Seat) -> tuple[str, str | None]:
    try:
        client.unassign_product(seat.autodesk_id, seat.product_id)
    except NotFound:
        return "already_unassigned", "Autodesk has no assignment left to remove"
    except Unprocessable:
        return "inherited_remains", INHERITED
    except AutodeskError as error:
        return "failed", error.message
    log.info(
        "unassigned %s from %s (user %s)", seat.product_id, seat.autodesk_id, seat.cloud_user_id
    )
    return "unassigned", None


def _audit(
    database: Database,
    server_id: int,
    seat: Seat,
    requested_by: str,
    outcome: str,
    message: str | None,
) -> None:
    with database.writing() as session:
        session.add(
            ReclaimRecord(
                license_server_id=server_id,
                cloud_user_id=seat.cloud_user_id,
                product_pool_id=seat.product_pool_id,
                autodesk_id=seat.autodesk_id,
                product_id=seat.product_id,
                email=seat.email,
                requested_by=requested_by,
                outcome=outcome,
                message=message,
            )
        )


def _seats(database: Database, server_id: int, wanted: list[tuple[int, int]]) -> list[Seat]:
    """Each seat asked for, with what Seatmeter knows of it."""
    with database.reading() as session:
        service.get(session, server_id)
        rows = session.execute(
            select(Assignment, CloudUser, ProductPool)
            .join(CloudUser, CloudUser.id == Assignment.cloud_user_id)
            .join(ProductPool, ProductPool.id == Assignment.product_pool_id)
            .where(Assignment.license_server_id == server_id, Assignment.active.is_(True))
        ).all()
    known = {
        (row.cloud_user_id, row.product_pool_id): Seat(
            row.cloud_user_id,
            row.product_pool_id,
            user.autodesk_id,
            pool.product_id,
            user.email,
            row.assignment_type,
        )
        for row, user, pool in rows
    }
    unique = list(dict.fromkeys(wanted))
    return [known.get(key) or Seat(*key) for key in unique]


def _refusal(seat: Seat) -> dict[str, Any]:
    if seat.assignment_type is None:
        reason = "no current assignment of this user to this pool; sync and try again"
    else:
        reason = f"{seat.assignment_type}: {INHERITED}"
    return seat.view(reason=reason)
