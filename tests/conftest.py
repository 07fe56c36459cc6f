"""Shared fixtures: a fresh, migrated database per test on SQLite and on
PostgreSQL, the app over it, a client, and tokens of every scope.

PostgreSQL comes from SEATMETER_TEST_POSTGRES_URL (dev.py starts a
throwaway cluster and sets it). Without it the PostgreSQL half is skipped,
unless SEATMETER_REQUIRE_POSTGRES=1, as in CI, where it fails instead.
"""

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from seatmeter.server.accounts.service import create_token
from seatmeter.server.app import create_app
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.settings import Settings, load

POSTGRES_URL = os.environ.get("SEATMETER_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("SEATMETER_REQUIRE_POSTGRES") == "1"
# A fixed key, so that several server processes of one test agree.
TEST_SECRET_KEY = "Vf4cFqU8dCXZpVbBM9yVQ0m7mJ6m9fC4b7tX1ZlqZ8Y="
BACKENDS = ["sqlite", "postgresql"]

_numbers = itertools.count()


def worker() -> str:
    """A name unique to this test process, so that two runs sharing one
    PostgreSQL server never drop each other's databases."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test instead of migrating."""
    path = tmp_path_factory.mktemp("template") / "seatmeter.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test's database copies."""
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("SEATMETER_REQUIRE_POSTGRES=1 but SEATMETER_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set SEATMETER_TEST_POSTGRES_URL)")
    name = f"seatmeter_template_{worker()}"
    _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    database = Database(_with_database(name))
    upgrade(database)
    database.dispose()
    yield name
    _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the head revision, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "seatmeter.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"seatmeter_{worker()}_{next(_numbers)}"
    _admin_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield _with_database(name)
    _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


def make_settings(database_url: str, data_dir: Path, **flags: Any) -> Settings:
    return load(
        flags={
            "data_dir": str(data_dir),
            "database_url": database_url,
            "secret_key": TEST_SECRET_KEY,
            # Background syncs only where a test asks for them.
            "scheduler": "off",
            # Check-ins read the agent change log every time, so a change
            # is seen at once (tests/test_standings.py times the refresh).
            "agent_standing_refresh_ms": 0,
            **flags,
        },
        environ={},
    )


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


@pytest.fixture
def tokens(database: Database) -> dict[str, str]:
    """One token of each scope, by scope name."""
    made = {}
    with database.writing() as session:
        for scope in ("admin", "read", "agent"):
            _, made[scope] = create_token(session, f"test {scope}", scope)
    return made


@pytest.fixture
def admin(client: TestClient, tokens: dict[str, str]) -> TestClient:
    """The client, signed in with the admin token."""
    client.headers["Authorization"] = f"Bearer {tokens['admin']}"
    return client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol(
    client: TestClient, agent_token: str, agent_id: str, hostname: str, os: str = "windows"
) -> str:
    """Enrol an agent through the agent API; returns its credential."""
    response = client.post(
        "/api/agent/v1/enrol",
        json={"agent_id": agent_id, "hostname": hostname, "os": os, "agent_version": "0.1.0"},
        headers=bearer(agent_token),
    )
    assert response.status_code == 201, response.text
    credential: str = response.json()["credential"]
    return credential


def _admin_sql(*statements: str) -> None:
    assert POSTGRES_URL
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def _with_database(name: str) -> str:
    assert POSTGRES_URL
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
