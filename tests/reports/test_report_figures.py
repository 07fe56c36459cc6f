"""Every report against figures worked out by hand from scenario.py.

The fixtures run each test on SQLite and on PostgreSQL.
"""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from scenario import SPAN_S, march, reader, report, world
from sqlalchemy import event, insert, update

from seatmeter.server.agent_groups.models import AgentGroup, agent_group_members
from seatmeter.server.agents.models import Agent
from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.reports import current_usage, sessions_grid
from seatmeter.server.sessions.models import UsageSession

__all__ = ["reader", "world"]

DAY_28 = "2026-03-28"
DAY_29 = "2026-03-29"
DAY_30 = "2026-03-30"


def by(items: list[dict[str, Any]], *fields: str) -> dict[Any, dict[str, Any]]:
    return {
        tuple(item[f] for f in fields) if len(fields) > 1 else item[fields[0]]: item
        for item in items
    }


def test_utilization_counts_seats_not_sessions(reader: TestClient, world: dict[str, int]) -> None:
    items = by(report(reader, "utilization")["items"], "pool")

    # AEC: alice 08-15 and 21-22, bob 20-03 (UTC, 28 to 29 March): one
    # seat for 7 + 1 + 1 + 5 = 14 h, two seats for 21-22 only.
    assert items["AEC"]["peak"] == 2
    assert items["AEC"]["peak_at"] == "2026-03-28T22:00:00+01:00"
    assert items["AEC"]["levels"] == [
        {"n": 0, "seconds": SPAN_S, "share": 1.0},
        {"n": 1, "seconds": 14 * 3600, "share": round(14 / 61, 6)},
        {"n": 2, "seconds": 3600, "share": round(1 / 61, 6)},
    ]
    # ACAD: erin's open session covers the whole report; bob's open one
    # adds a second seat from 10:00 UTC to now (12:00 UTC).
    assert items["ACAD"]["peak"] == 2
    assert items["ACAD"]["peak_at"] == "2026-03-30T12:00:00+02:00"
    assert [level["seconds"] for level in items["ACAD"]["levels"]] == [SPAN_S, SPAN_S, 7200]
    assert items["AEC"]["product_pool_id"] == world["AEC"]


def test_usage_history_per_pool_by_local_day(reader: TestClient, world: dict[str, int]) -> None:
    found = by(report(reader, "usage-history")["items"], "key", "period")

    def figures(key: str, day: str) -> tuple[Any, ...]:
        item = found[(key, day)]
        fields = ("max_concurrent", "avg_concurrent", "distinct_users", "hours")
        return tuple(item[f] for f in fields)

    assert sorted(found) == [
        ("ACAD", DAY_28),
        ("ACAD", DAY_29),
        ("ACAD", DAY_30),
        ("AEC", DAY_28),
        ("AEC", DAY_29),
    ]
    # AEC on the 28th: alice 7 h + 1 h, bob 20:00-23:00 UTC (local midnight
    # of the 29th is 23:00 UTC): 11 seat-hours over a 24-hour day.
    assert figures("AEC", DAY_28) == (2, round(11 / 24, 6), 2, 11.0)
    # The 29th has 23 hours; bob's session runs on to 03:00 UTC.
    assert figures("AEC", DAY_29) == (1, round(4 / 23, 6), 1, 4.0)
    assert figures("ACAD", DAY_28) == (1, 1.0, 1, 24.0)
    assert figures("ACAD", DAY_29) == (1, 1.0, 1, 23.0)
    # The 30th so far: 22:00 UTC to now is 14 h; erin 14 h, bob 2 h.
    assert figures("ACAD", DAY_30) == (2, round(16 / 14, 6), 2, 16.0)


def test_usage_history_per_application(reader: TestClient, world: dict[str, int]) -> None:
    items = report(reader, "usage-history", group_by="application")["items"]
    found = {
        (i["key"], i["period"]): (i["max_concurrent"], i["distinct_users"], i["hours"])
        for i in items
    }

    assert found == {
        # alice's two overlapping Civil 3D sessions count once: 08-14, 21-22.
        ("Civil 3D", DAY_28): (1, 1, 7.0),
        ("Civil 3D", DAY_29): (1, 1, 0.5),
        ("Revit", DAY_28): (1, 2, 5.0),
        ("Revit", DAY_29): (1, 1, 4.0),
        ("AutoCAD", DAY_28): (1, 1, 24.0),
        # dave beside erin for two hours.
        ("AutoCAD", DAY_29): (2, 2, 25.0),
        ("AutoCAD", DAY_30): (2, 2, 16.0),
    }


