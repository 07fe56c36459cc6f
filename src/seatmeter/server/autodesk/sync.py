"""Syncing a license server: read the team from Autodesk, apply it whole.

A sync reads pools, then users, then assignments, in the fewest calls
(pages of 100; assignments in one call), then applies the snapshot in one
transaction, so a sync that fails part-way changes no entitlement at all.

Only one process runs a given server's sync: `begin` takes a lease on the
server's row with one conditional UPDATE (free, or expired), which works
the same on SQLite and PostgreSQL and survives a crashed holder, whose
lease simply runs out. The holder renews it between pages.
"""

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update

from seatmeter.server.autodesk import oauth
from seatmeter.server.autodesk.client import TeamAdminClient
from seatmeter.server.autodesk.errors import AutodeskError, Unauthorized
from seatmeter.server.autodesk.models import SyncRun
from seatmeter.server.autodesk.pacing import pacer_for
from seatmeter.server.autodesk.snapshot import (
    AssignmentFacts,
    Outcome,
    PoolFacts,
    Snapshot,
    UserFacts,
    apply,
)
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError
from seatmeter.server.license_servers import service
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.secrets import SecretBox
from seatmeter.server.settings import Settings
from seatmeter.server.usage import attribution

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_SEATS = 2**31 - 1


class LeaseLost(AutodeskError):
    pass


