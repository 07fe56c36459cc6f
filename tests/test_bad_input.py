"""Bad input at every write endpoint: always a 4xx in the one error shape,
with a message that names the field at fault and shows the bad value.

Each `Case` is one request with one thing wrong; everything else in it is
valid, and ids in its path exist unless the case is about an unknown id.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import pytest
from conftest import bearer, enrol
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response

from seatmeter.agent.catalog import load_packaged
from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.settings import Settings
from seatmeter.web.routing import is_page

ENROL = "/api/agent/v1/enrol"
CHECK_IN = "/api/agent/v1/check-in"
EVENTS = "/api/agent/v1/session-events"
AGENTS = "/api/v1/agents"
GROUPS = "/api/v1/agent-groups"
GROUP = "/api/v1/agent-groups/{group_id}"
MEMBERS = "/api/v1/agent-groups/{group_id}/agents"
MEMBER = "/api/v1/agent-groups/{group_id}/agents/{agent_id}"
SERVERS = "/api/v1/license-servers"
SERVER = "/api/v1/license-servers/{server_id}"
ACCOUNTS = "/api/v1/accounts"
TOKENS = "/api/v1/tokens"
CATALOG = "/api/v1/catalog"
MAPPINGS = "/api/v1/user-mappings"
POOL_APPLICATIONS = "/api/v1/product-pools/{pool_id}/applications"
IMPORT = "/api/v1/sessions/import"
AUTHORIZE = "/api/v1/license-servers/{server_id}/authorize"
REFRESH_TOKEN = "/api/v1/license-servers/{server_id}/refresh-token"
SYNC = "/api/v1/license-servers/{server_id}/sync"
RECLAIM = "/api/v1/license-servers/{server_id}/reclaim"
SEAT = {"cloud_user_id": 1, "product_pool_id": 1}
POOL = "/api/v1/product-pools/{pool_id}"
REPORTS = "/api/v1/reports"

AGENT_ID = "agent-1"
UNKNOWN = 999_999
# Past what the id columns hold: 32 bits on PostgreSQL, 64 on SQLite.
OVER_INT32 = 2**31
OVER_INT64 = 2**63
NO_BODY = object()
# API tokens by scope, as the conftest fixture gives them.
Tokens = dict[str, str]

ENROLMENT = {
    "agent_id": "agent-2",
    "hostname": "CAD-02",
    "os": "windows",
    "agent_version": "0.1.0",
}
REPORT = {"clock": "2026-12-01T09:00:00+00:00"}
EVENT = {
    "event_id": "e-1",
    "session_id": "s-1",
    "kind": "start",
    "hostname": "CAD-01",
    "username": "CORP\\jdoe",
    "application": "Civil 3D",
    "version": "2024",
    "source": "process",
    "started_at": "2026-12-01T09:00:00+00:00",
}
STOP = {
    **EVENT,
    "event_id": "e-2",
    "kind": "stop",
    "ended_at": "2026-12-01T10:00:00+00:00",
}
NEW_GROUP = {"name": "Drafting"}
NEW_SERVER = {"name": "Second team", "team_id": "t-2"}
NEW_ACCOUNT = {"name": "asmith", "password": "correct horse battery"}
NEW_TOKEN = {"name": "ci", "scope": "read"}
IMPORTED = {
    "hostname": "CAD-01",
    "username": "CORP\\jdoe",
    "application": "Revit",
    "version": "2024",
    "started_at": "2025-01-06T08:00:00Z",
    "ended_at": "2025-01-06T12:00:00Z",
}
CSV_HEADER = "hostname,username,application,version,started_at,ended_at\r\n"


class Stage:
    """The records a case needs, made through the API on first use."""

    def __init__(self, client: TestClient, tokens: Tokens, settings: Settings) -> None:
        self.client = client
        self.tokens = tokens
        self.settings = settings

    def headers(self, path: str) -> dict[str, str]:
        """Credentials that pass, so that only the input is at fault."""
        if path == ENROL:
            return bearer(self.tokens["agent"])
        if path.startswith("/api/agent/"):
            return bearer(self.credential)
        return bearer(self.tokens["admin"])

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, json=body, headers=self.headers(path))
        assert response.status_code == 201, response.text
        made: dict[str, Any] = response.json()
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
        group = self.create(GROUPS, {"name": "Civil", "agent_ids": [self.agent_id]})
        return int(group["id"])

    @cached_property
    def server(self) -> dict[str, Any]:
        # Left without a choice, it selects the default agent group.
        return self.create(SERVERS, {"name": "Main team", "team_id": "t-1"})

    @cached_property
    def server_id(self) -> int:
        return int(self.server["id"])

    @cached_property
    def selected_group_id(self) -> int:
        return int(self.server["agent_group_ids"][0])

    @cached_property
    def other_server_id(self) -> int:
        return int(self.create(SERVERS, {"name": "Other team", "team_id": "t-3"})["id"])

    @cached_property
    def account_id(self) -> int:
        body = {"name": "jdoe", "password": "correct horse battery"}
        return int(self.create(ACCOUNTS, body)["id"])

    # Pools and cloud users come from the connector's sync, not the API.
    @cached_property
    def pool_id(self) -> int:
        pool = ProductPool(license_server_id=self.server_id, product_id="p", name="Revit")
        return self._stored(pool)

    @cached_property
    def cloud_user_id(self) -> int:
        person = CloudUser(license_server_id=self.server_id, autodesk_id="US1", email="j@corp.com")
        return self._stored(person)

    @cached_property
    def mapping_id(self) -> int:
        return int(self.create(MAPPINGS, a_mapping(self))["id"])

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


@dataclass(frozen=True)
class Case:
    """One bad request and what the answer must say about it.

    `body` is a JSON value, raw bytes, or a function of the stage giving
    either; `field` must appear in the message, `value` in the message or
    the details; `needs` names stage records to make first.
    """

    name: str
    method: str
    path: str
    body: Any = NO_BODY
    status: int | tuple[int, ...] = 422
    code: str | None = "invalid_value"
    field: str | None = None
    value: str | None = None
    needs: tuple[str, ...] = ()
    content_type: str = "application/json"

    def send(self, stage: Stage) -> Response:
        for record in self.needs:
            getattr(stage, record)
        url = self.path.format_map(PathIds(stage))
        body = resolve(self.body, stage)
        headers = stage.headers(self.path)
        if body is NO_BODY:
            return stage.client.request(self.method, url, headers=headers)
        if isinstance(body, bytes | Iterator):
            headers["content-type"] = self.content_type
            return stage.client.request(self.method, url, content=body, headers=headers)
        return stage.client.request(self.method, url, json=body, headers=headers)


def a_mapping(stage: Stage, **changes: Any) -> dict[str, Any]:
    return {"host_user": "CORP\\jd", "cloud_user_id": stage.cloud_user_id, **changes}


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def without(base: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in base.items() if key != name}


def batch(*events: Any) -> dict[str, Any]:
    return {"events": list(events)}


def members(*extra: Any) -> Callable[[Stage], dict[str, Any]]:
    return lambda stage: {"agent_ids": [stage.agent_id, *extra]}


def resolve(body: Any, stage: Stage) -> Any:
    return body(stage) if callable(body) else body


def cases_for(method: str, path: str) -> Callable[..., Case]:
    """A maker of cases for one endpoint, each named after it.

    `at` is the path actually requested, where it differs from the route.
    """

    def case(
        name: str,
        body: Any = NO_BODY,
        field: str | None = None,
        value: str | None = None,
        at: str | None = None,
        **expected: Any,
    ) -> Case:
        where = f"{method} {path}: {name}"
        return Case(where, method, at or path, body, field=field, value=value, **expected)

    return case


# Write endpoints that take a body, each with a valid one to spoil.
BODIES: tuple[tuple[str, str, Any], ...] = (
    ("POST", ENROL, ENROLMENT),
    ("POST", CHECK_IN, REPORT),
    ("POST", EVENTS, batch(EVENT)),
    ("POST", GROUPS, NEW_GROUP),
    ("PATCH", GROUP, {"description": "the civil engineers"}),
    ("PUT", MEMBERS, members()),
    ("POST", MEMBERS, members()),
    ("POST", SERVERS, NEW_SERVER),
    ("PATCH", SERVER, {"enabled": False}),
    ("POST", ACCOUNTS, NEW_ACCOUNT),
    ("POST", TOKENS, NEW_TOKEN),
    ("PUT", CATALOG, lambda _stage: newer_catalog()),
    ("POST", MAPPINGS, a_mapping),
    ("PUT", POOL_APPLICATIONS, {"applications": ["Revit"]}),
    ("PUT", REFRESH_TOKEN, {"refresh_token": "r-1"}),
    ("POST", RECLAIM, {"assignments": [SEAT]}),
    ("PATCH", POOL, {"cost_per_seat": 10.0}),
)
TOO_LARGE = {"status": 413, "code": "body_too_large"}
NAME_TAKEN = {"status": 409, "code": "name_taken"}
# Input no JSON parser or database should take; 400 or 422 both fit.
NOT_STORABLE = {"status": (400, 422), "code": None}
UNKNOWN_ID = {"status": 404, "code": "not_found"}
OUT_OF_RANGE_ID = {"status": (404, 422), "code": None}


def padded(base: Any) -> Callable[[Stage], Any]:
    """The valid body with one field making it just over the size limit."""

    def body(stage: Stage) -> dict[str, Any]:
        padding = "x" * stage.settings.max_body_bytes
        return {**resolve(base, stage), "padding": padding}

    return body


def streamed(base: Any) -> Callable[[Stage], Iterator[bytes]]:
    """An oversized body sent in chunks, declaring no length up front."""

    def body(stage: Stage) -> Iterator[bytes]:
        encoded = json.dumps(padded(base)(stage)).encode()
        size = 65_536
        return iter([encoded[i : i + size] for i in range(0, len(encoded), size)])

    return body


def any_body_cases(method: str, path: str, valid: Any) -> list[Case]:
    """What every body-taking endpoint must refuse the same way."""
    case = cases_for(method, path)

    def spoiled(**changes: Any) -> Callable[[Stage], Any]:
        return lambda stage: {**resolve(valid, stage), **changes}

    return [
        case("malformed JSON", b'{"name": ', status=400, code="malformed_json"),
        case("a JSON array", lambda stage: [resolve(valid, stage)], "body"),
        case("a JSON string", "text", "body", "text"),
        case("JSON null", b"null", "body"),
        case("no body", b"", "body"),
        case("unknown field", spoiled(colour="red"), "colour"),
        case("over max_body_bytes", padded(valid), "max_body_bytes", **TOO_LARGE),
    ]


def generic_cases() -> list[Case]:
    new_group = cases_for("POST", GROUPS)
    return [
        *(case for spec in BODIES for case in any_body_cases(*spec)),
        new_group(
            "over max_body_bytes, streamed",
            streamed(NEW_GROUP),
            "max_body_bytes",
            **TOO_LARGE,
        ),
        new_group(
            "JSON sent as text/plain",
            json.dumps(NEW_GROUP).encode(),
            "body",
            content_type="text/plain",
        ),
    ]


def enrol_cases() -> list[Case]:
    case = cases_for("POST", ENROL)
    return [
        case("no agent_id", without(ENROLMENT, "agent_id"), "agent_id"),
        case("agent_id not printable", with_(ENROLMENT, agent_id="a b/c"), "agent_id", "a b/c"),
        case("agent_id over 64", with_(ENROLMENT, agent_id="a" * 65), "agent_id"),
        case("agent_id a number", with_(ENROLMENT, agent_id=7), "agent_id", "7"),
        case("hostname over 255", with_(ENROLMENT, hostname="h" * 256), "hostname"),
        case("hostname blank", with_(ENROLMENT, hostname="   "), "hostname"),
        case("hostname a number", with_(ENROLMENT, hostname=42), "hostname", "42"),
        case("hostname null", with_(ENROLMENT, hostname=None), "hostname"),
        case("hostname with NUL", with_(ENROLMENT, hostname="CAD\x0002"), "hostname"),
        case("os over 32", with_(ENROLMENT, os="w" * 33), "os"),
        case("no agent_version", without(ENROLMENT, "agent_version"), "agent_version"),
    ]


def check_in_cases() -> list[Case]:
    case = cases_for("POST", CHECK_IN)

    def problem(**fields: Any) -> dict[str, Any]:
        found = {"code": "scan.denied", "message": "cannot list processes"}
        return with_(REPORT, problems=[{**found, **fields}])

    naive = "2026-12-01T09:00:00"
    nan_detail = (
        b'{"clock": "2026-12-01T09:00:00+00:00", "problems": '
        b'[{"code": "x", "message": "y", "detail": {"load": NaN}}]}'
    )
    return [
        case("no clock", {}, "clock"),
        case("clock naive", {"clock": naive}, "clock", naive),
        case("clock not a time", {"clock": "yesterday"}, "clock", "yesterday"),
        case("clock a bool", {"clock": True}, "clock"),
        case(
            "catalog_revision a string",
            with_(REPORT, catalog_revision="5"),
            "catalog_revision",
            "5",
        ),
        case(
            "catalog_revision a bool",
            with_(REPORT, catalog_revision=True),
            "catalog_revision",
        ),
        case(
            "catalog_revision over 32 bits",
            with_(REPORT, catalog_revision=OVER_INT32),
            "catalog_revision",
            str(OVER_INT32),
        ),
        case(
            "catalog_revision over 64 bits",
            with_(REPORT, catalog_revision=OVER_INT64),
            "catalog_revision",
            str(OVER_INT64),
        ),
        case("hostname over 255", with_(REPORT, hostname="h" * 256), "hostname"),
        case("hostname a number", with_(REPORT, hostname=42), "hostname", "42"),
        case("problem code", problem(code="Not Valid"), "problems[0].code", "Not Valid"),
        case("problem message blank", problem(message=" "), "problems[0].message"),
        case("problem detail nested", problem(detail={"a": {"b": 1}}), "problems[0].detail"),
        case(
            "over 100 problems",
            with_(REPORT, problems=[{"code": "x", "message": "y"}] * 101),
            "problems",
        ),
        case("problems not a list", with_(REPORT, problems="none"), "problems"),
        case("NaN in a problem detail", nan_detail, **NOT_STORABLE),
    ]


def event_cases() -> list[Case]:
    post = cases_for("POST", EVENTS)

    def case(name: str, event: Any, field: str, value: str | None = None) -> Case:
        return post(name, batch(event), field, value, code="invalid_event")

    def over_limit(stage: Stage) -> dict[str, Any]:
        count = stage.settings.max_events_per_batch + 1
        events = [with_(EVENT, event_id=f"e-{n}", session_id=f"s-{n}") for n in range(count)]
        return batch(*events)

    return [
        case("naive started_at", with_(EVENT, started_at="2026-12-01T09:00:00"), "started_at"),
        case("started_at not a time", with_(EVENT, started_at="noon"), "started_at", "noon"),
        case(
            "started_at out of range in UTC",
            with_(EVENT, started_at="0001-01-01T00:00:00+14:00"),
            "started_at",
        ),
        case(
            "ended_at before started_at",
            with_(STOP, ended_at="2026-12-01T08:00:00+00:00"),
            "ended_at",
        ),
        case("stop without ended_at", without(STOP, "ended_at"), "ended_at"),
        case("start with ended_at", with_(STOP, kind="start"), "ended_at"),
        case("unknown kind", with_(EVENT, kind="pause"), "kind", "pause"),
        case("bad source", with_(EVENT, source="manual"), "source", "manual"),
        case("no username", without(EVENT, "username"), "username"),
        case("username over 255", with_(EVENT, username="u" * 256), "username"),
        case("username with NUL", with_(EVENT, username="CORP\\j\x00doe"), "username"),
        case("hostname blank", with_(EVENT, hostname="  "), "hostname"),
        case("hostname a number", with_(EVENT, hostname=42), "hostname", "42"),
        case("application over 100", with_(EVENT, application="a" * 101), "application"),
        case("event_id not printable", with_(EVENT, event_id="e 1"), "event_id", "e 1"),
        case("unknown field", with_(EVENT, agent_id="agent-9"), "agent_id"),
        case("not an object", "e-1", "events[0]", "e-1"),
        post("events not a list", {"events": {"e-1": EVENT}}, "events"),
        post("batch over max_events_per_batch", over_limit, "events", "1001"),
    ]


def rule_cases(method: str, path: str, base: dict[str, Any]) -> list[Case]:
    case = cases_for(method, path)
    # Each bad rule, and what of it the answer must show; a blank pattern
    # cannot be looked for in a message.
    rules = (
        ("network", "10.0.0.1/33", "10.0.0.1/33"),
        ("network", "not-a-cidr", "not-a-cidr"),
        ("os", "beos", "beos"),
        ("all", "everything", "everything"),
        ("hostname", "", None),
        ("hostname", "   ", None),
        ("mac", "00:11", "mac"),
    )
    return [
        case(
            f"rule {kind} {value!r}",
            with_(base, auto_assign_rules=[{"kind": kind, "value": value}]),
            "auto_assign_rules",
            shown,
        )
        for kind, value, shown in rules
    ]


def group_cases() -> list[Case]:
    new = cases_for("POST", GROUPS)
    change = cases_for("PATCH", GROUP)
    surrogate = b'{"name": "Civil \\ud800"}'
    return [
        new("no name", {"description": "x"}, "name"),
        new("name over 100", {"name": "n" * 101}, "name"),
        new("name empty", {"name": ""}, "name"),
        new("name blank", {"name": "   "}, "name"),
        new("name a number", {"name": 5}, "name", "5"),
        new("name null", {"name": None}, "name"),
        new("name with NUL", {"name": "Civil\x00"}, "name"),
        new("name lone surrogate", surrogate, **NOT_STORABLE),
        new("name taken", {"name": "Default"}, "name", "Default", **NAME_TAKEN),
        new("name taken once trimmed", {"name": " Default "}, "name", "Default", **NAME_TAKEN),
        new("description over 1000", with_(NEW_GROUP, description="d" * 1001), "description"),
        new("agent_ids a string", with_(NEW_GROUP, agent_ids="agent-1"), "agent_ids"),
        new("agent_ids unknown", with_(NEW_GROUP, agent_ids=["ghost"]), "agent_ids", "ghost"),
        new("agent_id not printable", with_(NEW_GROUP, agent_ids=["a b"]), "agent_ids", "a b"),
        *rule_cases("POST", GROUPS, NEW_GROUP),
        change("name null", {"name": None}, "name"),
        change("description null", {"description": None}, "description"),
        change("rules null", {"auto_assign_rules": None}, "auto_assign_rules"),
        change("name over 100", {"name": "n" * 101}, "name"),
        change("name blank", {"name": "  "}, "name"),
        change("name a number", {"name": 5}, "name", "5"),
        change("name taken", {"name": "Default"}, "name", "Default", **NAME_TAKEN),
        change("description a number", {"description": 5}, "description", "5"),
        change("is_default is not writable", {"is_default": True}, "is_default"),
        change("members are not in PATCH", {"agent_ids": []}, "agent_ids"),
        *rule_cases("PATCH", GROUP, {}),
    ]


def member_cases() -> list[Case]:
    cases = []
    for method in ("PUT", "POST"):
        case = cases_for(method, MEMBERS)
        cases += [
            case("no agent_ids", {}, "agent_ids"),
            case("agent_ids a string", {"agent_ids": "agent-1"}, "agent_ids"),
            case("agent_ids null", {"agent_ids": None}, "agent_ids"),
            case("agent id a number", {"agent_ids": [5]}, "agent_ids"),
            case("unknown agent", members("ghost"), "agent_ids", "ghost"),
        ]
    return cases


def server_cases() -> list[Case]:
    new = cases_for("POST", SERVERS)
    change = cases_for("PATCH", SERVER)
    nan_interval = b'{"name": "Second team", "team_id": "t-2", "poll_interval_s": NaN}'
    long_url = "https://x.io/" + "p" * 500

    def spoiled(name: str, field: str, bad: Any, shown: str | None = None) -> Case:
        return new(name, with_(NEW_SERVER, **{field: bad}), field, shown)

    return [
        new("no team_id", without(NEW_SERVER, "team_id"), "team_id"),
        new("no name", without(NEW_SERVER, "name"), "name"),
        spoiled("name over 100", "name", "n" * 101),
        spoiled("name blank", "name", " "),
        spoiled("team_id over 64", "team_id", "t" * 65),
        spoiled("team_id a number", "team_id", 12, "12"),
        spoiled("type unknown", "type", "flexlm", "flexlm"),
        spoiled("poll_interval_s a string", "poll_interval_s", "900", "900"),
        spoiled("poll_interval_s 59", "poll_interval_s", 59, "59"),
        spoiled("poll_interval_s over a week", "poll_interval_s", 604_801, "604801"),
        spoiled("poll_interval_s null", "poll_interval_s", None),
        new("poll_interval_s NaN", nan_interval, **NOT_STORABLE),
        spoiled("enabled 'yes'", "enabled", "yes", "yes"),
        spoiled("enabled 1", "enabled", 1, "1"),
        spoiled("api_base_url ftp", "api_base_url", "ftp://x", "ftp://x"),
        spoiled("api_base_url not a URL", "api_base_url", "not a url", "not a url"),
        spoiled("api_base_url without host", "api_base_url", "https://", "https://"),
        spoiled("api_base_url over 500", "api_base_url", long_url),
        spoiled("client_secret a number", "client_secret", 5),
        spoiled("agent_group_ids unknown", "agent_group_ids", [UNKNOWN], str(UNKNOWN)),
        spoiled(
            "agent_group_ids over 32 bits",
            "agent_group_ids",
            [OVER_INT32],
            str(OVER_INT32),
        ),
        spoiled("agent_group_ids strings", "agent_group_ids", ["1"], "1"),
        new(
            "name taken",
            with_(NEW_SERVER, name="Main team"),
            "name",
            "Main team",
            needs=("server_id",),
            **NAME_TAKEN,
        ),
        change("name null", {"name": None}, "name"),
        change("team_id null", {"team_id": None}, "team_id"),
        change("api_base_url null", {"api_base_url": None}, "api_base_url"),
        change("agent_group_ids null", {"agent_group_ids": None}, "agent_group_ids"),
        change("poll_interval_s null", {"poll_interval_s": None}, "poll_interval_s"),
        change("enabled null", {"enabled": None}, "enabled"),
        change("enabled 'yes'", {"enabled": "yes"}, "enabled", "yes"),
        change("poll_interval_s 59", {"poll_interval_s": 59}, "poll_interval_s", "59"),
        change("api_base_url ftp", {"api_base_url": "ftp://x"}, "api_base_url", "ftp://x"),
        change("api_base_url not a URL", {"api_base_url": "x y"}, "api_base_url", "x y"),
        change(
            "agent_group_ids unknown",
            {"agent_group_ids": [UNKNOWN]},
            "agent_group_ids",
            str(UNKNOWN),
        ),
        change("status is not writable", {"status": "up"}, "status"),
        change(
            "name taken",
            {"name": "Other team"},
            "name",
            "Other team",
            needs=("other_server_id",),
            **NAME_TAKEN,
        ),
    ]


def account_and_token_cases() -> list[Case]:
    account = cases_for("POST", ACCOUNTS)
    token = cases_for("POST", TOKENS)
    return [
        account("no password", without(NEW_ACCOUNT, "password"), "password"),
        account("password too short", with_(NEW_ACCOUNT, password="short"), "password"),
        account("password over 1000", with_(NEW_ACCOUNT, password="p" * 1001), "password"),
        account("role unknown", with_(NEW_ACCOUNT, role="root"), "role", "root"),
        account("name over 100", with_(NEW_ACCOUNT, name="n" * 101), "name"),
        account("name empty", with_(NEW_ACCOUNT, name=""), "name"),
        account("name a number", with_(NEW_ACCOUNT, name=5), "name", "5"),
        account(
            "name taken",
            with_(NEW_ACCOUNT, name="jdoe"),
            "name",
            "jdoe",
            needs=("account_id",),
            **NAME_TAKEN,
        ),
        token("no scope", without(NEW_TOKEN, "scope"), "scope"),
        token("scope unknown", with_(NEW_TOKEN, scope="superuser"), "scope", "superuser"),
        token("scope a number", with_(NEW_TOKEN, scope=5), "scope", "5"),
        token("no name", without(NEW_TOKEN, "name"), "name"),
        token("name over 100", with_(NEW_TOKEN, name="n" * 101), "name"),
        token("name blank", with_(NEW_TOKEN, name="  "), "name"),
        # The tokens fixture made this one.
        token(
            "name taken", with_(NEW_TOKEN, name="test admin"), "name", "test admin", **NAME_TAKEN
        ),
    ]


def path_cases() -> list[Case]:
    """Ids in the path that are unknown, out of range or of the wrong type."""
    unknown = str(UNKNOWN)
    group = f"{GROUPS}/{UNKNOWN}"
    server = f"{SERVERS}/{UNKNOWN}"
    no_members = {"agent_ids": []}
    forget_agent = cases_for("DELETE", f"{AGENTS}/{{agent_id}}")
    change_group = cases_for("PATCH", GROUP)
    delete_group = cases_for("DELETE", GROUP)
    set_members = cases_for("PUT", MEMBERS)
    add_members = cases_for("POST", MEMBERS)
    remove_member = cases_for("DELETE", MEMBER)
    change_server = cases_for("PATCH", SERVER)
    delete_server = cases_for("DELETE", SERVER)
    delete_account = cases_for("DELETE", f"{ACCOUNTS}/{{account_id}}")
    revoke_token = cases_for("DELETE", f"{TOKENS}/{{token_id}}")
    return [
        forget_agent("unknown", value="ghost", at=f"{AGENTS}/ghost", **UNKNOWN_ID),
        forget_agent("not printable", field="agent_id", value="bad*id", at=f"{AGENTS}/bad*id"),
        forget_agent("over 64", field="agent_id", value="a" * 50, at=f"{AGENTS}/{'a' * 65}"),
        change_group("unknown", {}, value=unknown, at=group, **UNKNOWN_ID),
        change_group("not a number", {}, "group_id", "abc", at=f"{GROUPS}/abc"),
        change_group(
            "over 32 bits",
            {},
            value=str(OVER_INT32),
            at=f"{GROUPS}/{OVER_INT32}",
            **OUT_OF_RANGE_ID,
        ),
        delete_group("unknown", value=unknown, at=group, **UNKNOWN_ID),
        delete_group("not a number", field="group_id", value="abc", at=f"{GROUPS}/abc"),
        delete_group(
            "over 64 bits",
            value=str(OVER_INT64),
            at=f"{GROUPS}/{OVER_INT64}",
            **OUT_OF_RANGE_ID,
        ),
        delete_group(
            "selected on a license server",
            value="Main team",
            at=f"{GROUPS}/{{selected_group_id}}",
            status=409,
            code="agent_group_in_use",
        ),
        set_members("unknown group", no_members, value=unknown, at=f"{group}/agents", **UNKNOWN_ID),
        set_members("group 1.5", no_members, "group_id", "1.5", at=f"{GROUPS}/1.5/agents"),
        add_members("unknown group", no_members, value=unknown, at=f"{group}/agents", **UNKNOWN_ID),
        remove_member("unknown group", value=unknown, at=f"{group}/agents/agent-1", **UNKNOWN_ID),
        remove_member(
            "agent not a member",
            value="ghost",
            at=f"{GROUPS}/{{group_id}}/agents/ghost",
            **UNKNOWN_ID,
        ),
        remove_member(
            "agent not printable",
            field="agent_id",
            value="bad*id",
            at=f"{GROUPS}/{{group_id}}/agents/bad*id",
        ),
        change_server("unknown", {"enabled": False}, value=unknown, at=server, **UNKNOWN_ID),
        change_server("not a number", {}, "server_id", "abc", at=f"{SERVERS}/abc"),
        change_server(
            "over 32 bits",
            {},
            value=str(OVER_INT32),
            at=f"{SERVERS}/{OVER_INT32}",
            **OUT_OF_RANGE_ID,
        ),
        delete_server("unknown", value=unknown, at=server, **UNKNOWN_ID),
        delete_server("not a number", field="server_id", value="abc", at=f"{SERVERS}/abc"),
        delete_account("unknown", value=unknown, at=f"{ACCOUNTS}/{UNKNOWN}", **UNKNOWN_ID),
        delete_account("not a number", field="account_id", value="abc", at=f"{ACCOUNTS}/abc"),
        revoke_token("unknown", value=unknown, at=f"{TOKENS}/{UNKNOWN}", **UNKNOWN_ID),
        revoke_token("not a number", field="token_id", value="abc", at=f"{TOKENS}/abc"),
    ]


def newer_catalog(**changes: Any) -> dict[str, Any]:
    document = load_packaged().as_document()
    return {**document, "revision": document["revision"] + 1, **changes}


def catalog_cases() -> list[Case]:
    case = cases_for("PUT", CATALOG)
    current = load_packaged().revision
    broken_pattern = newer_catalog()
    broken_pattern["applications"][0]["release_pattern"] = "(unclosed"
    return [
        case(
            "revision not newer",
            newer_catalog(revision=current),
            "revision",
            str(current),
            status=409,
            code="stale_revision",
        ),
        case("revision negative", newer_catalog(revision=-1), "revision", "-1"),
        case("no applications", newer_catalog(applications=None), "applications"),
        case("release_pattern not a regex", broken_pattern, "release_pattern", "(unclosed"),
    ]


def mapping_cases() -> list[Case]:
    case = cases_for("POST", MAPPINGS)
    forget = cases_for("DELETE", f"{MAPPINGS}/{{mapping_id}}")

    def spoiled(**changes: Any) -> Callable[[Stage], dict[str, Any]]:
        return lambda stage: a_mapping(stage, **changes)

    def without_field(name: str) -> Callable[[Stage], dict[str, Any]]:
        return lambda stage: without(a_mapping(stage), name)

    return [
        case("no host_user", without_field("host_user"), "host_user"),
        case("host_user blank", spoiled(host_user="  "), "host_user"),
        case("host_user over 255", spoiled(host_user="h" * 256), "host_user"),
        case("host_user a number", spoiled(host_user=5), "host_user", "5"),
        case("host_user with NUL", spoiled(host_user="CORP\x00jd"), "host_user"),
        case("no cloud_user_id", without_field("cloud_user_id"), "cloud_user_id"),
        case(
            "cloud_user_id unknown", spoiled(cloud_user_id=UNKNOWN), "cloud_user_id", str(UNKNOWN)
        ),
        case("cloud_user_id a string", spoiled(cloud_user_id="1"), "cloud_user_id", "1"),
        case(
            "cloud_user_id over 32 bits",
            spoiled(cloud_user_id=OVER_INT32),
            "cloud_user_id",
            str(OVER_INT32),
        ),
        case(
            "already mapped",
            a_mapping,
            "host_user",
            "CORP",
            needs=("mapping_id",),
            status=409,
            code="mapping_exists",
        ),
        forget("unknown", value=str(UNKNOWN), at=f"{MAPPINGS}/{UNKNOWN}", **UNKNOWN_ID),
        forget("not a number", field="mapping_id", value="abc", at=f"{MAPPINGS}/abc"),
    ]


def pool_application_cases() -> list[Case]:
    case = cases_for("PUT", POOL_APPLICATIONS)
    reset = cases_for("DELETE", POOL_APPLICATIONS)
    unknown = POOL_APPLICATIONS.replace("{pool_id}", str(UNKNOWN))
    valid = {"applications": ["Revit"]}
    return [
        case("no applications", {}, "applications"),
        case("applications a string", {"applications": "Revit"}, "applications", "Revit"),
        case("applications null", {"applications": None}, "applications"),
        case("application unknown", {"applications": ["Rvt"]}, "applications[0]", "Rvt"),
        case("application a number", {"applications": [5]}, "applications", "5"),
        case("application empty", {"applications": [""]}, "applications"),
        case("over 500 applications", {"applications": ["Revit"] * 501}, "applications"),
        case("unknown pool", valid, value=str(UNKNOWN), at=unknown, **UNKNOWN_ID),
        case(
            "pool not a number",
            valid,
            "pool_id",
            "abc",
            at=POOL_APPLICATIONS.replace("{pool_id}", "abc"),
        ),
        reset("unknown pool", value=str(UNKNOWN), at=unknown, **UNKNOWN_ID),
    ]


def import_cases() -> list[Case]:
    case = cases_for("POST", IMPORT)

    def row(**changes: Any) -> dict[str, Any]:
        return {"sessions": [IMPORTED, with_(IMPORTED, **changes)]}

    def csv(text: str, name: str, field: str, value: str | None = None, **expected: Any) -> Case:
        body = text.encode()
        return case(name, body, field, value, content_type="text/csv", **expected)

    bad_row = {"status": 422, "code": "invalid_row"}
    one = {"sessions": [IMPORTED]}
    later = "2025-01-06T09:00:00Z,2025-01-06T10:00:00Z"
    blank_username = CSV_HEADER + f"CAD-01,,Revit,2024,{later}\r\n"
    extra_cell = CSV_HEADER + f"CAD-01,jd,Revit,2024,{later},x\r\n"
    return [
        case("malformed JSON", b'{"sessions": ', status=400, code="malformed_json"),
        case("no body", b"", status=400, code="malformed_json"),
        case("JSON null", b"null", "body"),
        case("a JSON string", "text", "body"),
        case("unknown field", {"sessions": [IMPORTED], "colour": "red"}, "colour"),
        case("no sessions", {}, "sessions"),
        case("sessions an object", {"sessions": {"a": 1}}, "body"),
        case("NaN", b'{"sessions": [{"hostname": NaN}]}', **NOT_STORABLE),
        case("over max_body_bytes", padded(one), "max_body_bytes", **TOO_LARGE),
        case("row without hostname", row(hostname=None), "sessions[1].hostname", **bad_row),
        case("row hostname a number", row(hostname=7), "sessions[1].hostname", "7", **bad_row),
        case("row username over 255", row(username="u" * 256), "username", **bad_row),
        case("row version over 32", row(version="v" * 33), "version", **bad_row),
        case("row with NUL", row(username="CORP\x00jd"), "username", **bad_row),
        case("row without offset", row(started_at="2025-01-06T08:00:00"), "started_at", **bad_row),
        case("row in year 9999", row(ended_at="9999-01-01T00:00:00Z"), "ended_at", **bad_row),
        case("row ends first", row(ended_at="2025-01-01T00:00:00Z"), "ended_at", **bad_row),
        case("row external_id over 200", row(external_id="x" * 201), "external_id", **bad_row),
        case("row unknown field", row(colour="red"), "colour", **bad_row),
        case("row not an object", {"sessions": ["CAD-01"]}, "sessions[0]", **bad_row),
        csv("hostname,username\r\n", "CSV without columns", "columns", "hostname,username"),
        csv(blank_username, "CSV blank username", "username", **bad_row),
        csv(extra_cell, "CSV extra cell", "extra cells", **bad_row),
        case(
            "XML",
            b"<sessions/>",
            "Content-Type",
            "application/xml",
            content_type="application/xml",
            status=415,
            code="unsupported_media_type",
        ),
    ]


def connector_cases() -> list[Case]:
    """The Autodesk connector's writes; the stage's server has no client yet."""
    authorize = cases_for("POST", AUTHORIZE)
    refresh_token = cases_for("PUT", REFRESH_TOKEN)
    sync = cases_for("POST", SYNC)
    reclaim = cases_for("POST", RECLAIM)
    unknown = str(UNKNOWN)
    return [
        authorize("no client_id", field="client_id"),
        authorize(
            "unknown server", value=unknown, at=f"{SERVERS}/{UNKNOWN}/authorize", **UNKNOWN_ID
        ),
        refresh_token("empty", {"refresh_token": " "}, "refresh_token"),
        refresh_token("a number", {"refresh_token": 7}, "refresh_token", "7"),
        refresh_token("no client_id", {"refresh_token": "r-1"}, "client_id"),
        sync("not connected", field=None, status=409, code="not_connected"),
        sync("wait not a boolean", field="wait", value="maybe", at=f"{SYNC}?wait=maybe"),
        sync("unknown server", value=unknown, at=f"{SERVERS}/{UNKNOWN}/sync", **UNKNOWN_ID),
        reclaim("no seats", {"assignments": []}, "assignments"),
        reclaim("seat id zero", {"assignments": [with_(SEAT, cloud_user_id=0)]}, "cloud_user_id"),
        reclaim("dry_run text", {"assignments": [SEAT], "dry_run": "yes"}, "dry_run", "yes"),
        reclaim(
            "unknown server",
            {"assignments": [SEAT]},
            value=unknown,
            at=f"{SERVERS}/{UNKNOWN}/reclaim",
            **UNKNOWN_ID,
        ),
    ]


def pool_cases() -> list[Case]:
    case = cases_for("PATCH", POOL)
    unknown = f"/api/v1/product-pools/{UNKNOWN}"
    return [
        case("cost negative", {"cost_per_seat": -1}, "cost_per_seat", "-1"),
        case("cost text", {"cost_per_seat": "cheap"}, "cost_per_seat", "cheap"),
        case("cost over 1e9", {"cost_per_seat": 1e10}, "cost_per_seat"),
        case("name is not ours", {"name": "Mine"}, "name"),
        case("unknown pool", {"cost_per_seat": 1}, value=str(UNKNOWN), at=unknown, **UNKNOWN_ID),
        case("pool not a number", {}, "pool_id", "abc", at="/api/v1/product-pools/abc"),
    ]


BAD_PARAMETER = {"status": 400, "code": "invalid_parameter"}


def report_cases() -> list[Case]:
    """Reports take no body: each case spoils one query parameter."""

    def case(name: str, query: str, field: str, value: str | None = None) -> Case:
        path = f"{REPORTS}/{query}"
        return Case(f"GET {path}: {name}", "GET", path, field=field, value=value, **BAD_PARAMETER)

    return [
        case("unknown report", "usage?", "name", "usage"),
        case(
            "since after until",
            "utilization?since=2026-02-01T00:00Z&until=2026-01-01T00:00Z",
            "since",
        ),
        case("since not a time", "utilization?since=yesterday", "since", "yesterday"),
        case(
            "until without offset",
            "utilization?until=2026-01-01T00:00",
            "until",
            "2026-01-01T00:00",
        ),
        case("unknown tz", "heatmap?tz=Mars/Olympus", "tz", "Mars/Olympus"),
        case("bad format", "heatmap?format=pdf", "format", "pdf"),
        case("bad granularity", "usage-history?granularity=minute", "granularity", "minute"),
        case("heatmap by week", "heatmap?granularity=week", "granularity", "week"),
        case("bad group_by", "usage-per-user?group_by=planet", "group_by", "planet"),
        case("user groups", "usage-per-user?group_by=user-group", "group_by", "user-group"),
        case("user_group_id", "utilization?user_group_id=1", "user_group_id", "1"),
        case("pool id text", "utilization?product_pool_id=abc", "product_pool_id", "abc"),
        case("pool id zero", "utilization?product_pool_id=0", "product_pool_id", "0"),
        case("server id huge", "utilization?license_server_id=99999999999", "license_server_id"),
        case("host group text", "utilization?host_group_id=x", "host_group_id", "x"),
        case(
            "too many hours",
            "usage-history?granularity=hour&since=2000-01-01T00:00Z",
            "granularity",
        ),
        case("unknown sort", "sessions?sort=colour", "sort", "colour"),
        case("limit zero", "sessions?limit=0", "limit", "0"),
        case("limit over 1000", "sessions?limit=1001", "limit", "1001"),
        case("offset negative", "sessions?offset=-1", "offset", "-1"),
    ]


CASES = [
    *generic_cases(),
    *mapping_cases(),
    *pool_application_cases(),
    *import_cases(),
    *connector_cases(),
    *pool_cases(),
    *report_cases(),
    *enrol_cases(),
    *check_in_cases(),
    *event_cases(),
    *group_cases(),
    *member_cases(),
    *server_cases(),
    *account_and_token_cases(),
    *catalog_cases(),
    *path_cases(),
]


@pytest.fixture
def stage(client: TestClient, tokens: Tokens, settings: Settings) -> Stage:
    return Stage(client, tokens, settings)


def assert_error_shape(response: Response) -> dict[str, Any]:
    """Exactly {"error": {"code", "message", "details"}}, nothing else."""
    body = response.json()
    assert list(body) == ["error"], body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"].strip()
    assert isinstance(error["details"], list)
    return error


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused(stage: Stage, case: Case) -> None:
    response = case.send(stage)

    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    statuses = case.status if isinstance(case.status, tuple) else (case.status,)
    assert response.status_code in statuses, response.text
    error = assert_error_shape(response)
    if case.code:
        assert error["code"] == case.code, error
    if case.field:
        assert case.field in error["message"], error
    if case.value:
        shown = error["message"] + json.dumps(error["details"])
        assert case.value in shown, error


def test_every_write_endpoint_has_cases(client: TestClient) -> None:
    writes = {
        (method, route.path)
        for route in iter_route_contexts(client.app.routes)
        for method in route.methods or ()
        # Web forms have their own cases: tests/web/test_web_forms.py.
        if method in {"POST", "PUT", "PATCH", "DELETE"} and not is_page(route)
    }
    covered = {(case.method, route_of(case.path, writes)) for case in CASES}

    assert sorted(writes - covered) == [], "write endpoints without bad-input cases"


def route_of(path: str, routes: set[tuple[str, str]]) -> str:
    """The route template a case's path falls under."""
    parts = path.split("/")
    for _, template in routes:
        pattern = template.split("/")
        if len(pattern) == len(parts) and all(
            p == q or p.startswith("{") for p, q in zip(pattern, parts, strict=True)
        ):
            return template
    return path


