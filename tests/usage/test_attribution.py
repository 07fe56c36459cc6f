"""Sessions to product pools: the choice among pools, unassigned and
unmapped use, re-attribution after changes, its scopes, and ingestion."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import bearer, enrol
from sqlalchemy import event, update
from usage_data import T0, Team, add_session, rule_setter, stored

from seatmeter.server.entitlements.models import Assignment
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.attribution import attribute

POOL_APPLICATIONS = "/api/v1/product-pools/{}/applications"
AEC = "Architecture Engineering & Construction Collection IC"


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    return rule_setter(monkeypatch)


def run(database, **scope) -> dict[str, int]:
    with database.writing() as session:
        return attribute(session, **scope)


def test_the_products_own_pool_comes_before_a_collection(database, rules):
    team = Team(database)
    collection = team.pool(AEC)
    revit = team.pool("Revit")
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, collection)
    team.assign(jdoe, revit)
    session_id = add_session(database, "CORP\\jdoe", "Revit")
    civil = add_session(database, "CORP\\jdoe", "Civil 3D")

    counts = run(database)

    assert stored(database, session_id) == ("pool", jdoe, revit)
    # Civil 3D has no pool of its own here: the collection counts it.
    assert stored(database, civil) == ("pool", jdoe, collection)
    assert counts == {"changed": 2, "pool": 2, "unassigned": 0, "unmapped": 0}


def test_a_more_specific_product_pool_wins_then_the_lowest_id(database, rules):
    team = Team(database)
    autocad = team.pool("AutoCAD - including specialized toolsets")
    plant = team.pool("AutoCAD Plant 3D")
    first_revit, second_revit = team.pool("Revit"), team.pool("Revit")
    jdoe = team.user("jdoe@corp.com")
    for pool in (autocad, plant, second_revit, first_revit):
        team.assign(jdoe, pool)
    plant_session = add_session(database, "CORP\\jdoe", "Plant 3D")
    revit_session = add_session(database, "CORP\\jdoe", "Revit")

    run(database)

    assert stored(database, plant_session) == ("pool", jdoe, plant)
    assert stored(database, revit_session) == ("pool", jdoe, first_revit)


def test_among_several_cloud_users_the_holder_counts(database, rules):
    main, second = Team(database), Team(database, "Second team")
    main.user("jdoe@corp.com")
    holder = second.user("jdoe@corp.co.uk")
    revit = second.pool("Revit")
    second.assign(holder, revit)
    session_id = add_session(database, "CORP\\jdoe", "Revit")

    run(database)

    assert stored(database, session_id) == ("pool", holder, revit)


def test_use_without_a_qualifying_assignment_is_unassigned(database, rules):
    team = Team(database)
    revit, maya = team.pool("Revit"), team.pool("Maya")
    old = team.pool("Civil 3D", active=False)
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, maya)
    team.assign(jdoe, old)
    team.assign(jdoe, revit, active=False)
    sessions = [
        add_session(database, "CORP\\jdoe", application, hours_ago=hours)
        for hours, application in enumerate(("Revit", "Civil 3D", "Unknown App"), start=1)
    ]
    stranger = add_session(database, "CORP\\guest", "Revit")

    counts = run(database)

    assert [stored(database, s) for s in sessions] == [("unassigned", jdoe, None)] * 3
    assert stored(database, stranger) == ("unmapped", None, None)
    assert counts == {"changed": 4, "pool": 0, "unassigned": 3, "unmapped": 1}


def test_updates_are_per_attribution_value_and_none_when_nothing_changed(database, rules):
    team = Team(database)
    revit = team.pool("Revit")
    for number in range(6):
        person = team.user(f"user{number}@corp.com")
        team.assign(person, revit)
        for hours in range(3):
            add_session(database, f"CORP\\user{number}", "Revit", hours_ago=hours)
    add_session(database, "CORP\\guest", "Revit")
    updates: list[str] = []

    def count_updates(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            updates.append(statement)

    event.listen(database.engine, "before_cursor_execute", count_updates)
    try:
        first = run(database)
        first_updates = len(updates)
        again = run(database)
    finally:
        event.remove(database.engine, "before_cursor_execute", count_updates)

    assert first["changed"] == 19
    # One statement per attribution value (pool, unmapped), not per session
    # or per host user; and none at all once everything is in place.
    assert first_updates == 2
    assert again["changed"] == 0 and len(updates) == first_updates


def test_an_admin_correction_of_pool_applications_re_attributes(admin, database, rules):
    team = Team(database)
    odd = team.pool("Bundle 7 (legacy name)")
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, odd)
    session_id = add_session(database, "CORP\\jdoe", "Revit")
    run(database)
    assert stored(database, session_id) == ("unassigned", jdoe, None)

    response = admin.put(POOL_APPLICATIONS.format(odd), json={"applications": ["Revit"]})

    assert response.status_code == 200, response.text
    assert response.json()["source"] == "explicit"
    assert stored(database, session_id) == ("pool", jdoe, odd)
    reset = admin.delete(POOL_APPLICATIONS.format(odd))
    assert reset.json()["source"] == "name" and reset.json()["applications"] == []
    assert stored(database, session_id) == ("unassigned", jdoe, None)


def test_a_new_mapping_re_attributes_the_host_users_sessions(admin, database, rules):
    team = Team(database)
    revit = team.pool("Revit")
    person = team.user("jane.doe@corp.com")
    team.assign(person, revit)
    session_id = add_session(database, "CORP\\jd", "Revit")
    run(database)
    assert stored(database, session_id) == ("unmapped", None, None)

    made = admin.post(
        "/api/v1/user-mappings", json={"host_user": "CORP\\jd", "cloud_user_id": person}
    )

    assert made.status_code == 201, made.text
    assert stored(database, session_id) == ("pool", person, revit)


def test_a_sync_that_changes_assignments_is_followed(database, rules):
    team = Team(database)
    revit = team.pool("Revit")
    jdoe = team.user("jdoe@corp.com")
    assignment = team.assign(jdoe, revit)
    session_id = add_session(database, "CORP\\jdoe", "Revit")
    run(database)
    with database.writing() as session:
        session.execute(update(Assignment).where(Assignment.id == assignment).values(active=False))
    counts = run(database, license_server_id=team.id)

    assert stored(database, session_id) == ("unassigned", jdoe, None)
    assert counts["unassigned"] == 1


def test_license_server_scope_leaves_other_servers_sessions_alone(database, rules):
    main, other = Team(database), Team(database, "Other team")
    main_user = main.user("jdoe@corp.com")
    other_user = other.user("asmith@other.com")
    mine = add_session(database, "CORP\\jdoe", "Revit")
    theirs = add_session(database, "CORP\\asmith", "Revit")
    run(database)
    assert stored(database, theirs) == ("unassigned", other_user, None)
    # Pretend both were stored wrongly; only main's may be corrected.
    with database.writing() as session:
        wrong = {"attribution": "unmapped", "cloud_user_id": None}
        session.execute(update(UsageSession).values(**wrong))

    run(database, license_server_id=main.id)

    assert stored(database, mine) == ("unassigned", main_user, None)
    assert stored(database, theirs) == ("unmapped", None, None)


def test_license_server_scope_repairs_what_a_deletion_left(database, rules):
    team = Team(database)
    revit = team.pool("Revit")
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, revit)
    session_id = add_session(database, "CORP\\jdoe", "Revit")
    run(database)
    with database.writing() as session:
        session.execute(update(UsageSession).values(product_pool_id=None))

    run(database, license_server_id=Team(database, "Unrelated").id)

    assert stored(database, session_id) == ("pool", jdoe, revit)


def test_license_server_scope_attributes_sessions_not_yet_attributed(database, rules):
    team = Team(database)
    never = add_session(database, "CORP\\guest", "Revit")

    run(database, license_server_id=team.id)

    assert stored(database, never) == ("unmapped", None, None)


def test_since_and_session_ids_scopes(database, rules):
    Team(database).user("jdoe@corp.com")
    old = add_session(database, "CORP\\jdoe", "Revit", hours_ago=48)
    recent = add_session(database, "CORP\\jdoe", "Revit", hours_ago=2)
    running = add_session(database, "CORP\\jdoe", "Revit", hours_ago=72, ended=False)
    chosen = add_session(database, "CORP\\jdoe", "Maya", hours_ago=96)

    run(database, since=T0 - timedelta(hours=3))
    assert [stored(database, s)[0] for s in (old, recent, running, chosen)] == [
        None,
        "unassigned",
        "unassigned",
        None,
    ]
    run(database, session_ids=[chosen])
    assert stored(database, chosen)[0] == "unassigned"
    assert stored(database, old)[0] is None


def test_session_ids_in_many_chunks(database, rules):
    Team(database).user("jdoe@corp.com")
    ids = [add_session(database, "CORP\\jdoe", "Revit", hours_ago=n) for n in range(3)]

    counts = run(database, session_ids=[*ids, *range(10_000, 11_200)])

    assert counts["changed"] == 3


def test_ingestion_attributes_new_agent_sessions(admin, tokens, database, rules):
    team = Team(database)
    civil = team.pool(AEC)
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, civil)
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    start = {
        "event_id": "e-1",
        "session_id": "s-1",
        "kind": "start",
        "hostname": "CAD-01",
        "username": "CORP\\JDoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": T0.isoformat(),
    }
    stop = {**start, "event_id": "e-2", "kind": "stop", "ended_at": T0.isoformat()}

    sent = admin.post(
        "/api/agent/v1/session-events", json={"events": [start]}, headers=bearer(credential)
    )
    stopped = admin.post(
        "/api/agent/v1/session-events", json={"events": [stop]}, headers=bearer(credential)
    )

    assert sent.status_code == 200 and stopped.status_code == 200, sent.text
    [item] = admin.get("/api/v1/sessions").json()["items"]
    assert (item["attribution"], item["cloud_user_id"], item["product_pool_id"]) == (
        "pool",
        jdoe,
        civil,
    )
