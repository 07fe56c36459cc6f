"""Ingestion keeps what attribution loads across batches; every change
that can alter an attribution voids it, and the next batch sees it."""

from collections.abc import Callable
from typing import Any

import pytest
from conftest import bearer, enrol
from sqlalchemy import delete, insert, select, update
from usage_data import T0, Team, rule_setter

from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.usage.models import EntitlementGeneration, PoolApplications, UserMapping

AEC = "Architecture Engineering & Construction Collection IC"


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    return rule_setter(monkeypatch)


def start(number: int) -> dict[str, Any]:
    return {
        "event_id": f"e-{number}",
        "session_id": f"s-{number}",
        "kind": "start",
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": T0.isoformat(),
    }


def attributed(admin, credential: str, number: int) -> tuple[str, int | None, int | None]:
    sent = admin.post(
        "/api/agent/v1/session-events", json={"events": [start(number)]}, headers=bearer(credential)
    )
    assert sent.status_code == 200, sent.text
    items = admin.get("/api/v1/sessions?limit=100").json()["items"]
    item = max(items, key=lambda found: found["id"])  # the session just sent
    return (item["attribution"], item["cloud_user_id"], item["product_pool_id"])


def generation(database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(EntitlementGeneration.value)))


# change name -> (what it does, given the ids, the rules setter) and the
# next session's attribution as (attribution, user key, pool key)
CHANGES: dict[str, tuple[Callable[..., Any], tuple[str, str | None, str | None]]] = {
    "assignment deactivated": (
        lambda s, ids: s.execute(update(Assignment).values(active=False)),
        ("unassigned", "jdoe", None),
    ),
    "assignment deleted": (
        lambda s, ids: s.execute(delete(Assignment)),
        ("unassigned", "jdoe", None),
    ),
    "pool deactivated": (
        lambda s, ids: s.execute(update(ProductPool).values(active=False)),
        ("unassigned", "jdoe", None),
    ),
    "pool renamed": (
        lambda s, ids: s.execute(update(ProductPool).values(name="Revit")),
        ("unassigned", "jdoe", None),
    ),
    "pool applications set": (
        lambda s, ids: s.execute(
            insert(PoolApplications).values(product_pool_id=ids["pool"], applications=["Revit"])
        ),
        ("unassigned", "jdoe", None),
    ),
    "cloud user deactivated": (
        lambda s, ids: s.execute(
            update(CloudUser).where(CloudUser.id == ids["jdoe"]).values(active=False)
        ),
        ("unmapped", None, None),
    ),
    "cloud user's email changed": (
        lambda s, ids: s.execute(
            update(CloudUser).where(CloudUser.id == ids["jdoe"]).values(email="j@corp.com")
        ),
        ("unmapped", None, None),
    ),
    "host user mapped": (
        lambda s, ids: s.execute(
            insert(UserMapping).values(
                host_user="CORP\\jdoe", host_user_key="corp\\jdoe", cloud_user_id=ids["other"]
            )
        ),
        ("unassigned", "other", None),
    ),
    "license server deleted": (
        lambda s, ids: s.execute(delete(LicenseServer)),
        ("unmapped", None, None),
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_between_batches_reaches_the_next_batch(admin, tokens, database, rules, change):
    team = Team(database)
    ids = {"pool": team.pool(AEC), "jdoe": team.user("jdoe@corp.com")}
    ids["other"] = team.user("other@corp.com")
    team.assign(ids["jdoe"], ids["pool"])
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    assert attributed(admin, credential, 1) == ("pool", ids["jdoe"], ids["pool"])
    assert attributed(admin, credential, 2) == ("pool", ids["jdoe"], ids["pool"])
    work, (expected, user, pool) = CHANGES[change]

    with database.writing() as session:
        work(session, ids)

    wanted = (expected, ids.get(user or ""), ids.get(pool or ""))
    assert attributed(admin, credential, 3) == wanted


def test_new_identity_rules_reach_the_next_batch(admin, tokens, database, rules):
    team = Team(database)
    pool, jdoe = team.pool(AEC), team.user("jdoe@corp.com")
    team.assign(jdoe, pool)
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    assert attributed(admin, credential, 1) == ("pool", jdoe, pool)

    rules("first_last")

    assert attributed(admin, credential, 2) == ("unmapped", None, None)


def test_what_a_sync_touches_on_every_row_keeps_the_generation(database):
    team = Team(database)
    pool, jdoe = team.pool(AEC), team.user("jdoe@corp.com")
    team.assign(jdoe, pool)
    before = generation(database)

    with database.writing() as session:
        session.execute(update(CloudUser).values(last_seen=T0))
        session.execute(update(Assignment).values(last_seen=T0))
        session.execute(update(ProductPool).values(last_seen=T0, assigned_seats=3))

    assert generation(database) == before
    team.assign(team.user("new@corp.com"), pool)
    assert generation(database) > before
