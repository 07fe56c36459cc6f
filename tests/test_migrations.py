"""Migrations on both backends: old data survives them, and the migrated
schema is exactly what the models describe, so a model changed without a
migration fails here.
"""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import (
    BACKENDS,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    _admin_sql,
    _with_database,
    worker,
)
from sqlalchemy import JSON, Connection, bindparam, inspect, select, text

from seatmeter.server.agents import monitoring
from seatmeter.server.agents.models import Agent
from seatmeter.server.db import Database, UTCDateTime
from seatmeter.server.db.migrate import current_revision, head_revision, upgrade
from seatmeter.server.db.schema import metadata
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import UsageSession

BEFORE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
STARTED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ENDED = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
PROBLEMS = [{"code": "scan.slow", "message": "took 4 s", "since": "2026-12-01"}]
SEEN = {"first_seen": BEFORE, "last_seen": ENDED, "active": True}
# 0002 writes to these alone; every other table must come out unchanged.
TABLES_0002_CHANGES = {"agent_groups", "auto_assign_rules"}
# Columns later revisions add to old rows, with the value they get.
ADDED_COLUMNS = {"sessions": {"attribution": None}}


@pytest.fixture(params=BACKENDS)
def empty_database(
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Database]:
    """No schema at all: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield database
        database.dispose()
        return
    require_postgres()
    name = f"seatmeter_empty_{worker()}_{uuid.uuid4().hex[:12]}"
    _admin_sql(f"CREATE DATABASE {name}")
    database = Database(_with_database(name))
    try:
        yield database
    finally:
        database.dispose()
        _admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_upgrade_keeps_every_row_and_adopts_an_existing_default_group(
    empty_database: Database,
) -> None:
    upgrade(empty_database, "0001")
    assert current_revision(empty_database) == "0001"
    with empty_database.write_engine.begin() as connection:
        fill_at_0001(Rows(connection))
    before = snapshot(empty_database)
    assert all(before.values()), "a row in every table of 0001"

    upgrade(empty_database)
    after = snapshot(empty_database)

    assert current_revision(empty_database) == head_revision()
    for table in sorted(set(before) - TABLES_0002_CHANGES):
        # Columns added later hold their stated values; others are free.
        added = ADDED_COLUMNS.get(table, {})
        expected = sorted(({**row, **added} for row in before[table]), key=repr)
        kept = [{c: row[c] for c in expected[0]} for row in after[table]]
        assert sorted(kept, key=repr) == expected, table

    # The group named Default became the default group; no second one.
    groups = before["agent_groups"]
    flagged = [{**g, "is_default": g["name"] == "Default"} for g in groups]
    assert after["agent_groups"] == flagged
    [default_id] = [g["id"] for g in groups if g["name"] == "Default"]

    # It gained the rule that puts every new agent in it; no other changed.
    old_rules, new_rules = before["auto_assign_rules"], after["auto_assign_rules"]
    assert len(new_rules) == len(old_rules) + 1
    [added] = [rule for rule in new_rules if rule not in old_rules]
    del added["id"]
    assert added == {"agent_group_id": default_id, "kind": "all", "value": None}


def test_old_rows_read_back_through_the_models_after_upgrade(
    empty_database: Database,
) -> None:
    upgrade(empty_database, "0001")
    with empty_database.write_engine.begin() as connection:
        fill_at_0001(Rows(connection))
    upgrade(empty_database)

    with empty_database.reading() as session:
        stored = session.scalars(select(UsageSession)).one()
        server = session.scalars(select(LicenseServer)).one()
        agent = session.get(Agent, "agent-1")
        assert agent is not None
        assert (agent.problems, agent.last_seen) == (PROBLEMS, ENDED)
        assert sorted(group.name for group in agent.groups) == ["CAD", "Default"]
        assert [group.name for group in server.agent_groups] == ["CAD"]
        decision = monitoring.decide(session, "agent-1")
    assert (stored.started_at, stored.ended_at) == (STARTED, ENDED)
    assert stored.username == "CORP\\jdoe"
    assert decision.monitoring is True
    assert decision.license_server_ids == (server.id,)


def test_migrated_schema_matches_the_models(empty_database: Database) -> None:
    upgrade(empty_database)
    assert current_revision(empty_database) == head_revision() is not None

    with empty_database.engine.connect() as connection:
        options = {"compare_type": True}
        context = MigrationContext.configure(connection, opts=options)
        differences = compare_metadata(context, metadata)
    assert differences == []

    # Every later start upgrades again, and must find nothing to do.
    upgrade(empty_database)
    groups = snapshot(empty_database)["agent_groups"]
    assert [group["name"] for group in groups] == ["Default"]


def require_postgres() -> None:
    # The rule of conftest's template: skipped, unless CI requires it.
    if POSTGRES_URL:
        return
    if REQUIRE_POSTGRES:
        pytest.fail("SEATMETER_REQUIRE_POSTGRES=1 needs SEATMETER_TEST_POSTGRES_URL")
    pytest.skip("PostgreSQL not configured (set SEATMETER_TEST_POSTGRES_URL)")


def fill_at_0001(add: "Rows") -> None:
    """Rows in every table of revision 0001, among them a group already
    named "Default", as an administrator may have made before 0002."""
    alice = add("accounts", name="alice", password_hash="$argon2id$x", role="admin")
    add(
        "api_tokens",
        name="ci",
        scope="read",
        token_hash="ab" * 32,
        hint="smt_abcd",
        account_id=alice,
        last_used_at=ENDED,
    )
    default = add("agent_groups", name="Default", description="", is_default=False)
    cad = add("agent_groups", name="CAD", description="drafting", is_default=False)
    add("auto_assign_rules", agent_group_id=cad, kind="hostname", value="CAD-*")
    fill_agent(add, [default, cad])

    server = add(
        "license_servers",
        type="autodesk",
        name="Autodesk team",
        team_id="team-1",
        api_base_url="https://developer.api.autodesk.com",
        client_id="client-1",
        client_secret_encrypted="sealed-secret",
        poll_interval_s=900,
        enabled=True,
        status="up",
        last_sync_at=ENDED,
    )
    add("license_server_agent_groups", license_server_id=server, agent_group_id=cad)
    fill_usage(add, server)


def fill_agent(add: "Rows", group_ids: list[int]) -> None:
    add(
        "agents",
        id="agent-1",
        hostname="CAD-01",
        os="windows",
        agent_version="0.1.0",
        ip_address="10.1.2.3",
        credential_hash="cd" * 32,
        first_seen=BEFORE,
        last_seen=ENDED,
        clock_offset_s=1.5,
        monitoring=True,
        catalog_revision=3,
        problems=PROBLEMS,
    )
    for group_id in group_ids:
        add("agent_group_members", agent_group_id=group_id, agent_id="agent-1")


def fill_usage(add: "Rows", server: int) -> None:
    """Entitlements, and one session of the agent with its two events."""
    pool = add(
        "product_pools",
        license_server_id=server,
        product_id="CIV3D",
        name="Civil 3D",
        total_seats=10,
        assigned_seats=4,
        unlimited=False,
        start_date=BEFORE,
        end_date=datetime(2027, 11, 30, tzinfo=UTC),
        cost_per_seat=2545.5,
        **SEEN,
    )
    user = add(
        "cloud_users",
        license_server_id=server,
        autodesk_id="ADSK-1",
        email="jdoe@corp.com",
        first_name="Jane",
        last_name="Doe",
        **SEEN,
    )
    add(
        "assignments",
        license_server_id=server,
        cloud_user_id=user,
        product_pool_id=pool,
        assignment_type="DIRECT",
        **SEEN,
    )
    session = add(
        "sessions",
        agent_id="agent-1",
        agent_session_id="s1",
        hostname="CAD-01",
        username="CORP\\jdoe",
        application="Civil 3D",
        version="2024",
        source="process",
        started_at=STARTED,
        ended_at=ENDED,
        product_pool_id=pool,
        cloud_user_id=user,
    )
    for event_id, kind, at in (("e1", "start", STARTED), ("e2", "stop", ENDED)):
        add(
            "session_events",
            agent_id="agent-1",
            event_id=event_id,
            session_id=session,
            kind=kind,
            at=at,
            received_at=ENDED,
        )


class Rows:
    """Plain INSERTs into whatever the schema is at the time.

    Timestamps and JSON are bound with the models' column types, so the
    rows are stored exactly as the server would have stored them.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def __call__(self, table: str, **values: Any) -> Any:
        """Insert one row; returns its id, given or made by the database."""
        columns = [c["name"] for c in inspect(self.connection).get_columns(table)]
        if "created_at" in columns:
            values.setdefault("created_at", BEFORE)
        made_id = "id" in columns and "id" not in values

        names = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        returning = " RETURNING id" if made_id else ""
        sql = text(f"INSERT INTO {table} ({names}) VALUES ({marks}){returning}")
        sql = sql.bindparams(*(typed(name, values[name]) for name in values))
        result = self.connection.execute(sql, values)
        return result.scalar_one() if made_id else values.get("id")


def typed(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return bindparam(name, type_=UTCDateTime())
    if isinstance(value, list | dict):
        return bindparam(name, type_=JSON())
    return bindparam(name)


def snapshot(database: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table as stored, in a stable order."""
    with database.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
        return {table: table_rows(connection, table) for table in tables}


def table_rows(connection: Connection, table: str) -> list[dict[str, Any]]:
    result = connection.execute(text(f"SELECT * FROM {table}"))
    return sorted((dict(row) for row in result.mappings()), key=repr)
