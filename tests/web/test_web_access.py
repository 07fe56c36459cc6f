"""Who may reach which page: every web route against nobody, a viewer and
an administrator, and every form without its CSRF token.

`PAGES` lists each web route once with a request that succeeds when the
caller is allowed. A web route the table does not list fails the suite.
"""

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import httpx
import pytest
from conftest import enrol
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from webpages import csrf_of, signed_in

from seatmeter.server.accounts.service import create_account, create_token
from seatmeter.server.agent_groups import service as groups
from seatmeter.server.autodesk import oauth
from seatmeter.server.db import Database
from seatmeter.server.db.schema import metadata
from seatmeter.server.entitlements.models import CloudUser
from seatmeter.server.usage.models import UserMapping
from seatmeter.web.routing import is_page

NOBODY, VIEWER, ADMIN = "nobody", "viewer", "admin"
ALLOWED = {"open": {NOBODY, VIEWER, ADMIN}, "viewer": {VIEWER, ADMIN}, "admin": {ADMIN}}
AGENT_ID = "agent-1"
# Where a visitor who is not signed in is sent.
SIGN_IN = "/login?next="


class Stage:
    """The people and records a page needs, made on first use."""

    def __init__(self, client: TestClient, database: Database, tokens: dict[str, str]) -> None:
        self.client = client
        self.database = database
        self.tokens = tokens

    @cached_property
    def people(self) -> dict[str, TestClient]:
        anonymous = TestClient(self.client.app, follow_redirects=False)
        return {
            NOBODY: anonymous,
            VIEWER: signed_in(self.client, self.database, "vera", "viewer"),
            ADMIN: signed_in(self.client, self.database, "ada", "admin"),
        }

    @cached_property
    def agent_id(self) -> str:
        enrol(self.client, self.tokens["agent"], AGENT_ID, "CAD-01")
        return AGENT_ID

    @cached_property
    def group_id(self) -> int:
        with self.database.writing() as session:
            return groups.create(session, "Civil", "", []).id

    @cached_property
    def server_id(self) -> int:
        admin = self.people[ADMIN]
        response = post(admin, "/license-servers", server_form(self))
        assert response.status_code == 303, response.text
        server_id = int(response.headers["location"].split("/")[2].split("?")[0])
        # Consent given, but Autodesk refuses the refresh token: "Sync now"
        # starts a sync that fails at once, calling nothing outside.
        refuse = httpx.MockTransport(lambda _: httpx.Response(400, json={"error": "invalid_grant"}))
        self.client.app.state.autodesk_transport = refuse  # type: ignore[attr-defined]
        oauth.set_refresh_token(self.database, secret_box_of(self.client), server_id, "refresh")
        return server_id

    # The report the access table opens: the one with a chart.
    report = "usage-history"

    @cached_property
    def cloud_user_id(self) -> int:
        # Created first: it posts a form, which must not wait on our session.
        server_id = self.server_id
        with self.database.writing() as session:
            person = CloudUser(license_server_id=server_id, autodesk_id="jd", email="jdoe@corp.com")
            session.add(person)
            session.flush()
            return person.id

    @cached_property
    def mapping_id(self) -> int:
        cloud_user_id = self.cloud_user_id
        with self.database.writing() as session:
            mapping = UserMapping(
                host_user="CORP\\ann", host_user_key="corp\\ann", cloud_user_id=cloud_user_id
            )
            session.add(mapping)
            session.flush()
            return mapping.id

    @cached_property
    def account_id(self) -> int:
        with self.database.writing() as session:
            return create_account(session, "jdoe", "correct horse battery", "viewer").id

    @cached_property
    def token_id(self) -> int:
        with self.database.writing() as session:
            return create_token(session, "to revoke", "read")[0].id


class PathIds(dict[str, Any]):
    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self.stage = stage

    def __missing__(self, key: str) -> Any:
        return getattr(self.stage, key)


Form = Callable[[Stage], dict[str, Any]]


@dataclass(frozen=True)
class Page:
    method: str
    path: str
    rule: str
    form: Form | None = None

    def call(self, stage: Stage, caller: str, with_csrf: bool = True) -> Response:
        person = stage.people[caller]
        url = self.path.format_map(PathIds(stage))
        if self.method == "GET":
            return person.get(url)
        data = self.form(stage) if self.form else {}
        if caller != NOBODY and with_csrf:
            data["csrf_token"] = csrf_of(person.get("/"))
        return person.post(url, data=data)


def server_form(stage: Stage) -> dict[str, Any]:
    return {
        "name": "Second team",
        "team_id": "t-2",
        "api_base_url": "https://developer.api.autodesk.com",
        "poll_interval_s": "900",
        "enabled": "on",
        "client_id": "seatmeter-app",
        "client_secret": "app-secret",
    }


def members(stage: Stage) -> dict[str, Any]:
    return {"agent_ids": [stage.agent_id]}


def post(person: TestClient, path: str, data: dict[str, Any]) -> Response:
    return person.post(path, data={**data, "csrf_token": csrf_of(person.get("/"))})


