"""Agent groups as the seed describes them: who monitors follows from
groups selected on Autodesk license servers, with nothing to do on the host.
"""

from datetime import UTC, datetime

import pytest
from conftest import bearer, enrol
from fastapi.testclient import TestClient

from seatmeter.server.agent_groups.rules import Rule, matches


def check_in(client: TestClient, credential: str) -> dict:
    response = client.post(
        "/api/agent/v1/check-in",
        json={"clock": datetime.now(UTC).isoformat()},
        headers=bearer(credential),
    )
    assert response.status_code == 200, response.text
    return response.json()


def default_group(admin: TestClient) -> dict:
    groups = admin.get("/api/v1/agent-groups").json()["items"]
    return next(group for group in groups if group["is_default"])


def new_group(admin: TestClient, name: str, **fields) -> dict:
    response = admin.post("/api/v1/agent-groups", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def new_server(admin: TestClient, name: str = "Main team", **fields) -> dict:
    body = {"name": name, "team_id": "100001", **fields}
    response = admin.post("/api/v1/license-servers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_first_start_has_a_default_group_taking_every_agent(admin):
    group = default_group(admin)

    assert group["name"] == "Default"
    assert group["auto_assign_rules"] == [{"kind": "all", "value": None}]


def test_fresh_install_monitors_once_a_license_server_exists(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    assert check_in(admin, credential)["monitoring"] is False

    server = new_server(admin)

    assert server["agent_group_ids"] == [default_group(admin)["id"]]
    told = check_in(admin, credential)
    assert told["monitoring"] is True
    assert "'Default'" in told["reason"]
    assert told["license_server_ids"] == [server["id"]]


def test_explicit_empty_choice_selects_no_group(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")

    server = new_server(admin, agent_group_ids=[])

    assert server["agent_group_ids"] == []
    assert check_in(admin, credential)["monitoring"] is False


def test_monitoring_follows_selection_and_enabled_flag(admin, tokens):
    cad = new_group(admin, "CAD")
    first = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    second = enrol(admin, tokens["agent"], "agent-2", "CAD-02")
    admin.put(f"/api/v1/agent-groups/{cad['id']}/agents", json={"agent_ids": ["agent-1"]})
    server = new_server(admin, agent_group_ids=[cad["id"]])

    assert check_in(admin, first)["monitoring"] is True
    assert check_in(admin, second)["monitoring"] is False

    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"enabled": False})
    assert check_in(admin, first)["monitoring"] is False

    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"enabled": True})
    admin.delete(f"/api/v1/agent-groups/{cad['id']}/agents/agent-1")
    told = check_in(admin, first)
    assert told["monitoring"] is False
    assert "'Default'" in told["reason"]