def test_usage_history_by_week(reader: TestClient, world: dict[str, int]) -> None:
    items = report(reader, "usage-history", granularity="week", product_pool_id=world["ACAD"])[
        "items"
    ]

    # Weeks start on Monday 30 March at 00:00+02:00 (29T22:00Z): before
    # it, 24 + 23 h of erin; after it, 14 h of erin and 2 h of bob.
    assert [(i["period"], i["hours"], i["max_concurrent"]) for i in items] == [
        ("2026-03-23", 47.0, 1),
        ("2026-03-30", 16.0, 2),
    ]
    assert items[0]["avg_concurrent"] == 1.0


def test_hours_across_the_spring_change(reader: TestClient, world: dict[str, int]) -> None:
    items = report(
        reader, "usage-history", granularity="hour", group_by="application", application="Revit"
    )["items"]
    bobs = [i["period"] for i in items if i["period"] >= "2026-03-28T21"]

    # bob, 20:00 to 03:00 UTC: seven real hours, and local 02:00 never was.
    assert bobs == [
        "2026-03-28T21:00:00+01:00",
        "2026-03-28T22:00:00+01:00",
        "2026-03-28T23:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-29T01:00:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T04:00:00+02:00",
    ]
    assert {i["hours"] for i in items} == {1.0}


def test_usage_per_user_over_the_whole_report(reader: TestClient, world: dict[str, int]) -> None:
    found = by(report(reader, "usage-per-user")["items"], "key")

    def figures(user: str) -> tuple[Any, ...]:
        item = found[f"CORP\\{user}"]
        fields = ("hours", "sessions", "days_used", "first_use", "last_use")
        return tuple(item[f] for f in fields)

    # alice: Civil 3D 08-14 and 21-22 (overlap once), Revit 13-15 beside it.
    assert figures("alice") == (9.0, 4, 1, "2026-03-28T09:00:00+01:00", "2026-03-28T23:00:00+01:00")
    # bob: Revit 7 real hours over two local days, AutoCAD running to now.
    assert figures("bob") == (9.0, 2, 3, "2026-03-28T21:00:00+01:00", "2026-03-30T14:00:00+02:00")
    assert figures("dave") == (2.0, 1, 1, "2026-03-29T11:00:00+02:00", "2026-03-29T13:00:00+02:00")
    # erin's session began long before and is still open: cut at both ends.
    assert figures("erin") == (61.0, 1, 3, "2026-03-28T00:00:00+01:00", "2026-03-30T14:00:00+02:00")
    assert figures("ghost") == (0.5, 1, 1, "2026-03-29T12:00:00+02:00", "2026-03-29T12:30:00+02:00")
    assert sorted(found) == [f"CORP\\{u}" for u in ("alice", "bob", "dave", "erin", "ghost")]
    assert {item["period"] for item in found.values()} == {DAY_28}


def test_usage_per_user_per_day_and_host(reader: TestClient, world: dict[str, int]) -> None:
    per_day = report(reader, "usage-per-user", granularity="day", username="corp\\bob")["items"]
    per_host = report(reader, "usage-per-user", group_by="host")["items"]

    # A session counts in each day it touches.
    assert [(i["period"], i["hours"], i["sessions"]) for i in per_day] == [
        (DAY_28, 3.0, 1),
        (DAY_29, 4.0, 1),
        (DAY_30, 2.0, 1),
    ]
    hosts = {i["key"]: i["hours"] for i in per_host}
    assert hosts == {"H1": 7.0, "H2": 2.0, "H3": 9.0, "H4": 61.0, "H5": 2.0, "H6": 0.5}


def test_a_report_ended_in_the_past_cuts_open_sessions(
    reader: TestClient, world: dict[str, int]
) -> None:
    # Until local midnight of the 29th (23:00 UTC on the 28th).
    items = report(reader, "usage-per-user", until="2026-03-29T00:00:00+01:00")["items"]
    found = {i["key"]: (i["hours"], i["last_use"]) for i in items}

    assert found == {
        "CORP\\alice": (9.0, "2026-03-28T23:00:00+01:00"),
        "CORP\\bob": (3.0, "2026-03-29T00:00:00+01:00"),
        "CORP\\erin": (24.0, "2026-03-29T00:00:00+01:00"),
    }


