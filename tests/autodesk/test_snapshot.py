"""Applying snapshots to the entitlement tables, with history, on both databases."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from seatmeter.server.autodesk.snapshot import (
    AssignmentFacts,
    PoolFacts,
    Snapshot,
    UserFacts,
    apply,
)
from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, PoolSeatCount, ProductPool
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.usage.models import EntitlementGeneration

MONDAY = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
TUESDAY = MONDAY + timedelta(days=1)
WEDNESDAY = TUESDAY + timedelta(days=1)


def a_server(database: Database) -> int:
    with database.writing() as session:
        server = LicenseServer(name="Team", team_id="100001")
        session.add(server)
        session.flush()
        return server.id


def team(total: int, *held: tuple[str, str]) -> Snapshot:
    return Snapshot(
        pools=[
            PoolFacts("prod_a", "AutoCAD", total, len(held)),
            PoolFacts("prod_b", "Revit", 5, 0),
        ],
        users=[UserFacts("US1", "ann@example.com"), UserFacts("US2", "bob@example.com")],
        assignments=[AssignmentFacts(user, product) for user, product in held],
    )


def applied(database: Database, server_id: int, snapshot: Snapshot, now: datetime) -> int:
    with database.writing() as session:
        return apply(session, server_id, snapshot, now).changes


def test_a_second_identical_snapshot_changes_nothing(database: Database) -> None:
    server_id = a_server(database)
    first = applied(database, server_id, team(10, ("US1", "prod_a")), MONDAY)

    again = applied(database, server_id, team(10, ("US1", "prod_a")), TUESDAY)

    assert first > 0 and again == 0
    with database.reading() as session:
        [row] = session.scalars(select(Assignment)).all()
        counts = session.scalars(select(PoolSeatCount)).all()
    assert (row.first_seen, row.last_seen, row.active) == (MONDAY, TUESDAY, True)
    assert len(counts) == 2, "one history row per pool, none for an unchanged count"


def test_seat_counts_and_unassignments_are_kept_with_their_time(database: Database) -> None:
    server_id = a_server(database)
    applied(database, server_id, team(10, ("US1", "prod_a"), ("US2", "prod_a")), MONDAY)

    applied(database, server_id, team(12, ("US1", "prod_a")), TUESDAY)

    with database.reading() as session:
        pool = session.scalars(select(ProductPool).where(ProductPool.product_id == "prod_a")).one()
        history = session.scalars(
            select(PoolSeatCount)
            .where(PoolSeatCount.product_pool_id == pool.id)
            .order_by(PoolSeatCount.observed_at)
        ).all()
        rows = session.scalars(select(Assignment).order_by(Assignment.cloud_user_id)).all()
    assert [(h.observed_at, h.total_seats, h.assigned_seats) for h in history] == [
        (MONDAY, 10, 2),
        (TUESDAY, 12, 1),
    ]
    kept, gone = rows
    assert (kept.active, kept.unassigned_at) == (True, None)
    assert (gone.active, gone.last_seen, gone.unassigned_at) == (False, MONDAY, TUESDAY)


def test_an_assignment_held_again_starts_a_new_assigned_since(database: Database) -> None:
    server_id = a_server(database)
    applied(database, server_id, team(10, ("US1", "prod_a")), MONDAY)
    applied(database, server_id, team(10), TUESDAY)

    applied(database, server_id, team(10, ("US1", "prod_a")), WEDNESDAY)

    with database.reading() as session:
        [row] = session.scalars(select(Assignment)).all()
    assert (row.active, row.first_seen, row.unassigned_at) == (True, WEDNESDAY, None)


def test_assignments_of_unlisted_users_or_pools_are_skipped(database: Database) -> None:
    server_id = a_server(database)
    snapshot = team(10, ("US1", "prod_a"), ("US9", "prod_a"), ("US1", "prod_zz"))

    with database.writing() as session:
        outcome = apply(session, server_id, snapshot, MONDAY)

    assert (outcome.assignments, outcome.skipped) == (1, 2)


def generation(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalars(select(EntitlementGeneration.value)).one())


def test_only_a_change_of_seats_moves_the_entitlement_generation(database: Database) -> None:
    """Reports keep seat counts by generation: an identical snapshot must
    not void them, and new seat counts must."""
    server_id = a_server(database)
    applied(database, server_id, team(10, ("US1", "prod_a")), MONDAY)
    before = generation(database)

    applied(database, server_id, team(10, ("US1", "prod_a")), TUESDAY)
    unchanged = generation(database)
    applied(database, server_id, team(12, ("US1", "prod_a")), WEDNESDAY)

    assert unchanged == before
    assert generation(database) > before
