"""Use as the reports count it: per key (a pool, an application, a user),
the time each member (a cloud user, a host user) was using it at all.

Two sessions of one member in one key count once while they overlap,
so a seat is in use while its cloud user has any session attributed to
the pool, whatever the number of applications or hosts.
"""

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from seatmeter.server.reports.parameters import ReportQuery
from seatmeter.server.reports.rows import Rows, fetch
from seatmeter.server.reports.sweep import Intervals, combine, dense, union
from seatmeter.server.sessions.models import UsageSession


@dataclass(frozen=True)
class Use:
    """Merged intervals of use; `group` is the key's code."""

    intervals: Intervals
    member: np.ndarray
    keys: int


def keyed_use(rows: Rows, key: np.ndarray, member: np.ndarray, keys: int) -> Use:
    pair = combine(key, member)
    merged = union(pair, rows.start, rows.end)
    pairs = int(pair.max()) + 1 if len(pair) else 0
    key_of = np.zeros(pairs, dtype=np.int64)
    member_of = np.zeros(pairs, dtype=np.int64)
    key_of[pair] = key
    member_of[pair] = member
    intervals = Intervals(key_of[merged.group], merged.start, merged.end)
    return Use(intervals, member_of[merged.group], keys)


@dataclass(frozen=True)
class SeatRows:
    """Sessions attributed to a pool: the pools' ids and each row's code."""

    rows: Rows
    pool_ids: np.ndarray
    pool: np.ndarray
    cloud_user: np.ndarray


def seat_rows(rows: Rows) -> SeatRows:
    """Only the sessions attributed to a pool, keyed by pool."""
    attributed = rows.ids["product_pool_id"] >= 0
    kept = rows.only(attributed)
    pool_ids, pool = dense(kept.ids["product_pool_id"])
    # The usage engine names a cloud user on every attributed session; a
    # row without one still counts, as its host user.
    cloud_user = kept.ids["cloud_user_id"]
    host_user = -2 - kept.codes["unmapped_username"]
    member = np.where(cloud_user >= 0, cloud_user, host_user)
    return SeatRows(kept, pool_ids, pool, member)


def seat_sessions(session: Session, report: ReportQuery) -> SeatRows:
    attributed = UsageSession.product_pool_id.is_not(None)
    ids = ("product_pool_id", "cloud_user_id")
    return seat_rows(fetch(session, report, ("unmapped_username",), ids, where=attributed))


def seat_use(seats: SeatRows) -> Use:
    # Dense codes for the sweep: host users stand in with negative ids.
    _, member = dense(seats.cloud_user)
    return keyed_use(seats.rows, seats.pool, member, len(seats.pool_ids))
