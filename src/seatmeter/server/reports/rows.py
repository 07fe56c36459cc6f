"""The sessions a report needs, fetched from the database as arrays.

The database filters: only sessions that overlap the report and pass its
filters leave it, and only the columns asked for, with open sessions
already running up to now. Times become UTC epoch seconds here, so that
all the arithmetic after this is numpy over whole columns.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    LargeBinary,
    Select,
    String,
    case,
    cast,
    func,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from seatmeter.server.agent_groups.models import agent_group_members
from seatmeter.server.db import UTCDateTime
from seatmeter.server.db.engine import BINARY_RESULT
from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.reports.parameters import Filters, ReportQuery
from seatmeter.server.sessions.models import UsageSession

# Any select of sessions, whatever its columns.
AnySelect = TypeVar("AnySelect", bound=Select[*tuple[Any, ...]])


def constant(value: str | int) -> Any:
    """A constant written into the statement instead of bound to it.

    SQLite copies a bound value afresh for every row an expression is
    computed on; over a million-row fetch, the separators and defaults
    bound cost a third of the query. Only the fetch's own constants
    (never anything a user gave) come here."""
    if isinstance(value, int):
        return literal_column(str(int(value)), BigInteger)
    if "'" in value:
        raise ValueError(f"constant {value!r} has a quote")
    return literal_column(f"'{value}'", String)


# Text a report can ask for beyond the columns themselves: the host user
# only where no cloud user is known ('' elsewhere). Asked for beside the
# cloud_user_id id, whose nulls say which sessions have one, so that a
# packed fetch sends only those few names.
COMPUTED = {
    "unmapped_username": case(
        (UsageSession.cloud_user_id.is_(None), UsageSession.username), else_=constant("")
    ),
}
# Computed text that is '' but where the id named is null.
SPARSE = {"unmapped_username": "cloud_user_id"}


@dataclass(frozen=True)
class Rows:
    """Parallel arrays, one entry per session, cut to the report."""

    start: np.ndarray
    end: np.ndarray
    # Per asked text column: integer codes, and the text each code stands for.
    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    # Per asked id column: the id, or -1 where it is null.
    ids: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.start)

    def only(self, kept: np.ndarray) -> "Rows":
        """The rows where `kept` is true. Mostly it is true everywhere,
        and then these rows are kept as they are rather than copied."""
        if kept.all():
            return self
        return Rows(
            start=self.start[kept],
            end=self.end[kept],
            codes={name: code[kept] for name, code in self.codes.items()},
            labels=self.labels,
            ids={name: value[kept] for name, value in self.ids.items()},
        )


def moments(column: Any, now: datetime, dialect: str) -> ColumnElement[Any]:
    """A timestamp column, now where null, as the database gives it
    fastest: PostgreSQL's own time (sent in binary, below), SQLite's
    stored text, which numpy parses far faster than SQLite's date
    functions could."""
    if dialect == "postgresql":
        return func.coalesce(column, now)
    return func.coalesce(type_coerce(column, String), constant(_stored(now)))


def _stored(moment: datetime) -> str:
    """A moment as SQLite holds it: UTC text, always 26 characters."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def filtered(query: AnySelect, filters: Filters) -> AnySelect:
    """Sessions restricted by the report's filters."""
    if filters.product_pool_id is not None:
        query = query.where(UsageSession.product_pool_id == filters.product_pool_id)
    if filters.license_server_id is not None:
        query = query.where(_on_license_server(filters.license_server_id))
    for column, value in (
        (UsageSession.hostname, filters.hostname),
        (UsageSession.username, filters.username),
        (UsageSession.application, filters.application),
    ):
        if value:
            query = query.where(func.lower(column) == value.lower())
    if filters.host_group_id is not None:
        members = select(agent_group_members.c.agent_id).where(
            agent_group_members.c.agent_group_id == filters.host_group_id
        )
        query = query.where(UsageSession.agent_id.in_(members))
    return query


def overlapping(query: AnySelect, since: Any, until: Any, dialect: str = "") -> AnySelect:
    """Sessions that overlap since to until (times, or bound parameters)."""
    ended: Any = UsageSession.ended_at
    started: Any = UsageSession.started_at
    if dialect == "sqlite":
        # Reports mostly end now, so "started before until" holds for
        # nearly every row, and SQLite reading the table through that
        # index is three times slower than scanning it; "ended after
        # since or still running" is the same, and through its index
        # (two lookups per row) ten times slower. Unary plus is
        # SQLite's way of saying "not by index".
        started, ended = scanned("started_at"), scanned("ended_at")
    return query.where(started < until, ended.is_(None) | (ended > since))


