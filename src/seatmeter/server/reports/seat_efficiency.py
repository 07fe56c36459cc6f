"""`seat-efficiency`: per pool, who holds a seat and who used one.

Seats, assigned, the cloud users active in the period, the assigned
users idle for the whole period (with their last use ever, or "never"),
the peak of seats in use at once, and a suggested seat count: named-user
seats cannot be shared, so the suggestion is the users who were active.
A pool's cost per seat turns its idle seats into money.

Use without an assignment (a session with a cloud user but no pool)
belongs to no pool, so it is listed in one extra item whose pool is
null. The usage engine's `attribution` status is not read yet: this is
derived from cloud_user_id set and product_pool_id null.
"""

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery
from seatmeter.server.reports.periods import hours, moment
from seatmeter.server.reports.pools import pools_for
from seatmeter.server.reports.rows import fetch, scanned
from seatmeter.server.reports.sweep import combine, dense, per_cell
from seatmeter.server.reports.use import SeatRows, keyed_use, seat_sessions
from seatmeter.server.reports.utilization import peaks, pool_levels
from seatmeter.server.sessions.models import UsageSession

COLUMNS = [
    "product_pool_id",
    "pool",
    "seats",
    "assigned",
    "active_users",
    "idle_users",
    "unassigned_hours",
    "peak_concurrency",
    "suggested_seats",
    "cost_per_seat",
    "idle_cost",
]


def seat_efficiency(session: Session, report: ReportQuery) -> Table:
    seats = seat_sessions(session, report)
    active = _active_users(seats)
    pool_ids, found = pool_levels(seats, report)
    pool_peaks = peaks(pool_ids, found)
    holders = _holders(session)
    pools = pools_for(session, report.filters, active)
    idle_of = {pool.id: _idle(holders[pool.id], active.get(pool.id, set())) for pool in pools}
    last_uses = _last_uses(session, report, idle_of)
    items = []
    for pool in pools:
        users = active.get(pool.id, set())
        idle = idle_of[pool.id]
        item = {
            "product_pool_id": pool.id,
            "pool": pool.name,
            "seats": pool.total_seats,
            "assigned": len(holders[pool.id]),
            "active_users": len(users),
            "idle_users": [
                {"email": email, "last_use": _when(last_uses.get((pool.id, user_id)), report)}
                for user_id, email in idle
            ],
            "unassigned_use": [],
            "peak_concurrency": pool_peaks.get(pool.id, (0, None))[0],
            "suggested_seats": len(users),
            "cost_per_seat": pool.cost_per_seat,
        }
        item["idle_cost"] = _cost(pool.cost_per_seat, len(idle))
        items.append(item)
    unassigned = _unassigned_use(session, report)
    if unassigned:
        items.append(_without_pool(unassigned))
    rows = [_row(item) for item in items]
    return Table(items, COLUMNS, rows, {"since": report.since, "until": report.until})


def _active_users(seats: SeatRows) -> dict[int, set[int]]:
    """Per pool id, the cloud users with use (host users stand in below 0)."""
    active: dict[int, set[int]] = defaultdict(set)
    if len(seats.pool) == 0:
        return active
    lowest = int(seats.cloud_user.min())
    width = int(seats.cloud_user.max()) - lowest + 1
    pairs, _ = dense(seats.pool * width + (seats.cloud_user - lowest))
    pools, users = np.divmod(pairs, width)
    for pool, user in zip(pools.tolist(), (users + lowest).tolist(), strict=True):
        active[int(seats.pool_ids[pool])].add(user)
    return active


def _holders(session: Session) -> dict[int, list[tuple[int, str | None]]]:
    """Per pool id: the cloud users holding an active assignment."""
    query = (
        select(Assignment.product_pool_id, CloudUser.id, CloudUser.email)
        .join(CloudUser, CloudUser.id == Assignment.cloud_user_id)
        .where(Assignment.active)
        .order_by(CloudUser.email, CloudUser.id)
    )
    holders: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    for pool_id, user_id, email in session.execute(query):
        holders[pool_id].append((user_id, email))
    return holders


