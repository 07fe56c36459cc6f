"""`POST /api/v1/sessions/import`: sessions from another monitoring tool.

The body is JSON, `{"sessions": [...]}` or the bare list, or CSV
(`Content-Type: text/csv`, a header row naming the columns), each session
with hostname, username, application, version, started_at and ended_at
(ISO 8601 with an offset or Z), and optionally external_id. Every row is
checked before anything is stored: one bad row rejects the import, and
the answer names each bad row by its index (and, for CSV, its line).

Importing twice stores each session once. A row's external_id is its key;
a row without one gets a key made from its content (sha256 of its
fields), so re-sending the same file is harmless either way. Imported
sessions have source "import" and no agent, and are attributed like the
agent's, in the same transaction.
"""

import csv
import hashlib
import io
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ConfigDict, StringConstraints, ValidationError, model_validator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from seatmeter.server.accounts.auth import Admin
from seatmeter.server.api.fields import AgentTime, Body
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.db import Database
from seatmeter.server.errors import ApiError, describe_problem, invalid
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.attribution import attribute

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], route_class=StrictRoute)

MAX_ROWS = 100_000
CHUNK = 500
COLUMNS = ("hostname", "username", "application", "version", "started_at", "ended_at")
OPTIONAL_COLUMNS = ("external_id",)


Hostname = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Application = Annotated[str, StringConstraints(min_length=1, max_length=100)]
# Other tools may not know the release: empty is allowed.
Version = Annotated[str, StringConstraints(max_length=32)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ImportedSession(Body):
    model_config = ConfigDict(str_strip_whitespace=True)

    hostname: Hostname
    username: Hostname
    application: Application
    version: Version
    started_at: AgentTime
    ended_at: AgentTime
    external_id: ExternalId | None = None

    @model_validator(mode="after")
    def _in_order(self) -> "ImportedSession":
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self

    def key(self) -> str:
        if self.external_id:
            return self.external_id
        fields = [self.hostname, self.username, self.application, self.version]
        fields += [self.started_at.isoformat(), self.ended_at.isoformat()]
        return "sha256:" + hashlib.sha256(json.dumps(fields).encode()).hexdigest()


# The body is read by hand (JSON or CSV), so its schema is declared here.
REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "sessions": {
                        "type": "array",
                        "items": ImportedSession.model_json_schema(),
                    }
                },
            }
        },
        "text/csv": {"schema": {"type": "string", "description": "header row, then sessions"}},
    },
}


@router.post("/import", openapi_extra={"requestBody": REQUEST_BODY})
async def import_sessions(request: Request, _: Admin, db: Db) -> dict[str, int]:
    """Store sessions from elsewhere; all rows or none."""
    body = await request.body()
    content_type = request.headers.get("content-type", "application/json")
    rows = read_rows(body, content_type.split(";")[0].strip().lower())
    return await run_in_threadpool(_store, db, rows)


def read_rows(body: bytes, content_type: str) -> list[ImportedSession]:
    if content_type in ("text/csv", "application/csv"):
        raw, lines = _csv_rows(body)
    elif content_type in ("application/json", ""):
        raw, lines = _json_rows(body), None
    else:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Content-Type: {content_type!r} is not an import format; send "
            "application/json or text/csv",
        )
    if len(raw) > MAX_ROWS:
        raise ApiError(
            413,
            "too_many_rows",
            f"sessions: {len(raw)} rows is over {MAX_ROWS}; import in parts",
        )
    return _validated(raw, lines)


def _json_rows(body: bytes) -> list[Any]:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except ValueError as error:
        raise ApiError(
            400, "malformed_json", f"the request body is not valid JSON ({error}); send a list"
        ) from None
    if isinstance(document, dict):
        document = _sessions_of(document)
    if not isinstance(document, list):
        raise ApiError(
            422,
            "invalid_value",
            'body: send {"sessions": [...]} or a JSON list of sessions',
            [{"field": "body", "value": None, "problem": "needs a list of sessions"}],
        )
    return document


