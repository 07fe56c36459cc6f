"""`usage-per-user`: per user, host, user on host, or host group, and per
period: hours used, sessions, days used, first and last use.

Hours count overlapping sessions of one user and application once (two
windows of Civil 3D are one use), but two applications used together
count twice. A session counts in every period it touches. Days used are
the report zone's calendar days with any use.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.reports.formats import Table
from seatmeter.server.reports.parameters import ReportQuery, bad_parameter, choose
from seatmeter.server.reports.periods import Periods, day_edges, periods
from seatmeter.server.reports.rows import Rows, fetch
from seatmeter.server.reports.sweep import (
    combine,
    distinct_per_cell,
    max_per_cell,
    min_per_cell,
    per_cell,
    split,
)
from seatmeter.server.reports.usage_history import bounds
from seatmeter.server.reports.use import keyed_use
from seatmeter.server.sessions.models import UsageSession

GROUP_BY = ("user", "host", "user+host", "user-group", "host-group")
GRANULARITIES = ("hour", "day", "week", "month", "all")
COLUMNS = ["key", "period", "hours", "sessions", "days_used", "first_use", "last_use"]


@dataclass(frozen=True)
class Keyed:
    """Sessions (possibly repeated, one per host group) with a key each."""

    rows: Rows
    key: np.ndarray
    names: list[str]


def usage_per_user(session: Session, report: ReportQuery) -> Table:
    group_by = choose("group_by", report.group_by, GROUP_BY, "user")
    granularity = choose("granularity", report.granularity, GRANULARITIES, "all")
    cut = periods(report.since, report.until, report.tz, granularity)
    cells = per_key(keyed(session, report, group_by), cut, report)
    rows = list(zip(*cells.columns(), strict=True))
    items = [dict(zip(COLUMNS, row, strict=True)) for row in rows]
    about = {"group_by": group_by, "granularity": granularity, **bounds(report)}
    return Table(items, COLUMNS, rows, about)


def keyed(session: Session, report: ReportQuery, group_by: str) -> Keyed:
    if group_by == "user-group":
        raise bad_parameter(
            "group_by", group_by, "user groups are not yet supported; use user or host-group"
        )
    if group_by == "host-group":
        return _by_host_group(session, report)
    if group_by == "user":
        # Hosts are not shown: a third less text to fetch and code.
        rows = fetch(session, report, ("username", "application"))
        return Keyed(rows, rows.codes["username"], [str(n) for n in rows.labels["username"]])
    rows = fetch(session, report, ("username", "hostname", "application"))
    users, hosts = rows.labels["username"], rows.labels["hostname"]
    if group_by == "host":
        return Keyed(rows, rows.codes["hostname"], [str(name) for name in hosts])
    pair = combine(rows.codes["username"], rows.codes["hostname"])
    names = [""] * (int(pair.max()) + 1 if len(pair) else 0)
    for code, user, host in _distinct(pair, rows.codes["username"], rows.codes["hostname"]):
        names[code] = f"{users[user]} on {hosts[host]}"
    return Keyed(rows, pair, names)


@dataclass(frozen=True)
class Cells:
    """The figures of each key and period with use, as parallel lists in
    the order of key name then period: columns, not an object per cell,
    which is what a heatmap's hundreds of thousands of cells cost."""

    key: list[str]
    period: list[str]
    hours: list[float]
    sessions: list[int]
    days_used: list[int]
    first_use: list[datetime | None]
    last_use: list[datetime | None]

    def columns(self) -> tuple[list[Any], ...]:
        """The lists in the order of the report's COLUMNS."""
        return (
            self.key,
            self.period,
            self.hours,
            self.sessions,
            self.days_used,
            self.first_use,
            self.last_use,
        )


