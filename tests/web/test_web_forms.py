"""Bad input at every web form: always a 4xx page with the API's message,
naming the field at fault; never a 500, and nothing stored.

Each case is one form with one thing wrong; its path's ids exist unless
the case is about an unknown one.
"""

from dataclasses import dataclass
from typing import Any

import pytest
from conftest import enrol
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from webpages import csrf_of, signed_in

from seatmeter.server.agent_groups import service as groups
from seatmeter.server.db import Database
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.web.routing import is_page

SERVER = {
    "name": "Team",
    "team_id": "t-1",
    "api_base_url": "https://developer.api.autodesk.com",
    "poll_interval_s": "900",
}


@dataclass(frozen=True)
class Case:
    path: str
    form: dict[str, Any]
    status: int
    # Text the message must hold: the field, and what is wrong.
    says: str


def server(**changes: Any) -> dict[str, Any]:
    return {**SERVER, **changes}


CASES = (
    Case("/agent-groups", {"name": ""}, 422, "name: give a name"),
    Case("/agent-groups", {"name": "Default"}, 409, "name: an agent group named"),
    Case(
        "/agent-groups",
        {"name": "x", "auto_assign_rules": "os beos"},
        422,
        "auto_assign_rules line 1",
    ),
    Case(
        "/agent-groups",
        {"name": "x", "auto_assign_rules": "all\nnetwork 10.0.0/99"},
        422,
        "auto_assign_rules line 2",
    ),
    Case("/agent-groups", {"name": "a\x00b"}, 422, "name: text may not contain NUL"),
    Case("/agent-groups/{group}", {"name": "x" * 101}, 422, "name: give a name"),
    Case("/agent-groups/999999", {"name": "x"}, 404, "agent group 999999 does not exist"),
    Case("/agent-groups/{group}/members", {}, 422, "agent_ids: tick at least one"),
    Case("/agent-groups/{group}/members", {"agent_ids": "nope"}, 422, "agent_ids: unknown"),
    Case("/agent-groups/{group}/members/remove", {"agent_ids": "nope"}, 404, "does not exist"),
    Case("/agent-groups/{default}/delete", {}, 409, "is selected on license server"),
    Case("/agents/add-to-group", {"agent_group_id": "{group}"}, 422, "agent_ids: tick"),
    Case(
        "/agents/add-to-group",
        {"agent_ids": "agent-1", "agent_group_id": "x"},
        422,
        "agent_group_id: choose",
    ),
    Case(
        "/agents/add-to-group",
        {"agent_ids": "agent-1", "agent_group_id": "999999"},
        404,
        "agent group 999999",
    ),
    Case("/license-servers", server(name=""), 422, "name: give"),
    Case("/license-servers", server(name="Existing"), 409, "a license server named"),
    Case("/license-servers", server(team_id=""), 422, "team_id: give"),
    Case("/license-servers", server(api_base_url="ftp://x"), 422, "api_base_url: must be"),
    Case("/license-servers", server(poll_interval_s="5"), 422, "poll_interval_s: give"),
    Case("/license-servers", server(poll_interval_s="lots"), 422, "poll_interval_s: give"),
    Case("/license-servers", server(agent_group_ids="999999"), 422, "agent_group_ids: unknown"),
    Case("/license-servers", server(agent_group_ids="x"), 422, "agent_group_ids: choose"),
    Case("/license-servers/{server}", server(poll_interval_s="0"), 422, "poll_interval_s"),
    Case("/license-servers/999999", server(), 404, "license server 999999 does not exist"),
    Case("/license-servers/999999/delete", {}, 404, "license server 999999"),
    Case(
        "/admin/accounts",
        {"name": "jo", "password": "short", "role": "viewer"},
        422,
        "password: needs at least 10",
    ),
    Case(
        "/admin/accounts",
        {"name": "jo", "password": "x" * 12, "role": "owner"},
        422,
        "role: choose one of admin, viewer",
    ),
    Case("/admin/accounts", {"name": "ada", "password": "x" * 12}, 409, "account named 'ada'"),
    Case("/admin/accounts/{me}/delete", {}, 409, "you cannot delete the account you are"),
    Case("/admin/accounts/999999/delete", {}, 404, "account 999999 does not exist"),
    Case("/admin/tokens", {"name": "ci", "scope": "root"}, 422, "scope: choose one of"),
    Case("/admin/tokens", {"name": " ", "scope": "read"}, 422, "name: give a name"),
    Case("/admin/tokens/999999/revoke", {}, 404, "API token 999999 does not exist"),
    Case("/license-servers/999999/connect", {}, 404, "license server 999999 does not exist"),
    Case("/license-servers/{server}/connect", {}, 422, "client_id"),
    Case("/license-servers/999999/sync", {}, 404, "license server 999999 does not exist"),
    Case("/license-servers/{server}/sync", {}, 409, "has no Autodesk consent yet"),
    Case("/user-mappings", {"host_user": "", "cloud_user_id": "1"}, 422, "host_user"),
    Case("/user-mappings", {"host_user": "CORP\\jd", "cloud_user_id": "x"}, 422, "cloud_user_id"),
    Case("/user-mappings/999999/delete", {}, 404, "999999"),
    Case("/reports/seat-efficiency/reclaim", {}, 422, "seat"),
)


class Stage:
    def __init__(self, client: TestClient, database: Database, tokens: dict[str, str]) -> None:
        self.admin = signed_in(client, database, "ada", "admin")
        enrol(client, tokens["agent"], "agent-1", "CAD-01")
        with database.writing() as session:
            group = groups.create(session, "Civil", "", [])
            existing = LicenseServer(name="Existing", team_id="t-0")
            default = groups.get(session, 1)
            existing.agent_groups = [default]
            session.add(existing)
            session.flush()
            self.ids = {"group": group.id, "server": existing.id, "default": 1, "me": 1}

    def fill(self, text: str) -> str:
        return text.format(**self.ids)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.path} {c.says}")
def test_bad_form_input_is_a_clear_refusal(
    client: TestClient, database: Database, tokens: dict[str, str], case: Case
) -> None:
    stage = Stage(client, database, tokens)
    form = {
        key: stage.fill(value) if isinstance(value, str) else value
        for key, value in case.form.items()
    }
    form["csrf_token"] = csrf_of(stage.admin.get("/"))

    response = stage.admin.post(stage.fill(case.path), data=form)

    assert response.status_code == case.status, response.text[-600:]
    message = response.text.split('role="alert">')[1].split("</p>")[0]
    assert case.says.replace("'", "&#39;") in message
    assert "<title>Error" in response.text


def test_every_form_has_cases(client: TestClient) -> None:
    forms = {
        route.path
        for route in iter_route_contexts(client.app.routes)
        if is_page(route) and "POST" in (route.methods or ())
    }
    covered = {template for template in forms for case in CASES if _matches(template, case.path)}
    # Signing in and out take no input but the CSRF token, tested apart.
    assert sorted(forms - covered - {"/login", "/logout"}) == []


def _matches(template: str, path: str) -> bool:
    wanted, given = template.split("/"), path.split("/")
    return len(wanted) == len(given) and all(
        w == g or w.startswith("{") for w, g in zip(wanted, given, strict=True)
    )
