"""A pooled PostgreSQL connection that died while idle (a restart, a
killed backend) is replaced before use, not handed to a request."""

import pytest
from sqlalchemy import create_engine, literal, select, text
from sqlalchemy.exc import OperationalError

from seatmeter.server.db import Database, engine


@pytest.fixture
def postgres(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no connection to lose")
    return database_url


def kill_other_backends(url: str) -> int:
    """What a PostgreSQL restart does to every connection but ours."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    admin.dispose()
    return killed


def answer(database: Database) -> int:
    with database.reading() as session:
        return session.execute(text("SELECT 42")).scalar_one()


def test_an_idle_connection_that_died_is_replaced(postgres, monkeypatch):
    database = Database(postgres, pool_size=1)
    assert answer(database) == 42
    assert kill_other_backends(postgres) == 1

    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 0.0)
    assert answer(database) == 42
    database.dispose()


def test_a_busy_connection_is_not_tested_before_use(postgres, monkeypatch):
    # The other side of the trade: under load no time goes to pings, and
    # a dead connection costs the one request that meets it.
    database = Database(postgres, pool_size=1)
    assert answer(database) == 42
    assert kill_other_backends(postgres) == 1

    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 3600.0)
    with pytest.raises(OperationalError):
        answer(database)
    assert answer(database) == 42  # the pool was renewed
    database.dispose()


def test_a_driver_read_on_a_lost_connection_is_answered_anyway(postgres, monkeypatch):
    # first_row runs on the driver; when that fails it goes through
    # SQLAlchemy, which replaces the connection (and names any error).
    database = Database(postgres, pool_size=1)
    statement = select(literal(7).label("seven"))
    assert database.first_row(statement) == (7,)
    assert kill_other_backends(postgres) == 1

    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 3600.0)
    assert database.first_row(statement) == (7,)
    assert database.first_row(statement) == (7,)
    database.dispose()