def _idle(holders: list[tuple[int, str | None]], users: set[int]) -> list[tuple[int, str | None]]:
    return [holder for holder in holders if holder[0] not in users]


# Cloud users asked about in one query: far below any driver's limit.
BATCH = 5000


def _last_uses(
    session: Session, report: ReportQuery, idle_of: dict[int, list[tuple[int, str | None]]]
) -> dict[tuple[Any, Any], Any]:
    """The last use ever, up to the report's end, per pool and idle cloud
    user: read by index, pool by pool, from the idle users' sessions."""
    found: dict[tuple[Any, Any], Any] = {}
    for pool_id, holders in idle_of.items():
        users = [user_id for user_id, _ in holders]
        for first in range(0, len(users), BATCH):
            query = _last_use_query(session, report).where(
                UsageSession.product_pool_id == pool_id,
                UsageSession.cloud_user_id.in_(users[first : first + BATCH]),
            )
            found.update({(pool_id, user): when for user, when in session.execute(query)})
    return found


def _last_use_query(session: Session, report: ReportQuery) -> Any:
    ended = func.coalesce(UsageSession.ended_at, report.now)
    started: Any = UsageSession.started_at
    if session.get_bind().dialect.name == "sqlite":
        # Not by the started_at index, which SQLite could prefer.
        started = scanned("started_at")
    return (
        select(UsageSession.cloud_user_id, func.max(ended))
        .where(started < report.until)
        .group_by(UsageSession.cloud_user_id)
    )


def _when(value: Any, report: ReportQuery) -> Any:
    if value is None:
        return "never"
    # SQLite gives the maximum back as text, PostgreSQL as a time.
    if isinstance(value, str):
        return moment(_epoch_of(value), report.tz)
    return value.astimezone(report.tz)


def _epoch_of(text: str) -> float:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _unassigned_use(session: Session, report: ReportQuery) -> list[dict[str, Any]]:
    """Hours per host user and application of use that no pool covers."""
    unattributed = UsageSession.product_pool_id.is_(None) & UsageSession.cloud_user_id.is_not(None)
    rows = fetch(session, report, ("username", "application"), where=unattributed, few=True)
    key = combine(rows.codes["username"], rows.codes["application"])
    keys = int(key.max()) + 1 if len(key) else 0
    use = keyed_use(rows, key, key, keys)
    seconds = per_cell(use.intervals.group, keys, use.intervals.end - use.intervals.start)
    user_of = np.zeros(keys, dtype=np.int64)
    application_of = np.zeros(keys, dtype=np.int64)
    user_of[key] = rows.codes["username"]
    application_of[key] = rows.codes["application"]
    found = [
        {
            "username": str(rows.labels["username"][user_of[index]]),
            "application": str(rows.labels["application"][application_of[index]]),
            "hours": hours(seconds[index]),
        }
        for index in range(keys)
    ]
    return sorted(found, key=lambda use: (use["username"], use["application"]))


def _without_pool(unassigned: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "product_pool_id": None,
        "pool": None,
        "seats": None,
        "assigned": None,
        "active_users": len({use["username"] for use in unassigned}),
        "idle_users": [],
        "unassigned_use": unassigned,
        "peak_concurrency": None,
        "suggested_seats": None,
        "cost_per_seat": None,
        "idle_cost": None,
    }


def _cost(cost_per_seat: float | None, idle: int) -> float | None:
    return None if cost_per_seat is None else round(cost_per_seat * idle, 2)


def _row(item: dict[str, Any]) -> list[Any]:
    unassigned = sum(use["hours"] for use in item["unassigned_use"])
    return [
        *[item[name] for name in COLUMNS[:5]],
        len(item["idle_users"]),
        round(unassigned, 6),
        *[item[name] for name in COLUMNS[7:]],
    ]
