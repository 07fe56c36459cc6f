"""Who may call what: every endpoint of the app against every kind of caller.

`ENDPOINTS` lists each route once, with a request that succeeds when the
caller is allowed; `access` says who is allowed, by the rules of
accounts/auth.py. A route the table does not list fails the suite, so no
endpoint ships without a decision about who may call it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import pytest
from conftest import bearer, enrol
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from seatmeter.agent.catalog import load_packaged
from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.web.routing import is_page

# The callers: nobody, an API token of each scope, and an enrolled agent.
NOBODY = "nobody"
AGENT_TOKEN = "agent token"
READ_TOKEN = "read token"
ADMIN_TOKEN = "admin token"
AGENT = "agent credential"
CALLERS = (NOBODY, AGENT_TOKEN, READ_TOKEN, ADMIN_TOKEN, AGENT)

ALLOWED = {
    "open": set(CALLERS),
    "read": {READ_TOKEN, ADMIN_TOKEN},
    "admin": {ADMIN_TOKEN},
    "enrol": {AGENT_TOKEN},
    "agent": {AGENT},
    # No credential counts: the single-use state is the proof.
    "state": set(CALLERS),
}
OPEN_PATHS = {
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
ENROL_PATH = "/api/agent/v1/enrol"
CALLBACK_PATH = "/api/v1/oauth/autodesk/callback"
AGENT_ID = "agent-1"
ERROR_CODES = {401: "unauthorized", 403: "forbidden", 400: "invalid_state"}
# API tokens by scope, as the conftest fixture gives them.
Tokens = dict[str, str]


def access(method: str, path: str) -> str:
    """Which rule of ALLOWED governs an endpoint."""
    if path in OPEN_PATHS:
        return "open"
    if path == ENROL_PATH:
        return "enrol"
    if path == CALLBACK_PATH:
        return "state"
    if path.startswith("/api/agent/v1/"):
        return "agent"
    # Who holds access is itself sensitive: even the lists of accounts
    # and tokens are for administrators.
    if path.startswith(("/api/v1/accounts", "/api/v1/tokens")):
        return "admin"
    if path.startswith("/api/v1/"):
        return "read" if method == "GET" else "admin"
    if path == "/metrics":
        return "read"
    raise AssertionError(f"no access rule for {method} {path}; add one to access()")


def expected_status(rule: str, caller: str) -> int:
    """200 stands for any 2xx; otherwise the refusal the caller must get."""
    if rule == "state":
        # Without a state, everyone gets the same 400, credentials or not.
        return 400
    if caller in ALLOWED[rule]:
        return 200
    if caller == NOBODY:
        return 401
    # The wrong kind of secret is not recognised at all: an API token is
    # no agent credential, and an agent credential is no API token.
    if rule == "agent" or caller == AGENT:
        return 401
    return 403


class Stage:
    """The records an endpoint needs, made through the API on first use."""

    def __init__(self, client: TestClient, tokens: Tokens) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, caller: str) -> dict[str, str]:
        if caller == NOBODY:
            return {}
        if caller == AGENT:
            return bearer(self.credential)
        scope = caller.removesuffix(" token")
        return bearer(self.tokens[scope])

    def create(self, path: str, body: dict[str, Any]) -> int:
        admin = bearer(self.tokens["admin"])
        response = self.client.post(path, json=body, headers=admin)
        assert response.status_code == 201, response.text
        made: int = response.json()["id"]
        return made

    @cached_property
    def credential(self) -> str:
        return enrol(self.client, self.tokens["agent"], AGENT_ID, "CAD-01")

    @cached_property
    def agent_id(self) -> str:
        assert self.credential, "enrolling is what makes the id exist"
        return AGENT_ID

    @cached_property
    def group_id(self) -> int:
        body = {"name": "Civil", "agent_ids": [self.agent_id]}
        return self.create("/api/v1/agent-groups", body)

    @cached_property
    def server_id(self) -> int:
        # Its Autodesk is a closed port: syncs fail at once, but run.
        body = {
            "name": "Main team",
            "team_id": "t-1",
            "client_id": "app-1",
            "client_secret": "app-secret",
            "api_base_url": "http://127.0.0.1:9",
        }
        server_id = self.create("/api/v1/license-servers", body)
        path = f"/api/v1/license-servers/{server_id}/refresh-token"
        admin = bearer(self.tokens["admin"])
        response = self.client.put(path, json={"refresh_token": "r-1"}, headers=admin)
        assert response.status_code == 204, response.text
        return server_id

    @cached_property
    def sync_id(self) -> int:
        path = f"/api/v1/license-servers/{self.server_id}/sync"
        admin = bearer(self.tokens["admin"])
        response = self.client.post(path, params={"wait": "true"}, headers=admin)
        assert response.status_code == 200, response.text
        made: int = response.json()["id"]
        return made

    @cached_property
    def account_id(self) -> int:
        body = {"name": "jdoe", "password": "correct horse battery"}
        return self.create("/api/v1/accounts", body)

    # The report the {name} of /api/v1/reports/{name} stands for.
    name = "utilization"

    @cached_property
    def token_id(self) -> int:
        # Its own token, so that revoking it leaves the callers' intact.
        return self.create("/api/v1/tokens", {"name": "to revoke", "scope": "read"})

    # Pools and cloud users come from the connector's sync, not the API.
    @cached_property
    def pool_id(self) -> int:
        return self._stored(
            ProductPool(license_server_id=self.server_id, product_id="p", name="Revit")
        )

    @cached_property
    def cloud_user_id(self) -> int:
        person = CloudUser(license_server_id=self.server_id, autodesk_id="US1", email="j@corp.com")
        return self._stored(person)

    @cached_property
    def mapping_id(self) -> int:
        body = {"host_user": "CORP\\jd", "cloud_user_id": self.cloud_user_id}
        return self.create("/api/v1/user-mappings", body)

    def _stored(self, row: Any) -> int:
        with self.client.app.state.database.writing() as session:
            session.add(row)
            session.flush()
            made: int = row.id
        return made


class PathIds(dict[str, Any]):
    """Fills a path template from the stage, making only what it names."""

    def __init__(self, stage: Stage) -> None:
        super().__init__()
        self.stage = stage

    def __missing__(self, key: str) -> Any:
        return getattr(self.stage, key)


Body = Callable[[Stage], Any]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: Body | None = None
    query: dict[str, str] | None = None

    def call(self, stage: Stage, headers: dict[str, str]) -> Response:
        url = self.path.format_map(PathIds(stage))
        json = self.body(stage) if self.body else None
        return stage.client.request(self.method, url, json=json, params=self.query, headers=headers)


def session_event(stage: Stage) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(minutes=5)
    event = {
        "event_id": "e-1",
        "session_id": "s-1",
        "kind": "start",
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": started.isoformat(),
    }
    return {"events": [event]}


def newer_catalog(_stage: Stage) -> dict[str, Any]:
    document = load_packaged().as_document()
    document["revision"] += 1
    return document


IMPORTED = {
    "hostname": "CAD-01",
    "username": "CORP\\jdoe",
    "application": "Revit",
    "version": "2024",
    "started_at": "2025-01-06T08:00:00Z",
    "ended_at": "2025-01-06T12:00:00Z",
}


def a_mapping(stage: Stage) -> dict[str, Any]:
    return {"host_user": "CORP\\jdoe", "cloud_user_id": stage.cloud_user_id}


def members(stage: Stage) -> dict[str, Any]:
    return {"agent_ids": [stage.agent_id]}


ENDPOINTS = (
    # Agents' own API.
    Endpoint(
        "POST",
        ENROL_PATH,
        lambda _: {
            "agent_id": "agent-2",
            "hostname": "CAD-02",
            "os": "windows",
            "agent_version": "0.1.0",
        },
    ),
    Endpoint(
        "POST",
        "/api/agent/v1/check-in",
        lambda _: {"clock": datetime.now(UTC).isoformat()},
    ),
    Endpoint("POST", "/api/agent/v1/session-events", session_event),
    # Agents.
    Endpoint("GET", "/api/v1/agents"),
    Endpoint("GET", "/api/v1/agents/{agent_id}"),
    Endpoint("DELETE", "/api/v1/agents/{agent_id}"),
    # Agent groups.
    Endpoint("GET", "/api/v1/agent-groups"),
    Endpoint("POST", "/api/v1/agent-groups", lambda _: {"name": "Drafting"}),
    Endpoint("GET", "/api/v1/agent-groups/{group_id}"),
    Endpoint(
        "PATCH",
        "/api/v1/agent-groups/{group_id}",
        lambda _: {"description": "the civil engineers"},
    ),
    Endpoint("DELETE", "/api/v1/agent-groups/{group_id}"),
    Endpoint("PUT", "/api/v1/agent-groups/{group_id}/agents", members),
    Endpoint("POST", "/api/v1/agent-groups/{group_id}/agents", members),
    Endpoint("DELETE", "/api/v1/agent-groups/{group_id}/agents/{agent_id}"),
    # License servers.
    Endpoint("GET", "/api/v1/license-servers"),
    Endpoint(
        "POST",
        "/api/v1/license-servers",
        lambda _: {"name": "Second team", "team_id": "t-2"},
    ),
    Endpoint("GET", "/api/v1/license-servers/{server_id}"),
    Endpoint(
        "PATCH",
        "/api/v1/license-servers/{server_id}",
        lambda _: {"enabled": False},
    ),
    Endpoint("DELETE", "/api/v1/license-servers/{server_id}"),
    # The Autodesk connector.
    Endpoint("POST", "/api/v1/license-servers/{server_id}/authorize"),
    Endpoint("GET", CALLBACK_PATH),
    Endpoint(
        "PUT",
        "/api/v1/license-servers/{server_id}/refresh-token",
        lambda _: {"refresh_token": "r-2"},
    ),
    Endpoint("POST", "/api/v1/license-servers/{server_id}/sync", query={"wait": "true"}),
    Endpoint("GET", "/api/v1/license-servers/{server_id}/syncs"),
    Endpoint("GET", "/api/v1/license-servers/{server_id}/syncs/{sync_id}"),
    Endpoint(
        "POST",
        "/api/v1/license-servers/{server_id}/reclaim",
        lambda _: {"assignments": [{"cloud_user_id": 1, "product_pool_id": 1}]},
    ),
    Endpoint("GET", "/api/v1/license-servers/{server_id}/reclaims"),
    # Entitlements.
    Endpoint("GET", "/api/v1/product-pools"),
    Endpoint("GET", "/api/v1/cloud-users"),
    Endpoint("GET", "/api/v1/assignments"),
    Endpoint("GET", "/api/v1/product-pool-seat-counts"),
    # Sessions.
    Endpoint("GET", "/api/v1/sessions"),
    Endpoint("POST", "/api/v1/sessions/import", lambda _: {"sessions": [IMPORTED]}),
    # Identity mapping and the pools' applications.
    Endpoint("GET", "/api/v1/user-mappings"),
    Endpoint("POST", "/api/v1/user-mappings", a_mapping),
    Endpoint("GET", "/api/v1/user-mappings/unmatched"),
    Endpoint("GET", "/api/v1/user-mappings/resolve", query={"host_user": "CORP\\jd"}),
    Endpoint("DELETE", "/api/v1/user-mappings/{mapping_id}"),
    Endpoint("GET", "/api/v1/product-pools/{pool_id}/applications"),
    Endpoint(
        "PUT",
        "/api/v1/product-pools/{pool_id}/applications",
        lambda _: {"applications": ["Revit"]},
    ),
    Endpoint("DELETE", "/api/v1/product-pools/{pool_id}/applications"),
    # Reports, and the one pool setting that is Seatmeter's own.
    Endpoint("GET", "/api/v1/reports/{name}"),
    Endpoint("PATCH", "/api/v1/product-pools/{pool_id}", lambda _: {"cost_per_seat": 10.0}),
    # The product catalog agents match processes with.
    Endpoint("GET", "/api/v1/catalog"),
    Endpoint("PUT", "/api/v1/catalog", newer_catalog),
    Endpoint("GET", "/api/agent/v1/catalog"),
    # Accounts and tokens.
    Endpoint("GET", "/api/v1/accounts"),
    Endpoint(
        "POST",
        "/api/v1/accounts",
        lambda _: {"name": "asmith", "password": "correct horse battery"},
    ),
    Endpoint("DELETE", "/api/v1/accounts/{account_id}"),
    Endpoint("GET", "/api/v1/tokens"),
    Endpoint("POST", "/api/v1/tokens", lambda _: {"name": "ci", "scope": "read"}),
    Endpoint("DELETE", "/api/v1/tokens/{token_id}"),
    # Operations and documentation.
    Endpoint("GET", "/healthz"),
    Endpoint("GET", "/readyz"),
    Endpoint("GET", "/metrics"),
    Endpoint("GET", "/openapi.json"),
    Endpoint("GET", "/docs"),
    Endpoint("GET", "/docs/oauth2-redirect"),
    Endpoint("GET", "/redoc"),
)


@pytest.fixture
def stage(client: TestClient, tokens: Tokens) -> Stage:
    return Stage(client, tokens)


def assert_refused(response: Response, status: int) -> None:
    assert refusal_problem(response, status) is None, response.text


def refusal_problem(response: Response, status: int) -> str | None:
    """What is wrong with a refusal, or None if it is the one error shape."""
    if response.status_code != status:
        return f"status {response.status_code}, not {status}"
    body = response.json()
    error = body.get("error") if isinstance(body, dict) else None
    shaped = (
        list(body) == ["error"]
        and isinstance(error, dict)
        and set(error) == {"code", "message", "details"}
        and isinstance(error["message"], str)
        and error["message"].strip() != ""
        and isinstance(error["details"], list)
    )
    if not shaped:
        return "not the one error shape"
    if error["code"] != ERROR_CODES[status]:
        return f"code {error['code']!r}, not {ERROR_CODES[status]!r}"
    return None


def answer_problem(stage: Stage, endpoint: Endpoint, rule: str, caller: str) -> str | None:
    """How the endpoint's answer to this caller breaks the rule, if it does."""
    status = expected_status(rule, caller)
    response = endpoint.call(stage, stage.headers(caller))
    if status != 200:
        problem = refusal_problem(response, status)
    elif not 200 <= response.status_code < 300:
        problem = f"status {response.status_code}, not 2xx"
    else:
        problem = None
    return f"{caller}: {problem}: {response.text[:200]}" if problem else None


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_access(stage: Stage, endpoint: Endpoint) -> None:
    rule = access(endpoint.method, endpoint.path)
    # Refusals first: they change nothing, so the allowed calls after them
    # still find every record in place. One database serves all callers.
    callers = sorted(CALLERS, key=lambda caller: caller in ALLOWED[rule])

    answers = [answer_problem(stage, endpoint, rule, caller) for caller in callers]

    assert [problem for problem in answers if problem] == []


