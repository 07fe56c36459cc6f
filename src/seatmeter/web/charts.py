"""Chart data for the report pages, as Chart.js reads it.

Each function turns a report's table into {"labels", "datasets"} for a
`<script type="application/json">` block that seatmeter.js draws; the
pages run no inline script. Charts show a few series at most: the grid
below holds every number.
"""

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.reports.formats import Table

# More lines than this and a chart is unreadable; the busiest are shown.
MAX_SERIES = 6
MAX_HEAT_KEYS = 60
HEAT_LEVELS = 5


def usage_history(session: Session, table: Table) -> dict[str, Any] | None:
    """Most users at once per period, and for a pool its seats, dashed."""
    rows = _records(table)
    if not rows:
        return None
    labels = sorted({_label(row["period"]) for row in rows})
    peaks: dict[str, dict[str, int]] = defaultdict(dict)
    pool_of: dict[str, Any] = {}
    for row in rows:
        peaks[row["key"]][_label(row["period"])] = row["max_concurrent"]
        pool_of[row["key"]] = row["product_pool_id"]
    busiest = sorted(peaks, key=lambda key: -max(peaks[key].values()))[:MAX_SERIES]
    seats = _seats(session, [pool_of[key] for key in busiest])
    datasets: list[dict[str, Any]] = []
    for key in busiest:
        data = [peaks[key].get(label, 0) for label in labels]
        datasets.append({"label": f"{key}: most at once", "data": data})
        total = seats.get(pool_of[key])
        if total is not None:
            line = {"label": f"{key}: seats", "data": [total] * len(labels), "borderDash": [6, 4]}
            datasets.append({**line, "pointRadius": 0})
    return {"labels": labels, "datasets": datasets}


def utilization(_: Session, table: Table) -> dict[str, Any] | None:
    """Hours at N seats or more, per pool."""
    rows = _records(table)
    if not rows:
        return None
    top = max(row["n"] for row in rows)
    hours: dict[str, dict[int, float]] = defaultdict(dict)
    for row in rows:
        hours[row["pool"]][row["n"]] = round(row["seconds"] / 3600, 2)
    shown = sorted(hours, key=lambda pool: -max(hours[pool]))[:MAX_SERIES]
    datasets = [
        {"label": pool, "data": [hours[pool].get(n, 0) for n in range(top + 1)]} for pool in shown
    ]
    return {"labels": [f"{n} seats" for n in range(top + 1)], "datasets": datasets}


def heat(table: Table) -> dict[str, Any]:
    """Hours per key and period as a matrix of levels 0..HEAT_LEVELS."""
    rows = _records(table)
    periods = sorted({_label(row["period"]) for row in rows})
    totals: dict[str, float] = defaultdict(float)
    cells: dict[tuple[str, str], float] = {}
    for row in rows:
        cells[(row["key"], _label(row["period"]))] = row["hours"]
        totals[row["key"]] += row["hours"]
    keys = sorted(totals, key=lambda key: -totals[key])[:MAX_HEAT_KEYS]
    most = max(cells.values(), default=0) or 1
    matrix = [
        {
            "key": key,
            "cells": [
                (hours := cells.get((key, period), 0), _level(hours, most)) for period in periods
            ],
        }
        for key in sorted(keys)
    ]
    return {"periods": periods, "rows": matrix, "cut": len(totals) - len(keys)}


def _level(hours: float, most: float) -> int:
    return 0 if hours <= 0 else max(1, round(HEAT_LEVELS * hours / most))


def _records(table: Table) -> list[dict[str, Any]]:
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _label(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _seats(session: Session, pool_ids: list[Any]) -> dict[int, int | None]:
    ids = [pool_id for pool_id in pool_ids if pool_id is not None]
    found = session.execute(
        select(ProductPool.id, ProductPool.total_seats).where(ProductPool.id.in_(ids))
    )
    return {pool_id: seats for pool_id, seats in found}