def test_heatmap_cells(reader: TestClient, world: dict[str, int]) -> None:
    body = report(reader, "heatmap")
    cells = {(i["key"], i["period"]): i["hours"] for i in body["items"]}

    assert cells[("CORP\\bob", DAY_28)] == 3.0
    assert cells[("CORP\\bob", DAY_29)] == 4.0
    assert cells[("CORP\\erin", DAY_29)] == 23.0
    assert len(cells) == 1 + 3 + 1 + 3 + 1
    assert body["keys"] == [f"CORP\\{u}" for u in ("alice", "bob", "dave", "erin", "ghost")]


def test_seat_efficiency(reader: TestClient, world: dict[str, int]) -> None:
    items = by(report(reader, "seat-efficiency")["items"], "pool")

    aec = items["AEC"]
    assert (aec["seats"], aec["assigned"], aec["active_users"]) == (2, 3, 2)
    # carol holds a seat and last used it on 1 March, 12:00 UTC.
    assert aec["idle_users"] == [
        {"email": "carol@corp.com", "last_use": "2026-03-01T13:00:00+01:00"}
    ]
    assert (aec["peak_concurrency"], aec["suggested_seats"], aec["idle_cost"]) == (2, 2, 1000.0)
    acad = items["ACAD"]
    assert (acad["assigned"], acad["active_users"], acad["idle_users"]) == (2, 2, [])
    assert acad["idle_cost"] is None
    # dave used AutoCAD without any seat.
    assert items[None]["unassigned_use"] == [
        {"username": "CORP\\dave", "application": "AutoCAD", "hours": 2.0}
    ]


def test_idle_user_who_never_used_the_pool(reader: TestClient, world: dict[str, int]) -> None:
    items = by(
        report(reader, "seat-efficiency", since="2026-03-29T12:00:00+02:00")["items"], "pool"
    )

    # From noon on the 29th only erin and bob use anything, and only ACAD.
    idle = {user["email"]: user["last_use"] for user in items["AEC"]["idle_users"]}
    assert idle == {
        "alice@corp.com": "2026-03-28T23:00:00+01:00",
        "bob@corp.com": "2026-03-29T05:00:00+02:00",
        "carol@corp.com": "2026-03-01T13:00:00+01:00",
    }
    assert items["AEC"]["active_users"] == 0


def test_current_usage(reader: TestClient, world: dict[str, int]) -> None:
    items = by(report(reader, "current-usage")["items"], "pool")

    assert (items["AEC"]["in_use"], items["AEC"]["sessions"]) == (0, [])
    acad = items["ACAD"]
    assert (acad["seats"], acad["assigned"], acad["in_use"]) == (2, 2, 2)
    assert [s["username"] for s in acad["sessions"]] == ["CORP\\erin", "CORP\\bob"]
    assert acad["sessions"][1]["started_at"] == "2026-03-30T12:00:00+02:00"


# change -> what it does, given the ids, and the ACAD item's
# (seats, assigned, in use, first session's email) after it
SEAT_CHANGES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "seats bought": (
        lambda s, ids: s.execute(
            update(ProductPool).where(ProductPool.id == ids["ACAD"]).values(total_seats=5)
        ),
        (5, 2, 2, "erin@corp.com"),
    ),
    "seat unassigned": (
        lambda s, ids: s.execute(
            update(Assignment).where(Assignment.cloud_user_id == ids["bob"]).values(active=False)
        ),
        (2, 1, 2, "erin@corp.com"),
    ),
    "email changed": (
        lambda s, ids: s.execute(
            update(CloudUser).where(CloudUser.id == ids["erin"]).values(email="e@corp.com")
        ),
        (2, 2, 2, "e@corp.com"),
    ),
}


