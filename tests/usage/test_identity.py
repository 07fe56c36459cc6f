"""Host users to cloud users: the rules in order, domain limits, many to
many, the unmatched lists, and the administrator's mappings by the API."""

from collections.abc import Callable

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient
from usage_data import Team, add_session, rule_setter

from seatmeter.server.accounts.service import create_token
from seatmeter.server.app import create_app
from seatmeter.server.settings import SettingsError, load
from seatmeter.server.usage.identity import (
    Directory,
    IdentityRules,
    account_name,
    host_users_for,
    unmatched,
)
from seatmeter.server.usage.models import UserMapping

MAPPINGS = "/api/v1/user-mappings"


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    return rule_setter(monkeypatch)


def resolve(database, host_user: str) -> tuple[str | None, tuple[int, ...]]:
    with database.reading() as session:
        found = Directory.load(session).resolve(host_user)
    return found.rule, found.cloud_user_ids


def map_by_hand(database, host_user: str, cloud_user_id: int) -> None:
    with database.writing() as session:
        mapping = UserMapping(
            host_user=host_user, host_user_key=host_user.lower(), cloud_user_id=cloud_user_id
        )
        session.add(mapping)


@pytest.mark.parametrize(
    ("host_user", "name"),
    [("CORP\\JDoe", "jdoe"), ("jdoe", "jdoe"), (" CORP\\sub\\jdoe ", "jdoe"), ("J.Doe", "j.doe")],
)
def test_account_name_drops_the_domain_and_case(host_user, name):
    assert account_name(host_user) == name


def test_domain_name_and_bare_name_match_the_email_local_part(database, rules):
    team = Team(database)
    jdoe = team.user("JDoe@Corp.com")

    assert resolve(database, "CORP\\jdoe") == ("email", (jdoe,))
    assert resolve(database, "jdoe") == ("email", (jdoe,))
    assert resolve(database, "CORP\\asmith") == (None, ())


def test_first_dot_last_matches_when_the_email_does_not(database, rules):
    team = Team(database)
    jane = team.user("jd4711@corp.com", "Jane", "Doe")

    assert resolve(database, "CORP\\jane.doe") == ("first_last", (jane,))
    assert resolve(database, "CORP\\JANE.DOE") == ("first_last", (jane,))
    no_email = team.user(None, "Max", "Mustermann")
    assert resolve(database, "max.mustermann") == ("first_last", (no_email,))
    rules(domains="corp.com")
    assert resolve(database, "max.mustermann") == (None, ())


def test_the_first_rule_that_finds_anyone_decides(database, rules):
    team = Team(database)
    by_email = team.user("jane.doe@corp.com")
    by_name = team.user("jd@corp.com", "Jane", "Doe")
    by_hand = team.user("someone@corp.com")
    map_by_hand(database, "CORP\\jane.doe", by_hand)

    assert resolve(database, "CORP\\jane.doe") == ("explicit", (by_hand,))
    rules("first_last,email")
    assert resolve(database, "CORP\\jane.doe") == ("first_last", (by_name,))
    rules("email")
    assert resolve(database, "CORP\\jane.doe") == ("email", (by_email,))


def test_a_bare_mapping_covers_every_domain_a_qualified_one_only_its_own(database, rules):
    team = Team(database)
    cloud = team.user("x@corp.com")
    other = team.user("y@corp.com")
    map_by_hand(database, "cad", cloud)
    map_by_hand(database, "LAB\\Operator", other)

    assert resolve(database, "CORP\\cad") == ("explicit", (cloud,))
    assert resolve(database, "lab\\operator") == ("explicit", (other,))
    assert resolve(database, "CORP\\operator") == (None, ())


def test_email_domains_limit_the_name_rules_only(database, rules):
    team = Team(database)
    inside = team.user("jdoe@corp.com")
    team.user("jdoe@gmail.com")
    contractor = team.user("pat@partner.com", "Pat", "Lee")
    map_by_hand(database, "CORP\\pat.lee", contractor)

    rules(domains="corp.com, CORP.co.uk")

    assert resolve(database, "CORP\\jdoe") == ("email", (inside,))
    # An explicit mapping is the administrator's word, outside any domain.
    assert resolve(database, "CORP\\pat.lee") == ("explicit", (contractor,))
    rules("email,first_last", domains="corp.com")
    assert resolve(database, "CORP\\pat.lee") == (None, ())


def test_many_to_many_and_inactive_cloud_users_are_not_matched(database, rules):
    main, second = Team(database), Team(database, "Second team")
    on_main = main.user("jdoe@corp.com")
    on_second = second.user("jdoe@corp.co.uk")
    second.user("left@corp.com", active=False)
    admin_a, admin_b = main.user("a@corp.com"), main.user("b@corp.com")
    map_by_hand(database, "CORP\\cadadmin", admin_a)
    map_by_hand(database, "CORP\\cadadmin", admin_b)
    map_by_hand(database, "CORP\\cadadmin2", admin_a)

    assert resolve(database, "CORP\\jdoe") == ("email", (on_main, on_second))
    assert resolve(database, "CORP\\cadadmin") == ("explicit", (admin_a, admin_b))
    assert resolve(database, "CORP\\left") == (None, ())
    add_session(database, "CORP\\cadadmin", "Revit")
    add_session(database, "CORP\\jdoe", "Revit")
    with database.reading() as session:
        found = host_users_for(session, [admin_a, admin_b, on_second, 999])
    assert found == {
        admin_a: ["CORP\\cadadmin", "CORP\\cadadmin2"],
        admin_b: ["CORP\\cadadmin"],
        on_second: ["CORP\\jdoe"],
        999: [],
    }


