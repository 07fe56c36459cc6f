"""`utilization`: per pool, how long at least N seats were in use at once.

For each N from 0 to the peak: the seconds during which N or more seats
were in use together, and their share of the report's period. A seat is
in use while its cloud user has a session attributed to the pool.
"""

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery
from seatmeter.server.reports.periods import moment
from seatmeter.server.reports.pools import pools_for
from seatmeter.server.reports.sweep import Levels, levels, min_per_cell, per_cell
from seatmeter.server.reports.use import SeatRows, seat_sessions, seat_use

COLUMNS = ["product_pool_id", "pool", "peak", "peak_at", "n", "seconds", "share"]


def pool_levels(seats: SeatRows, report: ReportQuery) -> tuple[np.ndarray, Levels]:
    """Seat concurrency per pool over the whole report, and the pools' ids."""
    edges = np.array([report.since.timestamp(), report.until.timestamp()])
    return seats.pool_ids, levels(seat_use(seats).intervals, edges, len(seats.pool_ids))


def peaks(pool_ids: np.ndarray, found: Levels) -> dict[int, tuple[int, float | None]]:
    """Per pool id: the peak and the first moment it was reached."""
    count = len(pool_ids)
    peak = np.zeros(count, dtype=np.int64)
    np.maximum.at(peak, found.group, found.level)
    at_peak = (found.level == peak[found.group]) & (found.level > 0)
    first = min_per_cell(found.group[at_peak], found.start[at_peak], count, np.inf)
    return {
        int(pool_id): (int(peak[index]), None if np.isinf(first[index]) else float(first[index]))
        for index, pool_id in enumerate(pool_ids)
    }


def utilization(session: Session, report: ReportQuery) -> Table:
    pool_ids, found = pool_levels(seat_sessions(session, report), report)
    span = (report.until - report.since).total_seconds()
    top = int(found.level.max()) if len(found.level) else 0
    # Seconds at exactly each level, per pool, then "at least" by summing
    # from the top down.
    cell = found.group * (top + 1) + found.level
    exactly = per_cell(cell, len(pool_ids) * (top + 1), found.seconds)
    at_least = np.cumsum(exactly.reshape(len(pool_ids), top + 1)[:, ::-1], axis=1)[:, ::-1]
    index = {int(pool_id): position for position, pool_id in enumerate(pool_ids)}
    pool_peaks = peaks(pool_ids, found)
    items = []
    for pool in pools_for(session, report.filters, index):
        peak, peak_at = pool_peaks.get(pool.id, (0, None))
        seconds = at_least[index[pool.id]] if pool.id in index else np.zeros(1)
        items.append(_item(pool.id, pool.name, peak, peak_at, seconds, span, report))
    return Table(items, COLUMNS, _rows(items))


def _item(
    pool_id: int,
    name: str,
    peak: int,
    peak_at: float | None,
    seconds: np.ndarray,
    span: float,
    report: ReportQuery,
) -> dict[str, Any]:
    # Level 0 holds for the whole period, use or not.
    seconds = seconds.copy()
    seconds[0] = span
    return {
        "product_pool_id": pool_id,
        "pool": name,
        "peak": peak,
        "peak_at": None if peak_at is None else moment(peak_at, report.tz),
        "levels": [
            {"n": n, "seconds": round(float(seconds[n]), 3), "share": _share(seconds[n], span)}
            for n in range(peak + 1)
        ],
    }


def _share(seconds: float, span: float) -> float:
    return round(float(seconds) / span, 6) if span > 0 else 0.0


def _rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [item["product_pool_id"], item["pool"], item["peak"], item["peak_at"], *level.values()]
        for item in items
        for level in item["levels"]
    ]
