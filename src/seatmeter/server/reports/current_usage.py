"""`current-usage`: per pool, seats, assigned, in use now, and the
sessions running now that are attributed to it.

In use counts distinct cloud users, so one person running two
applications of a collection holds one seat. The report's since and
until do not apply: it is about now.

A dashboard asks for this report again and again, while entitlements
change at a sync. So the pools, their seats and assignment counts are
kept by entitlement generation (see usage/generation.py), which the
running sessions' query reads in the same statement: while nothing
changes, a request is that one query.
"""

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import Filters, ReportQuery
from seatmeter.server.reports.rows import filtered
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.generation import GENERATION, Kept

COLUMNS = ["product_pool_id", "pool", "seats", "assigned", "in_use", "sessions"]


def current_usage(session: Session, report: ReportQuery) -> Table:
    found, generation = _running(session, report)
    seats = _SEATS.get(session, generation)
    running = _per_pool(found, report)
    items, rows = [], []
    for pool in seats.shown(report.filters, running):
        mine = running.get(pool.id, [])
        users = {row["cloud_user_id"] or row["username"] for row in mine}
        item = {
            "product_pool_id": pool.id,
            "pool": pool.name,
            "seats": pool.seats,
            "assigned": pool.assigned,
            "in_use": len(users),
            "sessions": mine,
        }
        items.append(item)
        rows.append([pool.id, pool.name, pool.seats, pool.assigned, len(users), len(mine)])
    about = {"at": report.now.astimezone(report.tz), "tz": report.tz.key}
    return Table(items, COLUMNS, rows, about)


@dataclass(frozen=True)
class PoolSeats:
    id: int
    name: str
    license_server_id: int
    active: bool
    seats: int | None
    assigned: int  # active assignments


class Seats:
    """What current-usage reads of the entitlements: every pool, with its
    seats and active assignments."""

    def __init__(self, pools: list[PoolSeats]) -> None:
        self.pools = pools

    @classmethod
    def load(cls, session: Session) -> "Seats":
        assigned = (
            select(func.count())
            .where(Assignment.product_pool_id == ProductPool.id, Assignment.active)
            .scalar_subquery()
        )
        query = select(
            ProductPool.id,
            ProductPool.name,
            ProductPool.license_server_id,
            ProductPool.active,
            ProductPool.total_seats,
            assigned,
        ).order_by(ProductPool.id)
        return cls([PoolSeats(*row) for row in session.connection().execute(query)])

    def shown(self, filters: Filters, used: Collection[int]) -> list[PoolSeats]:
        """The pools the report shows: as reports.pools.pools_for, here."""
        return [
            pool
            for pool in self.pools
            if (
                pool.id == filters.product_pool_id
                if filters.product_pool_id is not None
                else pool.active or pool.id in used
            )
            and filters.license_server_id in (None, pool.license_server_id)
        ]


_SEATS: Kept[Seats] = Kept(Seats.load)

RUNNING = (
    "id",
    "product_pool_id",
    "cloud_user_id",
    "email",
    "username",
    "hostname",
    "application",
    "version",
    "started_at",
)


_RUNNING_NOW = (
    select(
        *[getattr(CloudUser if name == "email" else UsageSession, name) for name in RUNNING],
        GENERATION.scalar_subquery(),
    )
    .outerjoin(CloudUser, CloudUser.id == UsageSession.cloud_user_id)
    .where(UsageSession.ended_at.is_(None), UsageSession.product_pool_id.is_not(None))
    .where(UsageSession.started_at <= bindparam("now"))
    .order_by(UsageSession.started_at, UsageSession.id)
    # SQLite's statistics make ended_at's index look better (one row per
    # value, it assumes); the running sessions' own is ten times faster.
    .with_hint(UsageSession, "INDEXED BY ix_sessions_running", "sqlite")
)


def _running(session: Session, report: ReportQuery) -> tuple[Sequence[Any], int | None]:
    """The driver's rows of the sessions running now, oldest first, and
    the entitlement generation they were read with (None when none)."""
    query = filtered(_RUNNING_NOW, report.filters)
    result = session.connection().execute(query, {"now": report.now})
    found = result.cursor.fetchall()
    result.close()
    return found, (int(found[0][-1]) if found else None)


def _per_pool(found: Sequence[Any], report: ReportQuery) -> dict[int, list[dict[str, Any]]]:
    """The running sessions as report items, per pool id: the driver's
    rows in one pass, as a thousand ORM mappings cost more than the query."""
    per_pool: dict[int, list[dict[str, Any]]] = defaultdict(list)
    as_text = bool(found) and isinstance(found[0][8], str)
    tz = report.tz
    for row in found:
        started = row[8]
        if as_text:  # SQLite's driver gives UTC text
            started = datetime.fromisoformat(started + "+00:00")
        per_pool[row[1]].append(
            {
                "id": row[0],
                "product_pool_id": row[1],
                "cloud_user_id": row[2],
                "email": row[3],
                "username": row[4],
                "hostname": row[5],
                "application": row[6],
                "version": row[7],
                "started_at": started.astimezone(tz),
            }
        )
    return per_pool