def _sessions_of(document: dict[str, Any]) -> Any:
    for key in document:
        if key != "sessions":
            raise invalid(str(key), None, 'is not a known field; send {"sessions": [...]}')
    if "sessions" not in document:
        raise invalid("sessions", None, "is required: the list of sessions to import")
    return document["sessions"]


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _csv_rows(body: bytes) -> tuple[list[Any], list[int]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(
            400,
            "malformed_csv",
            f"the CSV is not UTF-8 (byte {error.start}); save it as UTF-8 and send it again",
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    reader.fieldnames = _checked_header(reader.fieldnames)
    rows, lines = [], []
    try:
        for row in reader:
            # An optional column's empty cell means "not given".
            blank = [k for k in OPTIONAL_COLUMNS if row.get(k) in ("", None)]
            rows.append({k: v for k, v in row.items() if k not in blank})
            lines.append(reader.line_num)
    except csv.Error as error:
        raise ApiError(
            400, "malformed_csv", f"the CSV cannot be read at line {reader.line_num}: {error}"
        ) from None
    return rows, lines


def _checked_header(header: Any) -> list[str]:
    names = [name.strip() for name in header or ()]
    missing = [name for name in COLUMNS if name not in names]
    unknown = [name for name in names if name not in COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        problem = f"misses {', '.join(missing)}" if missing else f"has unknown {unknown[0]!r}"
        raise ApiError(
            422,
            "invalid_value",
            f"columns: the header row {problem}; it must name "
            f"{', '.join(COLUMNS)} and may name external_id",
            [{"field": "columns", "value": ",".join(names)[:60], "problem": problem}],
        )
    return names


def _validated(raw: list[Any], lines: list[int] | None) -> list[ImportedSession]:
    rows, details = [], []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        if isinstance(item, dict) and None in item:
            # csv.DictReader files cells past the header under None.
            surplus = item.pop(None)
            item = {**item, "extra cells": surplus}
        try:
            row = ImportedSession.model_validate(item)
        except ValidationError as error:
            details += [_detail(index, lines, problem) for problem in error.errors()]
            continue
        if row.external_id and row.external_id in seen:
            problem = {"loc": ("external_id",), "input": row.external_id, "msg": ""}
            detail = _detail(index, lines, problem)
            detail["problem"] = f"repeats row {seen[row.external_id]}'s; ids must be unique"
            details.append(detail)
        seen.setdefault(row.key(), index)
        rows.append(row)
    if details:
        raise _rejected(details)
    return rows


def _detail(index: int, lines: list[int] | None, problem: Any) -> dict[str, Any]:
    detail = describe_problem(problem)
    inner = "" if detail["field"] == "body" else "." + detail["field"]
    detail["field"] = f"sessions[{index}]{inner}"
    where = {"index": index} if lines is None else {"index": index, "line": lines[index]}
    return {**where, **detail}


def _rejected(details: list[dict[str, Any]]) -> ApiError:
    first = details[0]
    line = f" (line {first['line']})" if "line" in first else ""
    return ApiError(
        422,
        "invalid_row",
        f"row {first['index']}{line}: {first['field']}: {first['problem']}; "
        f"{len(details)} problem(s) in all, listed in details; nothing was "
        "stored: fix those rows and send the import again",
        details,
    )


def _store(db: Database, rows: list[ImportedSession]) -> dict[str, int]:
    unique = {row.key(): row for row in rows}
    with db.writing() as session:
        created = _insert(session, list(unique.items()))
        attribute(session, session_ids=created)
    log.info("imported %d sessions, %d already stored", len(created), len(rows) - len(created))
    return {"received": len(rows), "imported": len(created), "duplicates": len(rows) - len(created)}


def _insert(session: Session, rows: list[tuple[str, ImportedSession]]) -> list[int]:
    """Insert the rows whose key is new; a key already stored is skipped,
    even one stored by another import running at the same moment."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    created: list[int] = []
    for start in range(0, len(rows), CHUNK):
        values = [_values(key, row) for key, row in rows[start : start + CHUNK]]
        statement = (
            dialect.insert(UsageSession)
            .values(values)
            .on_conflict_do_nothing(index_elements=["external_id"])
            .returning(UsageSession.id)
        )
        created += session.scalars(statement)
    return created


def _values(key: str, row: ImportedSession) -> dict[str, Any]:
    return {
        "external_id": key,
        "hostname": row.hostname,
        "username": row.username,
        "application": row.application,
        "version": row.version,
        "source": "import",
        "started_at": row.started_at,
        "ended_at": row.ended_at,
    }