def test_table_covers_every_route(client: TestClient) -> None:
    # FastAPI includes routers lazily; iter_route_contexts flattens them.
    served = {
        (method, route.path)
        for route in iter_route_contexts(client.app.routes)
        for method in route.methods or ()
        # Web pages answer signed-in people, not tokens; their own table
        # is tests/web/test_web_access.py.
        if method != "HEAD" and not is_page(route)
    }
    listed = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}

    assert sorted(served - listed) == [], "routes missing from ENDPOINTS"
    assert sorted(listed - served) == [], "ENDPOINTS lists routes the app lacks"


def post_events(client: TestClient, credential: str, *events: Any) -> Response:
    return client.post(
        "/api/agent/v1/session-events",
        json={"events": list(events)},
        headers=bearer(credential),
    )


def an_event(event_id: str, hostname: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "session_id": f"s-{event_id}",
        "kind": "start",
        "hostname": hostname,
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": "2026-12-01T09:00:00+00:00",
        **fields,
    }


def sessions(client: TestClient, tokens: Tokens) -> list[dict[str, Any]]:
    response = client.get("/api/v1/sessions", headers=bearer(tokens["read"]))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_agent_writes_only_as_itself(client: TestClient, tokens: Tokens) -> None:
    agent_a = enrol(client, tokens["agent"], "agent-a", "CAD-A")
    enrol(client, tokens["agent"], "agent-b", "CAD-B")

    # A batch from A that speaks of B's host is still A's.
    response = post_events(client, agent_a, an_event("e-1", "CAD-B"))

    assert response.status_code == 200, response.text
    stored = sessions(client, tokens)
    assert [(s["agent_id"], s["hostname"]) for s in stored] == [("agent-a", "CAD-B")]