def test_one_bad_event_rejects_the_whole_batch(stage: Stage) -> None:
    good = [with_(EVENT, event_id=f"e-{n}", session_id=f"s-{n}") for n in (1, 3)]
    naive = "2026-12-01T09:00:00"
    bad = with_(EVENT, event_id="e-2", session_id="s-2", started_at=naive)

    response = stage.client.post(
        EVENTS, json=batch(good[0], bad, good[1]), headers=stage.headers(EVENTS)
    )

    assert response.status_code == 422, response.text
    error = assert_error_shape(response)
    assert error["code"] == "invalid_event"
    assert "event 1" in error["message"] and "'e-2'" in error["message"], error
    assert [(d["index"], d["event_id"]) for d in error["details"]] == [(1, "e-2")]
    assert "events[1].started_at" in error["details"][0]["field"]
    sessions = "/api/v1/sessions"
    stored = stage.client.get(sessions, headers=stage.headers(sessions))
    assert stored.json()["items"] == []


def test_far_off_agent_clock_does_not_break_ingestion(stage: Stage) -> None:
    # An agent whose clock reads the year 9999 must be refused or survived;
    # either way, none of its requests may fail the server.
    report = {"clock": datetime(9999, 12, 31, tzinfo=UTC).isoformat()}
    client = stage.client
    checked_in = client.post(CHECK_IN, json=report, headers=stage.headers(CHECK_IN))

    sent = client.post(EVENTS, json=batch(EVENT), headers=stage.headers(EVENTS))

    assert checked_in.status_code < 500, checked_in.text
    assert sent.status_code < 500, sent.text
