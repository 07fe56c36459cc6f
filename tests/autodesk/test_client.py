"""The Team Admin client against httpx.MockTransport: one piece alone.

The real wire is tested against the emulator process in test_end_to_end.
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seatmeter.server.autodesk.client import TeamAdminClient
from seatmeter.server.autodesk.errors import Forbidden, Unauthorized, Unavailable
from seatmeter.server.autodesk.pacing import Pacer
from seatmeter.server.autodesk.sync import assignment_facts, pool_facts, user_facts

BASE = "https://autodesk.test"
PROBLEM = "application/problem+json"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Wraps a handler; keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def make_client(handler: Handler, tokens: list[str | None] | None = None, **kwargs: Any) -> Any:
    recorder = Recorder(handler)
    given = tokens if tokens is not None else []

    def token(rejected: str | None) -> str:
        given.append(rejected)
        return "fresh" if rejected else "first"

    client = TeamAdminClient(
        BASE,
        "100001",
        token,
        Pacer(10_000, 1),
        transport=httpx.MockTransport(recorder),
        sleep=lambda _s: None,
        **kwargs,
    )
    return client, recorder


def users_pages(total: int) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("cursor") or 0)
        limit = int(request.url.params["limit"])
        end = min(start + limit, total)
        data = [
            {"id": f"US{n}", "email": f"u{n}@example.com", "extra": 1} for n in range(start, end)
        ]
        more = end < total
        pagination = {"cursor": str(end) if more else None, "hasMore": more}
        return httpx.Response(200, json={"data": data, "pagination": pagination})

    return handler


def test_pages_of_100_follow_the_cursor_to_the_end() -> None:
    client, seen = make_client(users_pages(250))

    users = client.list_team_users()

    assert [u["id"] for u in users] == [f"US{n}" for n in range(250)]
    assert [r.url.params.get("cursor") for r in seen.requests] == [None, "100", "200"]
    assert {r.url.params["limit"] for r in seen.requests} == {"100"}
    assert seen.requests[0].url.path == "/team-admin/v1/teams/100001/users"
    assert client.calls == 3


def test_every_call_carries_its_own_request_id_and_the_token() -> None:
    client, seen = make_client(users_pages(250))

    client.list_team_users()

    ids = [r.headers["x-request-id"] for r in seen.requests]
    assert len(set(ids)) == 3 and all(1 <= len(i) <= 128 for i in ids)
    assert {r.headers["authorization"] for r in seen.requests} == {"Bearer first"}


def test_429_and_503_wait_and_retry_then_succeed() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0"}, json={"title": "Too Many"}),
            httpx.Response(503, headers={"Retry-After": "0"}, json={"title": "Busy"}),
            httpx.Response(200, json={"data": [{"userId": "US1", "productId": "p"}]}),
        ]
    )
    client, seen = make_client(lambda _r: next(answers))

    assert client.list_assignments() == [{"userId": "US1", "productId": "p"}]
    assert len(seen.requests) == 3 and client.calls == 3


def test_dropped_connections_back_off_and_retry() -> None:
    failures = iter([True, True, False])

    def handler(request: httpx.Request) -> httpx.Response:
        if next(failures):
            raise httpx.RemoteProtocolError("server closed the connection", request=request)
        return httpx.Response(200, json={"data": []})

    slept: list[float] = []
    client = TeamAdminClient(
        BASE,
        "100001",
        lambda _r: "t",
        Pacer(10_000, 1),
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
    )

    assert client.list_assignments() == []
    assert slept == [0.5, 1.0]


def test_still_failing_after_every_retry_is_unavailable() -> None:
    client, seen = make_client(
        lambda _r: httpx.Response(503, headers={"Retry-After": "0"}, text="down"), retries=2
    )

    with pytest.raises(Unavailable, match="503"):
        client.list_product_pools()
    assert len(seen.requests) == 3


def test_a_401_is_retried_once_with_a_refreshed_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer first":
            return httpx.Response(401, json={"developerMessage": "expired", "errorCode": "x"})
        return httpx.Response(200, json={"data": []})

    asked: list[str | None] = []
    client, _ = make_client(handler, tokens=asked)

    assert client.list_assignments() == []
    assert asked == [None, "first"]


def test_a_second_401_means_the_consent_no_longer_works() -> None:
    client, _ = make_client(lambda _r: httpx.Response(401, json={"developerMessage": "no"}))

    with pytest.raises(Unauthorized, match="authorize the license server again"):
        client.list_assignments()


def test_problem_json_becomes_a_message_with_title_detail_and_request_id() -> None:
    problem = {
        "type": "https://developer.api.autodesk.com/problems/forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "Not a team administrator",
        "errors": [{"field": "team", "title": "bad", "detail": "not yours"}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            content=json.dumps(problem).encode(),
            headers={"content-type": PROBLEM, "x-request-id": request.headers["x-request-id"]},
        )

    client, seen = make_client(handler)

    with pytest.raises(Forbidden) as raised:
        client.list_product_pools()
    message = str(raised.value)
    assert "403" in message and "Not a team administrator" in message
    assert "team: not yours" in message and "administrator" in message
    assert seen.requests[0].headers["x-request-id"] in message


def test_assign_and_unassign_send_what_autodesk_expects() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, json={**json.loads(request.content), "teamId": "100001"})
        return httpx.Response(204)

    client, seen = make_client(handler)

    made = client.assign_product("US1", "prod_1")
    client.unassign_product("US1", "prod_1")

    assert made["assignmentType"] == "DIRECT"
    assert json.loads(seen.requests[0].content) == {
        "userId": "US1",
        "productId": "prod_1",
        "assignmentType": "DIRECT",
    }
    assert dict(seen.requests[1].url.params) == {"userId": "US1", "productId": "prod_1"}


def test_items_are_read_tolerantly() -> None:
    unlimited = {"productId": "prod_1", "unlimited": True, "totalQuantity": None, "new": 1}
    sparse_user = {"id": "US1"}
    no_key = {"productName": "AutoCAD"}

    pool = pool_facts(unlimited)
    user = user_facts(sparse_user)

    assert pool is not None and pool.unlimited and pool.total_seats is None
    assert pool.name == "prod_1" and pool.start_date is None
    assert user is not None and user.email is None
    assert pool_facts(no_key) is None
    assert assignment_facts({"userId": "US1"}) is None
    dated = pool_facts({"productId": "p", "startDate": "2026-01-01T00:00:00.000Z"})
    assert dated is not None and dated.start_date is not None
    assert dated.start_date.isoformat() == "2026-01-01T00:00:00+00:00"