@pytest.mark.parametrize("change", SEAT_CHANGES)
def test_current_usage_sees_entitlement_changes_at_once(
    reader: TestClient, world: dict[str, int], database: Database, change: str
) -> None:
    """What current-usage keeps between requests is void after a change."""

    def acad() -> tuple[Any, ...]:
        item = by(report(reader, "current-usage")["items"], "pool")["ACAD"]
        fields = (item["seats"], item["assigned"], item["in_use"])
        return (*fields, item["sessions"][0]["email"])

    assert acad() == (2, 2, 2, "erin@corp.com")
    work, expected = SEAT_CHANGES[change]

    with database.writing() as session:
        work(session, world)

    assert acad() == expected


def test_current_usage_asks_again_only_for_the_running_sessions(
    reader: TestClient, world: dict[str, int], database: Database
) -> None:
    report(reader, "current-usage")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        items = report(reader, "current-usage")["items"]
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    tables = ("FROM sessions", "FROM product_pools", "FROM assignments", "FROM cloud_users")
    reads = [s for s in statements if any(table in s for table in tables)]
    assert len(reads) == 1 and "FROM sessions" in reads[0], reads
    assert [i["assigned"] for i in items] == [3, 2]


def test_current_usage_reads_running_sessions_from_their_index(database: Database) -> None:
    query = current_usage._RUNNING_NOW
    now = {"now": "2026-03-30 12:00:00+00:00"}
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            # An empty table is scanned whatever its indexes; forbid that
            # to see whether the running index serves the query at all.
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_bitmapscan = off")
        compiled = query.compile(dialect=database.engine.dialect)
        values = compiled.construct_params(now)
        plan = connection.exec_driver_sql(
            f"EXPLAIN {'QUERY PLAN ' if database.dialect == 'sqlite' else ''}{compiled}",
            tuple(values[name] for name in compiled.positiontup or ())
            if database.dialect == "sqlite"
            else values,
        ).all()

    text = " ".join(str(row[-1]) for row in plan)
    # SQLite answers from the index alone, without a lookup per session.
    wanted = (
        "COVERING INDEX ix_sessions_running"
        if database.dialect == "sqlite"
        else "ix_sessions_running"
    )
    assert wanted in text


def test_seat_efficiency_reads_few_sessions_by_index_and_scans_for_the_rest(
    reader: TestClient, world: dict[str, int], database: Database
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("SQLite's plans are forced; PostgreSQL's follow its statistics")
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM sessions" in statement:
            statements.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        report(reader, "seat-efficiency")
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    with database.engine.connect() as connection:
        plans = [
            " ".join(
                str(row[-1])
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            )
            for sql, parameters in statements
        ]

    # The idle holders' last use and the use no pool covers come by
    # index; the seats' sessions, most of the table, by a scan.
    by_index = [plan for plan in plans if "ix_sessions_pool_user" in plan]
    scans = [plan for plan in plans if plan == "SCAN sessions"]
    assert len(by_index) == 2 and len(scans) == 1, plans


def test_sessions_grid_sorts_filters_and_pages(reader: TestClient, world: dict[str, int]) -> None:
    first = report(reader, "sessions", sort="username", limit=3)
    second = report(reader, "sessions", sort="username", limit=3, offset=3)
    running = report(reader, "sessions", sort="-ended_at", limit=2)

    # Nine sessions overlap the report; carol's of 1 March does not.
    assert first["total"] == 9
    users = [i["username"] for i in first["items"] + second["items"]]
    assert users == ["CORP\\alice"] * 4 + ["CORP\\bob"] * 2
    assert {i["ended_at"] for i in running["items"]} == {None}
    assert {i["hours"] for i in running["items"]} == {2.0, 10 * 24 + 12.0}
    assert first["total_exact"] is True


def test_sessions_grid_counts_only_so_far_past_the_page(
    reader: TestClient, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_grid, "COUNT_AHEAD", 2)
    stopped = report(reader, "sessions", sort="username", limit=3)
    last = report(reader, "sessions", sort="username", limit=3, offset=6)

    # Nine overlap: the first page counts to 3 + 2, the last reaches all.
    assert (stopped["total"], stopped["total_exact"]) == (5, False)
    assert (last["total"], last["total_exact"]) == (9, True)
    assert len(stopped["items"]) == 3


def test_sessions_grid_counts_in_the_page_query_and_alone_past_the_end(
    reader: TestClient, world: dict[str, int], database: Database
) -> None:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM sessions" in statement:
            statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        page = report(reader, "sessions", sort="username", limit=3)
        reads_for_page = len(statements)
        past = report(reader, "sessions", sort="username", limit=3, offset=50)
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)

    assert reads_for_page == 1, statements
    assert (page["total"], len(page["items"])) == (9, 3)
    assert (past["total"], past["total_exact"], past["items"]) == (9, True, [])
    assert len(statements) == 3, "past the end, the page finds no row to carry the count"