def run(
    database: Database,
    box: SecretBox,
    settings: Settings,
    server_id: int,
    trigger: str,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """One whole sync, start to end; returns how it went."""
    sync_id, owner = begin(database, server_id, trigger)
    return carry_out(database, box, settings, sync_id, owner, transport)


def begin(database: Database, server_id: int, trigger: str) -> tuple[int, str]:
    """Take the server's lease and record a running sync: (sync id, owner)."""
    owner = uuid.uuid4().hex
    now = utcnow()
    with database.writing() as session:
        server = service.get(session, server_id)
        if server.refresh_token_encrypted is None:
            raise ApiError(
                409,
                "not_connected",
                f"license server {server_id} has no Autodesk consent yet; POST "
                f"/api/v1/license-servers/{server_id}/authorize (or PUT its "
                "refresh-token) first",
            )
        taken = session.execute(
            update(LicenseServer)
            .where(
                LicenseServer.id == server_id,
                or_(
                    LicenseServer.sync_lease_until.is_(None),
                    LicenseServer.sync_lease_until < now,
                ),
            )
            .values(sync_lease_until=now + LEASE, sync_lease_owner=owner)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise ApiError(
                409,
                "sync_running",
                f"a sync of license server {server_id} is already running; "
                f"see GET /api/v1/license-servers/{server_id}/syncs",
            )
        _abandon_running(session, server_id, now)
        run_row = SyncRun(license_server_id=server_id, trigger=trigger, started_at=now)
        session.add(run_row)
        session.flush()
        sync_id = run_row.id
    log.info("sync %s of license server %s started (%s)", sync_id, server_id, trigger)
    return sync_id, owner


def carry_out(
    database: Database,
    box: SecretBox,
    settings: Settings,
    sync_id: int,
    owner: str,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Read and apply; a failure is recorded, not raised."""
    with database.reading() as session:
        run_row = session.get_one(SyncRun, sync_id)
        server = session.get_one(LicenseServer, run_row.license_server_id)
        server_id, team_id, base_url = server.id, server.team_id, server.api_base_url
    lease = _Lease(database, server_id, owner)
    client = TeamAdminClient(
        base_url,
        team_id,
        lambda rejected: oauth.access_token(database, box, server_id, rejected, transport),
        pacer_for(base_url, team_id, settings.autodesk_rate_limit, settings.autodesk_rate_window_s),
        retries=settings.autodesk_retries,
        timeout_s=settings.autodesk_timeout_s,
        transport=transport,
        on_page=lease.renew,
    )
    started = time.monotonic()
    try:
        snapshot = fetch(client)
        _finish(database, sync_id, owner, snapshot, client.calls, time.monotonic() - started)
    except Exception as error:
        _fail(database, sync_id, owner, error, client.calls, time.monotonic() - started)
    finally:
        client.close()
    return describe(database, sync_id)


def carry_out_in_background(
    database: Database,
    box: SecretBox,
    settings: Settings,
    sync_id: int,
    owner: str,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """`carry_out` on a thread of its own, for callers that answer at once."""
    threading.Thread(
        target=carry_out,
        args=(database, box, settings, sync_id, owner, transport),
        name=f"sync-{sync_id}",
        daemon=True,
    ).start()


def fetch(client: TeamAdminClient) -> Snapshot:
    """Pools, then users, then assignments: the order Autodesk advises."""
    pools = [pool for item in client.list_product_pools() if (pool := pool_facts(item))]
    users = [user for item in client.list_team_users() if (user := user_facts(item))]
    assignments = [held for item in client.list_assignments() if (held := assignment_facts(item))]
    return Snapshot(pools, users, assignments)


# Reading Autodesk's items tolerantly: unknown fields ignored, missing
# ones None; an item without its key cannot be stored and is left out.


def pool_facts(item: dict[str, Any]) -> PoolFacts | None:
    product_id = _text(item.get("productId"))
    if not product_id:
        return None
    unlimited = item.get("unlimited") is True
    return PoolFacts(
        product_id=product_id,
        name=_text(item.get("productName")) or product_id,
        total_seats=None if unlimited else _count(item.get("totalQuantity")),
        assigned_seats=_count(item.get("assignedQuantity")),
        unlimited=unlimited,
        start_date=_moment(item.get("startDate")),
        end_date=_moment(item.get("endDate")),
    )


def user_facts(item: dict[str, Any]) -> UserFacts | None:
    autodesk_id = _text(item.get("id"))
    if not autodesk_id:
        return None
    return UserFacts(
        autodesk_id=autodesk_id,
        email=_text(item.get("email"), 320),
        first_name=_text(item.get("firstName"), 200),
        last_name=_text(item.get("lastName"), 200),
    )


def assignment_facts(item: dict[str, Any]) -> AssignmentFacts | None:
    user_id, product_id = _text(item.get("userId")), _text(item.get("productId"))
    if not user_id or not product_id:
        return None
    kind = (_text(item.get("assignmentType"), 16) or "DIRECT").upper()
    return AssignmentFacts(user_id, product_id, kind)


def _text(value: Any, limit: int = 100) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).replace("\x00", "").strip()
    return text[:limit] or None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(0, min(int(value), MAX_SEATS))


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Ending a sync.


def _finish(
    database: Database,
    sync_id: int,
    owner: str,
    snapshot: Snapshot,
    calls: int,
    duration_s: float,
) -> None:
    now = utcnow()
    with database.writing() as session:
        run_row = session.get_one(SyncRun, sync_id)
        server_id = run_row.license_server_id
        # Still ours? Released in the same transaction the snapshot lands in.
        if not _release(session, server_id, owner):
            raise LeaseLost("another process took over this sync's lease; nothing was changed")
        outcome = apply(session, server_id, snapshot, now)
        # Who holds which seat may have changed: sessions follow at once.
        attribution.attribute(session, license_server_id=server_id)
        _record(run_row, "ok", now, calls, duration_s, outcome)
        server = session.get_one(LicenseServer, server_id)
        server.status, server.last_error = "up", None
        server.last_sync_at, server.last_sync_duration_s = now, duration_s
        server.last_sync_pools = outcome.pools
        server.last_sync_users = outcome.users
        server.last_sync_assignments = outcome.assignments
    log.info(
        "sync %s of license server %s ok: %s pools, %s users, %s assignments, "
        "%s changes, %s calls in %.1f s",
        sync_id,
        server_id,
        outcome.pools,
        outcome.users,
        outcome.assignments,
        outcome.changes,
        calls,
        duration_s,
    )


def _fail(
    database: Database,
    sync_id: int,
    owner: str,
    error: Exception,
    calls: int,
    duration_s: float,
) -> None:
    if isinstance(error, AutodeskError):
        reason = error.message
    else:
        log.exception("sync %s failed unexpectedly", sync_id)
        reason = f"the sync failed inside Seatmeter ({type(error).__name__}); see the server log"
    with database.writing() as session:
        run_row = session.get_one(SyncRun, sync_id)
        _record(run_row, "failed", utcnow(), calls, duration_s, None)
        run_row.error = reason
        server = session.get_one(LicenseServer, run_row.license_server_id)
        server.status = "unauthorized" if isinstance(error, Unauthorized) else "down"
        server.last_error = reason
        _release(session, server.id, owner)
    log.info("sync %s of license server %s failed: %s", sync_id, run_row.license_server_id, reason)


def _record(
    run_row: SyncRun,
    status: str,
    now: datetime,
    calls: int,
    duration_s: float,
    outcome: Outcome | None,
) -> None:
    run_row.status, run_row.finished_at = status, now
    run_row.calls, run_row.duration_s = calls, round(duration_s, 3)
    if outcome:
        run_row.pools, run_row.users = outcome.pools, outcome.users
        run_row.assignments, run_row.changes = outcome.assignments, outcome.changes


def _release(session: Any, server_id: int, owner: str) -> bool:
    released = session.execute(
        update(LicenseServer)
        .where(LicenseServer.id == server_id, LicenseServer.sync_lease_owner == owner)
        .values(sync_lease_until=None, sync_lease_owner=None)
    )
    return bool(released.rowcount == 1)


def _abandon_running(session: Any, server_id: int, now: datetime) -> None:
    """Syncs still "running" under a lease that ran out died with their process."""
    for stale in session.scalars(
        select(SyncRun).where(SyncRun.license_server_id == server_id, SyncRun.status == "running")
    ):
        stale.status, stale.finished_at = "failed", now
        stale.error = "abandoned: the process running it stopped before it ended"


class _Lease:
    """Renews the sync lease between pages, halfway through its life."""

    def __init__(self, database: Database, server_id: int, owner: str) -> None:
        self.database = database
        self.server_id = server_id
        self.owner = owner
        self.renewed = time.monotonic()

    def renew(self) -> None:
        if time.monotonic() - self.renewed < LEASE.total_seconds() / 2:
            return
        with self.database.writing() as session:
            kept = session.execute(
                update(LicenseServer)
                .where(
                    LicenseServer.id == self.server_id,
                    LicenseServer.sync_lease_owner == self.owner,
                )
                .values(sync_lease_until=utcnow() + LEASE)
            )
            if kept.rowcount != 1:  # type: ignore[attr-defined]
                raise LeaseLost("this sync's lease was taken over; stopping")
        self.renewed = time.monotonic()


# Showing syncs.


def describe(database: Database, sync_id: int) -> dict[str, Any]:
    with database.reading() as session:
        return sync_view(session.get_one(SyncRun, sync_id))


def sync_view(run_row: SyncRun) -> dict[str, Any]:
    return {
        "id": run_row.id,
        "license_server_id": run_row.license_server_id,
        "trigger": run_row.trigger,
        "status": run_row.status,
        "started_at": run_row.started_at,
        "finished_at": run_row.finished_at,
        "duration_s": run_row.duration_s,
        "calls": run_row.calls,
        "pools": run_row.pools,
        "users": run_row.users,
        "assignments": run_row.assignments,
        "changes": run_row.changes,
        "error": run_row.error,
    }