def test_event_cannot_name_its_agent(client: TestClient, tokens: Tokens) -> None:
    agent_a = enrol(client, tokens["agent"], "agent-a", "CAD-A")
    enrol(client, tokens["agent"], "agent-b", "CAD-B")
    claiming_b = an_event("e-1", "CAD-B", agent_id="agent-b")

    response = post_events(client, agent_a, claiming_b)

    assert response.status_code == 422, response.text
    assert "agent_id" in response.json()["error"]["message"]
    assert sessions(client, tokens) == []


def test_enrolling_again_retires_the_old_credential(client: TestClient, tokens: Tokens) -> None:
    old = enrol(client, tokens["agent"], "agent-a", "CAD-A")
    new = enrol(client, tokens["agent"], "agent-a", "CAD-A")
    check_in = {"clock": datetime.now(UTC).isoformat()}

    refused = [
        client.post("/api/agent/v1/check-in", json=check_in, headers=bearer(old)),
        post_events(client, old, an_event("e-1", "CAD-A")),
    ]

    for response in refused:
        assert_refused(response, 401)
    assert sessions(client, tokens) == []
    response = client.post("/api/agent/v1/check-in", json=check_in, headers=bearer(new))
    assert response.status_code == 200, response.text
    assert post_events(client, new, an_event("e-1", "CAD-A")).status_code == 200


def test_deleted_agent_credential_stops_working(client: TestClient, tokens: Tokens) -> None:
    credential = enrol(client, tokens["agent"], "agent-a", "CAD-A")
    deleted = client.delete("/api/v1/agents/agent-a", headers=bearer(tokens["admin"]))
    assert deleted.status_code == 204, deleted.text

    response = post_events(client, credential, an_event("e-1", "CAD-A"))

    assert_refused(response, 401)
    assert sessions(client, tokens) == []