def scanned(name: str) -> Any:
    """A sessions time column that SQLite will not read by its index."""
    return type_coerce(literal_column(f"+sessions.{name}"), UTCDateTime)


def fetch(
    session: Session,
    report: ReportQuery,
    text: tuple[str, ...] = (),
    ids: tuple[str, ...] = (),
    where: Any = None,
    few: bool = False,
) -> Rows:
    """Sessions overlapping the report, cut at its bounds, as arrays.

    A report reads most of the table, and SQLite scanning it beats any
    index it could pick for a filter; `few` says that `where` picks a few
    sessions by an index instead."""
    for name in text:
        if name in SPARSE and SPARSE[name] not in ids:
            raise ValueError(f"{name} is fetched with the {SPARSE[name]} id")
    dialect = session.get_bind().dialect.name
    start = moments(UsageSession.started_at, report.now, dialect)
    end = moments(UsageSession.ended_at, report.now, dialect)
    columns: list[Any] = [start, end]
    columns += [
        COMPUTED[name] if name in COMPUTED else getattr(UsageSession, name) for name in text
    ]
    columns += [func.coalesce(getattr(UsageSession, name), constant(-1)) for name in ids]
    query = overlapping(
        filtered(select(*columns), report.filters), report.since, report.until, dialect
    )
    if where is not None:
        query = query.where(where)
    if not few:
        query = query.with_hint(UsageSession, "NOT INDEXED", "sqlite")
    if dialect in ("sqlite", "postgresql"):
        packed = _packed(session, query, text, ids, dialect)
        if packed is not None:
            return _arrays(packed, report, text, ids, packed=True)
    # Straight from the driver's cursor: every column is already of the
    # plain type wanted, and building a Row per session costs more than
    # the query does.
    result = session.connection().execute(query)
    found: Sequence[Any] = result.cursor.fetchall()
    result.close()
    return _arrays(found, report, text, ids)


# Separates the text of one session from the next's in a packed column.
UNIT = "\x1f"
STAMP = 26


@dataclass(frozen=True)
class Sparse:
    """A packed text column sent only where `present`, '' elsewhere."""

    names: list[str]
    present: np.ndarray

    def __len__(self) -> int:
        return len(self.present)


def _packed(
    session: Session, query: Select[Any], text: tuple[str, ...], ids: tuple[str, ...], dialect: str
) -> list[Any] | None:
    """The rows as whole columns: each column aggregated into one value.

    Building a Python tuple and an object per cell is most of what a
    million-row fetch costs; one value per column costs a fraction of
    that and numpy reads it at once. SQLite joins each column into a
    text (times at fixed width, numbers with commas). PostgreSQL joins
    the binary form of each time and number (8 bytes, big-endian), which
    no one has to format or parse, and joins texts. A sparse text
    (SPARSE) joins only the rows that have one. The aggregates of one
    select see the rows in the same order, so the columns stay parallel.
    None where a column does not come apart cleanly (a time not stored
    at full width, the separator inside a name): the caller then
    fetches rows.
    """
    found = query.subquery()
    cells = list(found.c)
    id_cell = {name: cells[2 + len(text) + index] for index, name in enumerate(ids)}
    packs = [func.count()]
    packs += [_whole(cell, dialect, "time") for cell in cells[:2]]
    for name, cell in zip(text, cells[2 : 2 + len(text)], strict=True):
        whole = _whole(cell, dialect, "text")
        packs.append(whole.filter(id_cell[SPARSE[name]] == -1) if name in SPARSE else whole)
    packs += [_whole(cell, dialect, "number") for cell in cells[2 + len(text) :]]
    statement = select(*packs).select_from(found)
    if dialect == "postgresql":
        statement = statement.execution_options(**{BINARY_RESULT: True})
    result = session.connection().execute(statement)
    count, *packed = result.cursor.fetchone() or (0,)
    result.close()
    if not count:
        return [np.zeros(0), np.zeros(0)] + [[]] * len(text) + [np.zeros(0, np.int64)] * len(ids)
    unpack = _unpacked_sqlite if dialect == "sqlite" else _unpacked_postgresql
    columns: list[Any] = [unpack(times, count, "time") for times in packed[:2]]
    numbers = [unpack(values, count, "number") for values in packed[2 + len(text) :]]
    for name, names in zip(text, packed[2 : 2 + len(text)], strict=True):
        columns.append(_split(names, name, dict(zip(ids, numbers, strict=True))))
    columns += numbers
    if any(column is None or len(column) != count for column in columns):
        return None
    return columns