def test_the_agent_record_shows_what_it_was_told(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    new_server(admin)
    check_in(admin, credential)

    agent = admin.get("/api/v1/agents/agent-1").json()

    assert agent["monitoring"] is True
    assert agent["status"] == "online"
    assert agent["group_ids"] == [default_group(admin)["id"]]


def test_a_selected_group_cannot_be_deleted_silently(admin):
    cad = new_group(admin, "CAD")
    server = new_server(admin, "Design team", agent_group_ids=[cad["id"]])

    refused = admin.delete(f"/api/v1/agent-groups/{cad['id']}")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "agent_group_in_use"
    assert "'Design team'" in error["message"]
    assert admin.get(f"/api/v1/agent-groups/{cad['id']}").status_code == 200

    admin.patch(f"/api/v1/license-servers/{server['id']}", json={"agent_group_ids": []})
    assert admin.delete(f"/api/v1/agent-groups/{cad['id']}").status_code == 204
    assert admin.get(f"/api/v1/agent-groups/{cad['id']}").status_code == 404


def test_rename_describe_and_rules_change(admin):
    cad = new_group(admin, "CAD")

    changed = admin.patch(
        f"/api/v1/agent-groups/{cad['id']}",
        json={
            "name": "CAD workstations",
            "description": "Floor 3",
            "auto_assign_rules": [{"kind": "hostname", "value": "CAD-*"}],
        },
    ).json()

    assert changed["name"] == "CAD workstations"
    assert changed["description"] == "Floor 3"
    assert changed["auto_assign_rules"] == [{"kind": "hostname", "value": "CAD-*"}]
    kept = admin.patch(f"/api/v1/agent-groups/{cad['id']}", json={"description": "x"})
    assert kept.json()["name"] == "CAD workstations"


def test_membership_set_add_and_remove(admin, tokens):
    for number in range(3):
        enrol(admin, tokens["agent"], f"agent-{number}", f"PC-{number}")
    group = new_group(admin, "Pilot", agent_ids=["agent-0"])
    assert group["agent_ids"] == ["agent-0"]

    added = admin.post(
        f"/api/v1/agent-groups/{group['id']}/agents",
        json={"agent_ids": ["agent-1", "agent-0"]},
    ).json()
    assert added["agent_ids"] == ["agent-0", "agent-1"]

    replaced = admin.put(
        f"/api/v1/agent-groups/{group['id']}/agents", json={"agent_ids": ["agent-2"]}
    ).json()
    assert replaced["agent_ids"] == ["agent-2"]
    assert replaced["agent_count"] == 1

    gone = admin.delete(f"/api/v1/agent-groups/{group['id']}/agents/agent-2")
    assert gone.status_code == 204
    assert admin.get(f"/api/v1/agent-groups/{group['id']}").json()["agent_ids"] == []


def test_an_agent_may_be_in_several_groups(admin, tokens):
    enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    first = new_group(admin, "First", agent_ids=["agent-1"])
    second = new_group(admin, "Second", agent_ids=["agent-1"])

    agent = admin.get("/api/v1/agents/agent-1").json()

    assert {first["id"], second["id"]} <= set(agent["group_ids"])
    listed = admin.get(f"/api/v1/agents?agent_group_id={second['id']}").json()
    assert [item["id"] for item in listed["items"]] == ["agent-1"]


def test_auto_assign_rules_place_newly_enrolled_agents(admin, tokens):
    cad = new_group(admin, "CAD", auto_assign_rules=[{"kind": "hostname", "value": "cad-*"}])
    linux = new_group(admin, "Linux", auto_assign_rules=[{"kind": "os", "value": "Linux"}])
    local = new_group(
        admin, "Loopback", auto_assign_rules=[{"kind": "network", "value": "127.0.0.0/8"}]
    )
    remote = new_group(
        admin, "Branch", auto_assign_rules=[{"kind": "network", "value": "10.20.0.0/16"}]
    )
    enrol(admin, tokens["agent"], "agent-1", "CAD-01", os="windows")
    enrol(admin, tokens["agent"], "agent-2", "render-7", os="linux")

    first = set(admin.get("/api/v1/agents/agent-1").json()["group_ids"])
    second = set(admin.get("/api/v1/agents/agent-2").json()["group_ids"])

    # The test client connects from "testclient", which is no IPv4 address.
    assert cad["id"] in first and linux["id"] not in first
    assert linux["id"] in second and cad["id"] not in second
    assert local["id"] not in first | second
    assert remote["id"] not in first | second


def test_rules_only_apply_at_first_enrolment(admin, tokens):
    enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    cad = new_group(admin, "CAD", auto_assign_rules=[{"kind": "hostname", "value": "CAD-*"}])

    enrol(admin, tokens["agent"], "agent-1", "CAD-01")

    assert cad["id"] not in admin.get("/api/v1/agents/agent-1").json()["group_ids"]


@pytest.mark.parametrize(
    ("rule", "hostname", "os", "address", "expected"),
    [
        ({"kind": "all"}, "x", "windows", None, True),
        ({"kind": "hostname", "value": "CAD-??"}, "cad-01", "windows", None, True),
        ({"kind": "hostname", "value": "CAD-??"}, "CAD-100", "windows", None, False),
        ({"kind": "os", "value": "Windows"}, "x", "windows", None, True),
        ({"kind": "os", "value": "macos"}, "x", "windows", None, False),
        ({"kind": "network", "value": "10.1.0.0/16"}, "x", "linux", "10.1.200.3", True),
        ({"kind": "network", "value": "10.1.0.0/16"}, "x", "linux", "10.2.0.1", False),
        ({"kind": "network", "value": "10.1.0.0/16"}, "x", "linux", None, False),
        ({"kind": "network", "value": "10.1.0.0/16"}, "x", "linux", "::1", False),
    ],
)
def test_rule_matching(rule, hostname, os, address, expected):
    assert matches(Rule(**rule), hostname, os, address) is expected