def test_unmatched_lists_both_sides(database, rules):
    team = Team(database)
    team.user("jdoe@corp.com")
    lonely = team.user("nobody-uses-me@corp.com", "No", "Body")
    team.user("gone@corp.com", active=False)
    add_session(database, "CORP\\jdoe", "Revit")
    add_session(database, "CORP\\guest", "Revit", hours_ago=1)
    add_session(database, "CORP\\guest", "AutoCAD", hours_ago=3)

    with database.reading() as session:
        found = unmatched(session)

    assert [(h["host_user"], h["sessions"]) for h in found["host_users"]] == [("CORP\\guest", 2)]
    assert found["host_users"][0]["last_started_at"].hour == 8
    assert [c["id"] for c in found["cloud_users"]] == [lonely]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ({"identity_rules": "email,ldap"}, "identity_rules"),
        ({"identity_rules": "email,email"}, "identity_rules"),
        ({"identity_email_domains": "@corp.com"}, "identity_email_domains"),
        ({"identity_email_domains": "corp.com,,x.com"}, "identity_email_domains"),
    ],
)
def test_bad_identity_settings_stop_the_start(flags, said):
    with pytest.raises(SettingsError, match=said):
        load(flags=flags, environ={})


def test_identity_settings_are_read():
    settings = load(
        flags={"identity_rules": "first_last, explicit", "identity_email_domains": "Corp.com"},
        environ={},
    )

    assert IdentityRules.from_settings(settings) == IdentityRules(
        ("first_last", "explicit"), frozenset({"corp.com"})
    )


def test_mappings_by_api_create_list_resolve_and_delete(admin, database):
    team = Team(database)
    cloud = team.user("cad.admin@corp.com")
    session_id = add_session(database, "CORP\\Operator", "Revit")

    made = admin.post(MAPPINGS, json={"host_user": " CORP\\Operator ", "cloud_user_id": cloud})
    again = admin.post(MAPPINGS, json={"host_user": "corp\\operator", "cloud_user_id": cloud})
    listed = admin.get(MAPPINGS, params={"host_user": "CORP\\OPERATOR"})
    resolved = admin.get(f"{MAPPINGS}/resolve", params={"host_user": "corp\\operator"})
    sessions = admin.get("/api/v1/sessions").json()["items"]

    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["host_user"], body["cloud_user_id"]) == ("CORP\\Operator", cloud)
    assert body["email"] == "cad.admin@corp.com"
    assert again.status_code == 409 and again.json()["error"]["code"] == "mapping_exists"
    assert [item["id"] for item in listed.json()["items"]] == [body["id"]]
    assert resolved.json() == {
        "host_user": "corp\\operator",
        "rule": "explicit",
        "cloud_user_ids": [cloud],
    }
    # The mapping re-attributed the host user's sessions at once.
    assert [(s["id"], s["cloud_user_id"]) for s in sessions] == [(session_id, cloud)]

    deleted = admin.delete(f"{MAPPINGS}/{body['id']}")
    assert deleted.status_code == 204
    assert admin.get(MAPPINGS).json()["items"] == []
    after = admin.get("/api/v1/sessions").json()["items"]
    assert [(s["cloud_user_id"], s["attribution"]) for s in after] == [(None, "unmapped")]
    assert admin.delete(f"{MAPPINGS}/{body['id']}").status_code == 404


def test_mapping_an_unknown_cloud_user_names_the_field(admin):
    response = admin.post(MAPPINGS, json={"host_user": "CORP\\x", "cloud_user_id": 4242})

    assert response.status_code == 422
    assert "cloud_user_id" in response.json()["error"]["message"]
    assert "4242" in response.json()["error"]["message"]


def test_unmatched_by_api(admin, database):
    team = Team(database)
    lonely = team.user("lonely@corp.com")
    add_session(database, "CORP\\guest", "Revit")

    found = admin.get(f"{MAPPINGS}/unmatched").json()

    assert [h["host_user"] for h in found["host_users"]] == ["CORP\\guest"]
    assert [c["id"] for c in found["cloud_users"]] == [lonely]


def test_the_app_installs_the_settings_rules(database_url, database, tmp_path, rules):
    team = Team(database)
    team.user("jdoe@gmail.com")
    settings = make_settings(database_url, tmp_path, identity_email_domains="corp.com")
    with TestClient(create_app(settings, database)) as client:
        with database.writing() as session:
            _, token = create_token(session, "identity test", "admin")
        client.headers["Authorization"] = f"Bearer {token}"
        found = client.get(f"{MAPPINGS}/resolve", params={"host_user": "CORP\\jdoe"})

    assert found.json()["rule"] is None