def _whole(cell: Any, dialect: str, kind: str) -> Any:
    """One column of every row as one value."""
    if dialect == "sqlite":
        separator = {"time": "", "text": UNIT, "number": ","}[kind]
        return func.group_concat(cell, constant(separator))
    if kind == "text":
        return func.string_agg(cast(cell, String), constant(UNIT))
    if kind == "time":
        binary = func.timestamptz_send(cell)
    else:
        binary = func.int8send(cast(cell, BigInteger))
    return func.string_agg(binary, literal_column("''::bytea", LargeBinary))


def _split(names: str | None, name: str, numbers: dict[str, Any]) -> Any:
    """A packed text column's values: a list, or Sparse for a sparse one
    (None where its names do not match the rows that should have one)."""
    if name not in SPARSE:
        return (names or "").split(UNIT)
    present = numbers[SPARSE[name]]
    if present is None:
        return None
    present = present == -1
    found = names.split(UNIT) if names is not None else []
    return Sparse(found, present) if len(found) == int(present.sum()) else None


def _unpacked_sqlite(packed: str, count: int, kind: str) -> np.ndarray | None:
    """Epoch seconds from stored times at fixed width, or numbers."""
    if kind == "number":
        return np.fromstring(packed, dtype=np.int64, sep=",")
    if len(packed) != STAMP * count or not packed.isascii():
        return None
    raw = np.frombuffer(packed.encode("ascii"), dtype=f"S{STAMP}")
    return raw.astype("datetime64[us]").astype(np.int64) / 1e6


# PostgreSQL counts a time in microseconds from 2000-01-01 UTC.
POSTGRES_EPOCH_MICROS = 946_684_800 * 1_000_000


def _unpacked_postgresql(packed: bytes, count: int, kind: str) -> np.ndarray | None:
    """Epoch seconds or numbers from PostgreSQL's binary forms, joined."""
    if len(packed) != 8 * count:
        return None
    values = np.frombuffer(packed, ">i8").astype(np.int64)
    if kind == "number":
        return values
    return (values + POSTGRES_EPOCH_MICROS) / 1e6


def _arrays(
    found: Sequence[Any] | list[Any],
    report: ReportQuery,
    text: tuple[str, ...],
    ids: tuple[str, ...],
    packed: bool = False,
) -> Rows:
    count = len(found) if not packed else len(found[0])
    if packed:
        columns = found
    else:
        columns = list(zip(*found, strict=True)) if count else [()] * (2 + len(text) + len(ids))
    start, end = _epochs(columns[0], count), _epochs(columns[1], count)
    start = np.maximum(start, report.since.timestamp())
    end = np.minimum(end, report.until.timestamp())
    codes, labels = {}, {}
    for offset, name in enumerate(text, start=2):
        labels[name], codes[name] = _coded(columns[offset], count)
    numbers = {
        name: _numbers(columns[offset], count)
        for offset, name in enumerate(ids, start=2 + len(text))
    }
    rows = Rows(start=start, end=end, codes=codes, labels=labels, ids=numbers)
    # A session that began after now or ended before since has no length.
    return rows.only(end > start)


def _coded(values: Any, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct texts, sorted, and each value's position among them:
    numpy's unique, by a dictionary, as sorting a million strings costs
    far more than hashing them when there are only thousands distinct."""
    if isinstance(values, Sparse):
        return _coded_sparse(values)
    distinct = sorted(dict.fromkeys(values))
    rank = {value: position for position, value in enumerate(distinct)}
    return np.array(distinct, dtype=str), np.fromiter(
        map(rank.__getitem__, values), np.int64, count
    )


def _coded_sparse(values: Sparse) -> tuple[np.ndarray, np.ndarray]:
    """As _coded, where every value not sent is ''."""
    distinct = sorted({*values.names, *([""] if not values.present.all() else [])})
    rank = {value: position for position, value in enumerate(distinct)}
    codes = np.full(len(values), rank.get("", 0), dtype=np.int64)
    codes[values.present] = np.fromiter(map(rank.__getitem__, values.names), np.int64)
    return np.array(distinct, dtype=str), codes


def _numbers(values: Any, count: int) -> np.ndarray:
    """Ids as int64: packed ones are already an array."""
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False)
    return np.fromiter(values, np.int64, count)


def _epochs(values: Any, count: int) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.float64)
    if count and isinstance(values[0], str):
        parsed = np.array(values, dtype="datetime64[us]")
        return parsed.astype(np.int64) / 1e6
    # PostgreSQL's times.
    return np.fromiter((moment.timestamp() for moment in values), np.float64, count)


def _on_license_server(license_server_id: int) -> Any:
    """Attributed to one of the server's pools, or to one of its users."""
    pools = select(ProductPool.id).where(ProductPool.license_server_id == license_server_id)
    users = select(CloudUser.id).where(CloudUser.license_server_id == license_server_id)
    return UsageSession.product_pool_id.in_(pools) | UsageSession.cloud_user_id.in_(users)
