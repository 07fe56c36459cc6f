"""What one read of a team gives, and applying it in one transaction.

A `Snapshot` is everything a sync (or a CSV import) learned: pools, users
and assignments. `apply` turns it into the entitlement tables, keeping
history: new rows get first_seen, rows seen again get last_seen, rows no
longer there turn inactive (an assignment also gets unassigned_at), and a
pool's seat counts get a row in product_pool_seat_counts whenever they
change. The caller's transaction makes it all or nothing.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import (
    Assignment,
    CloudUser,
    PoolSeatCount,
    ProductPool,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolFacts:
    product_id: str
    name: str
    total_seats: int | None = None
    assigned_seats: int | None = None
    unlimited: bool = False
    start_date: datetime | None = None
    end_date: datetime | None = None


@dataclass(frozen=True)
class UserFacts:
    autodesk_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


@dataclass(frozen=True)
class AssignmentFacts:
    autodesk_id: str
    product_id: str
    assignment_type: str = "DIRECT"
    days_used: int | None = None
    last_accessed: datetime | None = None


@dataclass
class Snapshot:
    pools: list[PoolFacts] = field(default_factory=list)
    users: list[UserFacts] = field(default_factory=list)
    assignments: list[AssignmentFacts] = field(default_factory=list)
    # False for sources without seat counts (the CSV export): keep the
    # counts a sync stored rather than overwrite them with nothing.
    has_seat_counts: bool = True
    # False for a user export alone: pools and assignments stay as they are.
    has_usage: bool = True


@dataclass
class Outcome:
    pools: int = 0
    users: int = 0
    assignments: int = 0
    changes: int = 0
    # Assignments naming a user or pool the snapshot lacked.
    skipped: int = 0


def apply(session: Session, server_id: int, snapshot: Snapshot, now: datetime) -> Outcome:
    outcome = Outcome()
    users = _apply_users(session, server_id, snapshot.users, now, outcome)
    if snapshot.has_usage:
        pools = _apply_pools(session, server_id, snapshot, now, outcome)
        _apply_assignments(session, server_id, snapshot.assignments, pools, users, now, outcome)
    if outcome.skipped:
        # Autodesk says team-wide lists can lag recent changes.
        log.info(
            "license server %s: %s assignments name a user or pool not listed; skipped",
            server_id,
            outcome.skipped,
        )
    return outcome


def _apply_pools(
    session: Session, server_id: int, snapshot: Snapshot, now: datetime, outcome: Outcome
) -> dict[str, ProductPool]:
    stored = {
        pool.product_id: pool
        for pool in session.scalars(
            select(ProductPool).where(ProductPool.license_server_id == server_id)
        )
    }
    seen: dict[str, ProductPool] = {}
    counted: list[ProductPool] = []
    for facts in snapshot.pools:
        pool = stored.get(facts.product_id)
        if pool is None:
            pool = ProductPool(license_server_id=server_id, product_id=facts.product_id)
            pool.first_seen = now
            session.add(pool)
        if _set_pool(pool, facts, snapshot.has_seat_counts):
            counted.append(pool)
        pool.last_seen, pool.active = now, True
        seen[facts.product_id] = pool
    outcome.changes += len(counted) + _retire(stored, seen)
    outcome.pools = len(seen)
    # Ids first, for the history rows of new pools.
    session.flush()
    for pool in counted:
        session.add(
            PoolSeatCount(
                product_pool_id=pool.id,
                observed_at=now,
                total_seats=pool.total_seats,
                assigned_seats=pool.assigned_seats,
                unlimited=pool.unlimited,
            )
        )
    return seen


def _set_pool(pool: ProductPool, facts: PoolFacts, has_seat_counts: bool) -> bool:
    """Copy the facts in; True when the seat counts changed (or are new)."""
    pool.name = facts.name
    pool.start_date = facts.start_date or pool.start_date
    pool.end_date = facts.end_date or pool.end_date
    if not has_seat_counts:
        return False
    counts = (facts.total_seats, facts.assigned_seats, facts.unlimited)
    before = (pool.total_seats, pool.assigned_seats, pool.unlimited)
    pool.total_seats, pool.assigned_seats, pool.unlimited = counts
    return pool.id is None or before != counts or not pool.active


def _apply_users(
    session: Session, server_id: int, users: list[UserFacts], now: datetime, outcome: Outcome
) -> dict[str, CloudUser]:
    stored = {
        user.autodesk_id: user
        for user in session.scalars(
            select(CloudUser).where(CloudUser.license_server_id == server_id)
        )
    }
    seen: dict[str, CloudUser] = {}
    for facts in users:
        user = stored.get(facts.autodesk_id)
        if user is None:
            user = CloudUser(license_server_id=server_id, autodesk_id=facts.autodesk_id)
            user.first_seen = now
            session.add(user)
            outcome.changes += 1
        elif not user.active:
            outcome.changes += 1
        user.email = facts.email or user.email
        user.first_name = facts.first_name or user.first_name
        user.last_name = facts.last_name or user.last_name
        user.last_seen, user.active = now, True
        seen[facts.autodesk_id] = user
    outcome.changes += _retire(stored, seen)
    outcome.users = len(seen)
    session.flush()
    return seen


def _apply_assignments(
    session: Session,
    server_id: int,
    assignments: list[AssignmentFacts],
    pools: dict[str, ProductPool],
    users: dict[str, CloudUser],
    now: datetime,
    outcome: Outcome,
) -> None:
    stored = {
        (row.cloud_user_id, row.product_pool_id): row
        for row in session.scalars(
            select(Assignment).where(Assignment.license_server_id == server_id)
        )
    }
    seen: dict[tuple[int, int], Assignment] = {}
    for facts in assignments:
        user, pool = users.get(facts.autodesk_id), pools.get(facts.product_id)
        if user is None or pool is None:
            outcome.skipped += 1
            continue
        key = (user.id, pool.id)
        row = stored.get(key)
        if row is None or not row.active:
            row = row or _new_assignment(session, server_id, user, pool)
            # Held again after a gap: "assigned since" starts over.
            row.first_seen, row.unassigned_at = now, None
            outcome.changes += 1
        elif row.assignment_type != facts.assignment_type:
            outcome.changes += 1
        row.assignment_type = facts.assignment_type
        row.days_used = facts.days_used if facts.days_used is not None else row.days_used
        row.last_accessed = facts.last_accessed or row.last_accessed
        row.last_seen, row.active = now, True
        seen[key] = row
    for key, row in stored.items():
        if row.active and key not in seen:
            row.active, row.unassigned_at = False, now
            outcome.changes += 1
    outcome.assignments = len(seen)


def _new_assignment(
    session: Session, server_id: int, user: CloudUser, pool: ProductPool
) -> Assignment:
    row = Assignment(license_server_id=server_id, cloud_user_id=user.id, product_pool_id=pool.id)
    session.add(row)
    return row


def _retire(stored: Mapping[str, Any], seen: Mapping[str, Any]) -> int:
    """Mark what is no longer listed inactive; its last_seen stays."""
    gone = [row for key, row in stored.items() if row.active and key not in seen]
    for row in gone:
        row.active = False
    return len(gone)