def test_cost_per_seat_prices_idle_seats(
    reader: TestClient, world: dict[str, int], tokens: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    path = f"/api/v1/product-pools/{world['AEC']}"

    changed = reader.patch(path, json={"cost_per_seat": 1250.5}, headers=admin)
    refused = reader.patch(path, json={"cost_per_seat": 1.0})

    assert changed.status_code == 200, changed.text
    assert changed.json()["cost_per_seat"] == 1250.5
    assert refused.status_code == 403, refused.text
    items = by(report(reader, "seat-efficiency")["items"], "pool")
    # One idle seat (carol's).
    assert items["AEC"]["idle_cost"] == 1250.5
    cleared = reader.patch(path, json={"cost_per_seat": None}, headers=admin)
    assert cleared.json()["cost_per_seat"] is None


def test_filters_narrow_every_report(reader: TestClient, world: dict[str, int]) -> None:
    by_host = report(reader, "utilization", hostname="h3")["items"]
    by_server = report(reader, "usage-per-user", license_server_id=world["server"])["items"]
    other_server = report(reader, "usage-per-user", license_server_id=world["server"] + 1)

    # Only bob's sessions ran on H3: one seat in each pool.
    assert {i["pool"]: i["peak"] for i in by_host} == {"AEC": 1, "ACAD": 1}
    # ghost has neither pool nor cloud user, so no license server.
    assert "CORP\\ghost" not in {i["key"] for i in by_server}
    assert len(by_server) == 4
    assert other_server["items"] == []


def test_host_groups(reader: TestClient, world: dict[str, int], database: Database) -> None:
    with database.writing() as session:
        for agent_id, host in (("a-1", "H1"), ("a-3", "H3")):
            session.add(Agent(id=agent_id, hostname=host, os="windows", agent_version="0.1.0"))
        civil, drafting = AgentGroup(name="Civil"), AgentGroup(name="Drafting")
        session.add_all([civil, drafting])
        session.flush()
        members = [(civil.id, "a-1"), (civil.id, "a-3"), (drafting.id, "a-1")]
        session.execute(
            insert(agent_group_members),
            [{"agent_group_id": group, "agent_id": agent} for group, agent in members],
        )
        for agent_id, host in (("a-1", "H1"), ("a-3", "H3")):
            session.execute(
                update(UsageSession).where(UsageSession.hostname == host).values(agent_id=agent_id)
            )
        drafting_id = drafting.id

    grouped = report(reader, "usage-per-user", group_by="host-group")["items"]
    narrowed = report(reader, "utilization", host_group_id=drafting_id)["items"]

    # Civil: alice's Civil 3D on H1 (7 h) and bob's Revit and AutoCAD on
    # H3 (7 h and 2 h); Drafting: H1 only. The default group is empty.
    assert [(i["key"], i["hours"], i["sessions"]) for i in grouped] == [
        ("Civil", 16.0, 5),
        ("Drafting", 7.0, 3),
    ]
    assert {i["pool"]: i["peak"] for i in narrowed} == {"AEC": 1, "ACAD": 0}


def test_pool_session_without_cloud_user_counts_as_its_host_user(
    reader: TestClient, world: dict[str, int], database: Database
) -> None:
    with database.writing() as session:
        for number, (start, end) in enumerate(((8, 9), (8.5, 9.5))):
            session.add(
                UsageSession(
                    external_id=f"T{number}",
                    hostname="H9",
                    username="CORP\\temp",
                    application="Revit",
                    version="2026",
                    source="import",
                    started_at=march((28, start)),
                    ended_at=march((28, end)),
                    product_pool_id=world["AEC"],
                )
            )

    items = by(report(reader, "utilization")["items"], "pool")

    # temp's two sessions are one seat, 08:00-09:30 UTC, beside alice's.
    assert [level["seconds"] for level in items["AEC"]["levels"]] == [
        SPAN_S,
        14 * 3600,
        3600 + 5400,
    ]
