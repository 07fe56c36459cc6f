"""Database.insert_rows, ingestion's inserts beside SQLAlchemy's: the
same stored values, ids returned past one statement's rows, and errors
named as SQLAlchemy names them, with nothing of the transaction kept."""

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from seatmeter.server.db import Database
from seatmeter.server.db.engine import INSERT_CHUNK
from seatmeter.server.sessions.models import UsageSession

SESSIONS = cast(Table, UsageSession.__table__)
T0 = datetime(2026, 12, 1, 9, 0, 0, 250_000, tzinfo=UTC)


def row(number: int, **fields: Any) -> dict[str, Any]:
    return {
        "agent_session_id": f"k-{number}",
        "external_id": f"x-{number}",
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": T0 + timedelta(minutes=number),
        "ended_at": None if number % 2 else T0 + timedelta(hours=1),
        "attribution": None,
        **fields,
    }


def stored(database: Database, keys: list[str]) -> list[tuple[Any, ...]]:
    """Each row as the database holds it: times as text, so that SQLite's
    format must match SQLAlchemy's to the character."""
    query = text(
        "SELECT hostname, username, CAST(started_at AS TEXT), CAST(ended_at AS TEXT), "
        "attribution FROM sessions WHERE agent_session_id = :key"
    )
    with database.reading() as session:
        return [tuple(session.execute(query, {"key": key}).one()) for key in keys]


def test_rows_are_stored_as_sqlalchemy_stores_them(database: Database) -> None:
    with database.writing() as session:
        session.execute(insert(UsageSession), [row(1), row(2, attribution="unmapped")])
    with database.writing() as session:
        database.insert_rows(
            session.connection(),
            SESSIONS,
            [
                row(11, agent_session_id="k-1b"),
                row(12, agent_session_id="k-2b", attribution="unmapped"),
            ],
        )

    via_sqlalchemy = stored(database, ["k-1", "k-2"])
    via_driver = stored(database, ["k-1b", "k-2b"])
    # The rows differ by ten minutes' start only.
    shifted = [
        (*found[:2], found[2].replace("09:01", "09:11").replace("09:02", "09:12"), *found[3:])
        for found in via_sqlalchemy
    ]
    assert via_driver == shifted


def test_returning_covers_more_rows_than_one_statement_holds(database: Database) -> None:
    count = INSERT_CHUNK * 2 + 7
    with database.writing() as session:
        returned = database.insert_rows(
            session.connection(),
            SESSIONS,
            [row(n) for n in range(count)],
            returning=("agent_session_id", "id"),
        )

    with database.reading() as session:
        ids = dict(session.execute(select(UsageSession.agent_session_id, UsageSession.id)).all())
    assert len(returned) == count
    assert dict(returned) == ids


@pytest.mark.parametrize("returning", [(), ("id",)])
def test_a_failed_insert_is_sqlalchemys_error_and_keeps_nothing(
    database: Database, returning: tuple[str, ...]
) -> None:
    with pytest.raises(IntegrityError), database.writing() as session:
        session.execute(insert(UsageSession), [row(0, agent_session_id="before")])
        # The second row repeats the first's external id.
        database.insert_rows(
            session.connection(), SESSIONS, [row(1), row(2, external_id="x-1")], returning
        )

    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(UsageSession)) == 0