def per_key(found: Keyed, cut: Periods, report: ReportQuery, detail: bool = True) -> Cells:
    """The figures per key and period. Without `detail` only the hours:
    sessions, days used, first and last use stay empty (the heatmap's
    cells, millions on a large estate, need none of them)."""
    rows, count = found.rows, len(cut)
    cells = len(found.names) * count
    member = combine(rows.codes["username"], rows.codes["application"])
    use = keyed_use(rows, found.key, member, len(found.names))
    # Cut at period edges and local midnights together, so each piece
    # lies in one period and one day.
    days = day_edges(report.since, report.until, report.tz)
    edges = np.union1d(cut.edges, days) if detail else cut.edges
    pieces = split(use.intervals.start, use.intervals.end, edges)
    period = np.searchsorted(cut.edges, pieces.start, side="right") - 1
    cell = use.intervals.group[pieces.index] * count + period
    seconds = per_cell(cell, cells, pieces.end - pieces.start)
    used = _used_cells(seconds, found.names, count)
    key_of, period_of = np.divmod(used, count)
    labels = np.array([cut.label(index) for index in range(count)], dtype=object)
    figures = Cells(
        key=np.array(found.names, dtype=object)[key_of].tolist(),
        period=labels[period_of].tolist(),
        hours=np.round(seconds[used] / 3600, 6).tolist(),
        sessions=[],
        days_used=[],
        first_use=[],
        last_use=[],
    )
    if not detail:
        return figures
    sessions = split(rows.start, rows.end, cut.edges)
    counted = per_cell(found.key[sessions.index] * count + sessions.period, cells)
    day = np.searchsorted(days, pieces.start, side="right") - 1
    first = min_per_cell(cell, pieces.start, cells, np.inf)
    last = max_per_cell(cell, pieces.end, cells, -np.inf)
    return replace(
        figures,
        sessions=counted[used].tolist(),
        days_used=distinct_per_cell(cell, day, cells)[used].tolist(),
        first_use=_moments(first[used], report),
        last_use=_moments(last[used], report),
    )


def _used_cells(seconds: np.ndarray, names: list[str], count: int) -> np.ndarray:
    """The cells with use, in the order of key name then period (period
    labels grow with their index), sorted by numpy."""
    used = np.flatnonzero(seconds > 0)
    key_of, period_of = np.divmod(used, count)
    _, name_rank = np.unique(np.array(names, dtype=str), return_inverse=True)
    return used[np.lexsort((period_of, np.asarray(name_rank).reshape(-1)[key_of]))]


def _moments(epochs: np.ndarray, report: ReportQuery) -> list[datetime | None]:
    return [datetime.fromtimestamp(at, report.tz) for at in np.round(epochs, 6).tolist()]


def _by_host_group(session: Session, report: ReportQuery) -> Keyed:
    """Each session once per host group its agent belongs to."""
    groups = session.execute(select(AgentGroup.id, AgentGroup.name).order_by(AgentGroup.name)).all()
    ids = np.array([group_id for group_id, _ in groups], dtype=np.int64)
    names = [name for _, name in groups]
    parts = []
    for position, group_id in enumerate(ids):
        members = select(agent_group_members.c.agent_id).where(
            agent_group_members.c.agent_group_id == int(group_id)
        )
        rows = fetch(
            session,
            report,
            ("username", "hostname", "application"),
            where=UsageSession.agent_id.in_(members),
        )
        parts.append((rows, np.full(len(rows), position, dtype=np.int64)))
    return _joined(parts, names)


def _joined(parts: list[tuple[Rows, np.ndarray]], names: list[str]) -> Keyed:
    """Several fetches as one, with their text codes made to agree."""
    if not parts:
        empty = np.zeros(0)
        rows = Rows(empty, empty, {}, {}, {})
        return Keyed(_recoded([], rows), np.zeros(0, dtype=np.int64), names)
    start = np.concatenate([rows.start for rows, _ in parts])
    end = np.concatenate([rows.end for rows, _ in parts])
    key = np.concatenate([key for _, key in parts])
    return Keyed(_recoded([rows for rows, _ in parts], Rows(start, end, {}, {}, {})), key, names)


def _recoded(parts: list[Rows], joined: Rows) -> Rows:
    codes, labels = {}, {}
    for name in ("username", "hostname", "application"):
        text = [part.labels[name][part.codes[name]] for part in parts]
        flat = np.concatenate(text) if text else np.zeros(0, dtype=str)
        labels[name], inverse = np.unique(flat, return_inverse=True)
        codes[name] = inverse.reshape(-1)
    return Rows(joined.start, joined.end, codes, labels, {})


def _distinct(pair: np.ndarray, user: np.ndarray, host: np.ndarray) -> list[tuple[int, int, int]]:
    if len(pair) == 0:
        return []
    unique = np.unique(np.stack([pair, user, host], axis=1), axis=0)
    return [(int(a), int(b), int(c)) for a, b, c in unique]