PAGES = (
    Page("GET", "/login", "open"),
    Page("GET", "/", "viewer"),
    Page("POST", "/logout", "viewer"),
    Page("GET", "/sessions/active", "viewer"),
    Page("GET", "/sessions/active/export", "viewer"),
    Page("GET", "/sessions/history", "viewer"),
    Page("GET", "/sessions/history/export", "viewer"),
    Page("GET", "/reports", "viewer"),
    Page("GET", "/reports/{report}", "viewer"),
    Page("GET", "/reports/{report}/export", "viewer"),
    Page("GET", "/reports/seat-efficiency/reclaim", "admin"),
    # No such assignment: a confirmed run that refuses it, calling nobody.
    Page(
        "POST",
        "/reports/seat-efficiency/reclaim",
        "admin",
        lambda s: {"seat": f"{s.server_id}:1:1"},
    ),
    Page("GET", "/user-mappings", "viewer"),
    Page(
        "POST",
        "/user-mappings",
        "admin",
        lambda s: {"host_user": "CORP\\jdoe", "cloud_user_id": str(s.cloud_user_id)},
    ),
    Page("POST", "/user-mappings/{mapping_id}/delete", "admin"),
    Page("GET", "/agents", "viewer"),
    Page("GET", "/agents/export", "viewer"),
    Page(
        "POST",
        "/agents/add-to-group",
        "admin",
        lambda s: {"agent_ids": [s.agent_id], "agent_group_id": str(s.group_id)},
    ),
    Page("GET", "/agent-groups", "viewer"),
    Page("POST", "/agent-groups", "admin", lambda _: {"name": "Drafting"}),
    Page("GET", "/agent-groups/{group_id}", "viewer"),
    Page("POST", "/agent-groups/{group_id}", "admin", lambda _: {"name": "Civil 2"}),
    Page("POST", "/agent-groups/{group_id}/members", "admin", members),
    Page("POST", "/agent-groups/{group_id}/members/remove", "admin", members),
    Page("POST", "/agent-groups/{group_id}/delete", "admin"),
    Page("GET", "/license-servers", "viewer"),
    Page("POST", "/license-servers", "admin", server_form),
    Page("GET", "/license-servers/{server_id}", "viewer"),
    Page("POST", "/license-servers/{server_id}", "admin", server_form),
    Page("POST", "/license-servers/{server_id}/connect", "admin"),
    Page("POST", "/license-servers/{server_id}/sync", "admin"),
    Page("POST", "/license-servers/{server_id}/delete", "admin"),
    Page("GET", "/license-servers/{server_id}/troubleshoot", "viewer"),
    Page("GET", "/troubleshoot", "viewer"),
    Page("GET", "/admin/accounts", "admin"),
    Page(
        "POST",
        "/admin/accounts",
        "admin",
        lambda _: {"name": "asmith", "password": "correct horse battery", "role": "viewer"},
    ),
    Page("POST", "/admin/accounts/{account_id}/delete", "admin"),
    Page("GET", "/admin/tokens", "admin"),
    Page("POST", "/admin/tokens", "admin", lambda _: {"name": "ci", "scope": "read"}),
    Page("POST", "/admin/tokens/{token_id}/revoke", "admin"),
)


def secret_box_of(client: TestClient) -> Any:
    return client.app.state.secret_box  # type: ignore[attr-defined]


@pytest.fixture
def stage(client: TestClient, database: Database, tokens: dict[str, str]) -> Iterator[Stage]:
    yield Stage(client, database, tokens)
    # A sync started by "Sync now" runs in a thread: let it end here.
    for thread in threading.enumerate():
        if thread.name.startswith("sync-"):
            thread.join(30)


def answer_problem(stage: Stage, page: Page, caller: str) -> str | None:
    """How the page's answer to this caller breaks its rule, if it does."""
    # Members must exist to be removed.
    if page.path.endswith("/members/remove") and caller == ADMIN:
        with stage.database.writing() as session:
            group = groups.get(session, stage.group_id)
            groups.add_members(session, group, [stage.agent_id])
    response = page.call(stage, caller)
    location = response.headers.get("location", "")
    if caller in ALLOWED[page.rule]:
        fine = response.status_code in (200, 201) or (
            response.status_code == 303 and not location.startswith(SIGN_IN)
        )
    elif caller == NOBODY:
        fine = response.status_code == 303 and location.startswith(SIGN_IN)
    else:
        fine = response.status_code == 403 and "needs an administrator" in response.text
    if fine:
        return None
    return f"{caller}: {response.status_code} {location} {response.text[-300:]}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.method} {p.path}")
def test_access(stage: Stage, page: Page) -> None:
    # Refusals first: they change nothing, so the allowed calls after
    # them still find every record in place.
    callers = sorted((NOBODY, VIEWER, ADMIN), key=lambda c: c in ALLOWED[page.rule])

    answers = [answer_problem(stage, page, caller) for caller in callers]

    assert [problem for problem in answers if problem] == []


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.method == "POST"], ids=lambda p: f"{p.method} {p.path}"
)
def test_forms_without_the_csrf_token_are_refused(stage: Stage, page: Page) -> None:
    person = stage.people[ADMIN if page.rule == "admin" else VIEWER]
    url = page.path.format_map(PathIds(stage))
    data = page.form(stage) if page.form else {}
    before = snapshot(stage.database)

    response = person.post(url, data=data)
    forged = person.post(url, data={**data, "csrf_token": "forged"})

    for refused in (response, forged):
        assert refused.status_code == 403, refused.text
        assert "CSRF token is missing or out of date" in refused.text
    assert snapshot(stage.database) == before


def snapshot(database: Database) -> dict[str, list[Any]]:
    """Every row the forms could change."""
    with database.reading() as session:
        return {
            table.name: sorted(map(repr, session.execute(select(table))))
            for table in metadata.sorted_tables
            if table.name != "agents"  # check-ins write last_seen
        }


def test_table_covers_every_page(client: TestClient) -> None:
    served = {
        (method, route.path)
        for route in iter_route_contexts(client.app.routes)
        for method in route.methods or ()
        if method != "HEAD" and is_page(route)
    }
    listed = {(page.method, page.path) for page in PAGES}
    # Signing in is tested on its own: it needs the sign-in page's cookie.
    listed.add(("POST", "/login"))

    assert sorted(served - listed) == [], "pages missing from PAGES"
    assert sorted(listed - served) == [], "PAGES lists routes the app lacks"
