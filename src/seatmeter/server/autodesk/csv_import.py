"""Importing Autodesk Account's exports where the API is not available.

Reads the usage-report export and the user export (one or more files),
in either spelling of their columns: the older snake_case (`first_name`)
and the newer Title Case (`First Name`), compared case-insensitively with
spaces and underscores alike. With personal data turned off, Autodesk
masks names and emails as `*****` and `hashed_autodesk_id` is the key.

The files become one `Snapshot`, applied like a sync's: pools named in a
usage report, cloud users, their assignments, and Autodesk's own days
used and last accessed. Any bad row rejects the whole import, and every
bad row is reported with its file and line number. The exports carry no
product ids or seat counts: pools are matched to already known ones by
name, new ones get the id `csv:<name>`, and seat counts are left as a
sync stored them.
"""

import csv
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from seatmeter.server.autodesk.models import SyncRun
from seatmeter.server.autodesk.snapshot import (
    AssignmentFacts,
    Outcome,
    PoolFacts,
    Snapshot,
    UserFacts,
    apply,
)
from seatmeter.server.db import Database, utcnow
from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.license_servers import service
from seatmeter.server.usage import attribution

log = logging.getLogger(__name__)

# Newer Title Case names that are not simply the older ones spelled apart.
ALIASES = {"product": "product_name", "team": "team_alias", "email_address": "email"}
KEY_COLUMNS = ("autodesk_id", "hashed_autodesk_id", "email")
UNASSIGNED = {"unassigned", "not assigned", "no", "false", "none"}
NEVER = {"", "-", "never", "n/a", "na", "null"}
DATE_FORMATS = ("%m/%d/%Y", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y", "%m/%d/%Y %H:%M:%S")
MOST_PROBLEMS_SHOWN = 20


class ImportProblem(ValueError):
    """The files cannot be imported; the message lists every bad row."""


@dataclass
class _Usage:
    kind: str = "DIRECT"
    days_used: int | None = None
    last_accessed: datetime | None = None


@dataclass
class _Read:
    users: dict[str, UserFacts] = field(default_factory=dict)
    products: list[str] = field(default_factory=list)
    usage: dict[tuple[str, str], _Usage] = field(default_factory=dict)
    has_usage: bool = False
    problems: list[str] = field(default_factory=list)


def column_key(name: str) -> str:
    """`First Name`, `first_name` and ` FIRST_NAME ` all become first_name."""
    key = re.sub(r"[\s_]+", "_", name.strip().strip("\ufeff").lower()).strip("_")
    return ALIASES.get(key, key)


def count_rows(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        with path.open(encoding="utf-8-sig", newline="") as file:
            total += max(sum(1 for _ in csv.reader(file)) - 1, 0)
    return total


def import_files(
    database: Database,
    server_id: int,
    paths: list[Path],
    progress: Callable[[int], None] = lambda _n: None,
) -> Outcome:
    """All the files, or nothing: raises ImportProblem naming bad rows."""
    read = _Read()
    for path in paths:
        _read_file(path, read, progress)
    if read.problems:
        raise ImportProblem(_summary(read.problems))
    now = utcnow()
    with database.writing() as session:
        service.get(session, server_id)
        known = {
            pool.name.casefold(): pool.product_id
            for pool in session.scalars(
                select(ProductPool).where(ProductPool.license_server_id == server_id)
            )
        }
        outcome = apply(session, server_id, _snapshot(read, known), now)
        attribution.attribute(session, license_server_id=server_id)
        session.add(
            SyncRun(
                license_server_id=server_id,
                trigger="import",
                status="ok",
                started_at=now,
                finished_at=utcnow(),
                duration_s=0.0,
                pools=outcome.pools,
                users=outcome.users,
                assignments=outcome.assignments,
                changes=outcome.changes,
            )
        )
    log.info(
        "license server %s: imported %s users, %s assignments from %s file(s)",
        server_id,
        outcome.users,
        outcome.assignments,
        len(paths),
    )
    return outcome


def _read_file(path: Path, read: _Read, progress: Callable[[int], None]) -> None:
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = csv.reader(file)
        header = next(rows, None)
        if header is None:
            read.problems.append(f"{path.name}: the file is empty")
            return
        columns = [column_key(name) for name in header]
        if not any(key in columns for key in KEY_COLUMNS):
            read.problems.append(
                f"{path.name} line 1: no column {', '.join(KEY_COLUMNS)} (in any spelling); "
                f"found {', '.join(header)}; give Autodesk Account's usage-report or user export"
            )
            return
        read.has_usage = read.has_usage or "product_name" in columns
        for line, values in _numbered(rows):
            progress(1)
            problem = _read_row(dict(zip(columns, values, strict=False)), read)
            if problem:
                read.problems.append(f"{path.name} line {line}: {problem}")


def _numbered(rows: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    # Line numbers as a spreadsheet shows them: the header is line 1.
    for line, values in enumerate(rows, start=2):
        if any(value.strip() for value in values):
            yield line, values


def _read_row(row: dict[str, str], read: _Read) -> str | None:
    """Take one row in; what is wrong with it, or None."""
    key = _user_key(row)
    if key is None:
        return "no autodesk_id, hashed_autodesk_id or email; every row needs one"
    read.users[key] = _merge_user(read.users.get(key), key, row)
    product = _plain(row.get("product_name"))
    if not product or not _holds_seat(row):
        return None
    try:
        days = _whole(row.get("days_used"))
        accessed = _date(row.get("last_accessed"))
    except ValueError as error:
        return str(error)
    if product not in read.products:
        read.products.append(product)
    usage = read.usage.setdefault((key, product), _Usage())
    # A product's rows per version: the most days and latest access count.
    if days is not None:
        usage.days_used = max(usage.days_used or 0, days)
    if accessed and (usage.last_accessed is None or accessed > usage.last_accessed):
        usage.last_accessed = accessed
    return None


def _user_key(row: dict[str, str]) -> str | None:
    for column in ("autodesk_id", "hashed_autodesk_id"):
        value = _plain(row.get(column))
        if value:
            return value[:100]
    email = _plain(row.get("email"))
    return email.lower()[:100] if email else None


def _merge_user(known: UserFacts | None, key: str, row: dict[str, str]) -> UserFacts:
    return UserFacts(
        autodesk_id=key,
        email=_plain(row.get("email"), 320) or (known.email if known else None),
        first_name=_plain(row.get("first_name"), 200) or (known.first_name if known else None),
        last_name=_plain(row.get("last_name"), 200) or (known.last_name if known else None),
    )


def _holds_seat(row: dict[str, str]) -> bool:
    said = (row.get("seat_assignment") or "").strip().lower()
    return said not in UNASSIGNED and not _plain(row.get("unassigned_date"))


def _plain(value: str | None, limit: int = 300) -> str | None:
    """The text, or None when empty or masked (`*****`)."""
    text = (value or "").replace("\x00", "").strip()
    if not text or set(text) == {"*"}:
        return None
    return text[:limit]


def _whole(value: str | None) -> int | None:
    text = (value or "").strip()
    if text.lower() in NEVER:
        return None
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"days_used is {text!r}; it must be a whole number of days")
    return int(text)


def _date(value: str | None) -> datetime | None:
    text = (value or "").strip()
    if text.lower() in NEVER:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = _date_in_other_formats(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date_in_other_formats(text: str) -> datetime:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise ValueError(f"last_accessed is {text!r}; give a date such as 2026-11-30 or 11/30/2026")


def _snapshot(read: _Read, known: dict[str, str]) -> Snapshot:
    def product_id(name: str) -> str:
        return known.get(name.casefold()) or f"csv:{name}"[:100]

    return Snapshot(
        pools=[PoolFacts(product_id(name), name[:300]) for name in read.products],
        users=list(read.users.values()),
        assignments=[
            AssignmentFacts(user, product_id(product), u.kind, u.days_used, u.last_accessed)
            for (user, product), u in read.usage.items()
        ],
        has_seat_counts=False,
        has_usage=read.has_usage,
    )


def _summary(problems: list[str]) -> str:
    shown = problems[:MOST_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    tail = [f"... and {more} more"] if more else []
    return "nothing was imported; fix these rows and run the import again:\n" + "\n".join(
        shown + tail
    )
