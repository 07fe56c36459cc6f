"""The emulator's Team Admin API over real HTTP, against a known team."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from autodesk_examples import (
    DOCS,
    OTHER_TEAM,
    RENEWAL,
    REVIT,
    TEAM,
    USERS,
    VAULT,
    example_data,
    user,
)
from emulatorproc import Emulator, running_emulator

pytestmark = pytest.mark.slow

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "requestId", "errors"}
POOL_KEYS = {
    "productId",
    "teamId",
    "productName",
    "totalQuantity",
    "assignedQuantity",
    "unlimited",
    "startDate",
    "endDate",
}
AUTODESK_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Api:
    """Team Admin calls as the signed-in admin, with a fresh emulator."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.headers = emulator.bearer(emulator.sign_in())
        self.http = httpx.Client(base_url=f"{emulator.base_url}/team-admin/v1", timeout=10)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.headers)

    def delete(self, path: str, **params: Any) -> httpx.Response:
        return self.http.delete(path, params=params, headers=self.headers)


@pytest.fixture(scope="module")
def reading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One emulator for the tests that only read (rate limit out of reach)."""
    folder = tmp_path_factory.mktemp("reading")
    with running_emulator(example_data(), folder, rate_limit=100_000) as emulator:
        api = Api(emulator)
        yield api
        api.http.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A fresh emulator for tests that change assignments."""
    with running_emulator(example_data(), tmp_path) as emulator:
        api = Api(emulator)
        yield api
        api.http.close()


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["type"].startswith("https://developer.api.autodesk.com/problems/")
    assert body["status"] == status
    return body


# -- teams and users ------------------------------------------------------------


def test_list_teams_shows_only_administered_teams(reading: Api) -> None:
    body = reading.get("/teams").json()
    assert body == {
        "data": [{"id": TEAM, "name": "Example Team"}],
        "pagination": {"cursor": None, "hasMore": False},
    }
    assert reading.get("/teams", teamId=OTHER_TEAM).json()["data"] == []
    assert reading.get("/teams", teamId=TEAM).json()["data"][0]["id"] == TEAM


def test_users_page_through_250_with_cursor(reading: Api) -> None:
    seen: list[str] = []
    pages = 0
    params: dict[str, Any] = {"limit": 100}
    while True:
        body = reading.get(f"/teams/{TEAM}/users", **params).json()
        pages += 1
        seen += [item["id"] for item in body["data"]]
        if not body["pagination"]["hasMore"]:
            assert body["pagination"]["cursor"] is None
            break
        params["cursor"] = body["pagination"]["cursor"]
    assert pages == 3
    assert seen == [user(n)["id"] for n in range(USERS)]


def test_users_default_page_is_50(reading: Api) -> None:
    body = reading.get(f"/teams/{TEAM}/users").json()
    assert len(body["data"]) == 50
    assert body["pagination"]["hasMore"] is True
    assert set(body["data"][0]) == {"id", "email", "firstName", "lastName"}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", ""])
def test_a_limit_out_of_range_is_400_naming_it(reading: Api, limit: str) -> None:
    body = is_problem(reading.get(f"/teams/{TEAM}/users", limit=limit), 400)
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("cursor", ["garbage", "eyJsIjoieCIsIm8iOjF9", "e30"])
def test_a_bad_cursor_is_400(reading: Api, cursor: str) -> None:
    body = is_problem(reading.get(f"/teams/{TEAM}/users", cursor=cursor), 400)
    assert body["errors"][0]["field"] == "cursor"


def test_a_cursor_from_another_listing_is_refused(reading: Api) -> None:
    cursor = reading.get(f"/teams/{TEAM}/users").json()["pagination"]["cursor"]
    is_problem(reading.get(f"/teams/{TEAM}/users", cursor=cursor, email="x@y"), 400)


def test_users_filter_by_exact_email(reading: Api) -> None:
    found = reading.get(f"/teams/{TEAM}/users", email="user7@example.com").json()["data"]
    assert found == [user(7)]
    assert reading.get(f"/teams/{TEAM}/users", email="user7@example").json()["data"] == []


def test_get_one_user_and_404_for_a_stranger(reading: Api) -> None:
    assert reading.get(f"/teams/{TEAM}/users/{user(3)['id']}").json() == user(3)
    is_problem(reading.get(f"/teams/{TEAM}/users/{user(9000)['id']}"), 404)


@pytest.mark.parametrize("team", [OTHER_TEAM, "999999"], ids=["not-administered", "unknown"])
@pytest.mark.parametrize("path", ["/users", "/product-pools", "/assignments"])
def test_unknown_and_not_administered_teams_get_the_same_403(
    reading: Api, team: str, path: str
) -> None:
    body = is_problem(reading.get(f"/teams/{team}{path}"), 403)
    assert body["type"].endswith("/forbidden")
    assert body["detail"].replace(team, "T") == (
        "You are not an administrator of team 'T', or it is not eligible."
    )


def test_losing_the_admin_role_turns_a_valid_token_to_403(api: Api) -> None:
    assert api.get(f"/teams/{TEAM}/users").status_code == 200
    api.emulator.control("PUT", f"/teams/{TEAM}/admins", {"admins": ["someone@example.com"]})
    is_problem(api.get(f"/teams/{TEAM}/users"), 403)


# -- product pools ---------------------------------------------------------------


def test_pools_have_autodesk_fields_and_hide_unsupported(reading: Api) -> None:
    body = reading.get(f"/teams/{TEAM}/product-pools").json()
    pools = {item["productId"]: item for item in body["data"]}
    assert set(pools) == {REVIT, DOCS, RENEWAL}
    for item in pools.values():
        assert set(item) == POOL_KEYS
        assert AUTODESK_DATE.match(item["startDate"]) and AUTODESK_DATE.match(item["endDate"])
        assert item["teamId"] == TEAM
    assert pools[REVIT]["totalQuantity"] == 10
    assert pools[REVIT]["assignedQuantity"] == 12
    assert pools[REVIT]["unlimited"] is False


def test_unlimited_pools_have_null_quantities(reading: Api) -> None:
    pools = {p["productId"]: p for p in reading.get(f"/teams/{TEAM}/product-pools").json()["data"]}
    assert pools[DOCS]["unlimited"] is True
    assert pools[DOCS]["totalQuantity"] is None
    assert pools[DOCS]["assignedQuantity"] is None


def test_a_future_pool_has_null_assigned_quantity(reading: Api) -> None:
    pools = {p["productId"]: p for p in reading.get(f"/teams/{TEAM}/product-pools").json()["data"]}
    assert pools[RENEWAL]["totalQuantity"] == 5
    assert pools[RENEWAL]["assignedQuantity"] is None


def test_pools_page_too(reading: Api) -> None:
    first = reading.get(f"/teams/{TEAM}/product-pools", limit=2).json()
    assert len(first["data"]) == 2 and first["pagination"]["hasMore"]
    cursor = first["pagination"]["cursor"]
    second = reading.get(f"/teams/{TEAM}/product-pools", limit=2, cursor=cursor).json()
    assert len(second["data"]) == 1
    assert second["pagination"] == {"cursor": None, "hasMore": False}


# -- assignments ------------------------------------------------------------------


def test_assignments_are_one_row_per_pair_with_the_effective_type(reading: Api) -> None:
    body = reading.get(f"/teams/{TEAM}/assignments").json()
    assert set(body) == {"data"}
    rows = {(row["userId"], row["productId"]): row for row in body["data"]}
    assert len(rows) == len(body["data"]) == 12 + 5
    assert rows[(user(0)["id"], REVIT)]["assignmentType"] == "DIRECT"
    assert rows[(user(11)["id"], REVIT)]["assignmentType"] == "GROUP"
    assert rows[(user(1)["id"], DOCS)]["assignmentType"] == "TEAM"
    assert rows[(user(1)["id"], DOCS)] == {
        "userId": user(1)["id"],
        "email": user(1)["email"],
        "teamId": TEAM,
        "productId": DOCS,
        "assignmentType": "TEAM",
    }
    assert not any(product == VAULT for _, product in rows)


def test_assignments_filter_by_user_and_product(reading: Api) -> None:
    mine = reading.get(f"/teams/{TEAM}/assignments", userId=user(0)["id"]).json()["data"]
    assert {row["productId"] for row in mine} == {REVIT, DOCS}
    docs = reading.get(f"/teams/{TEAM}/assignments", productId=DOCS).json()["data"]
    assert len(docs) == 5
    assert reading.get(f"/teams/{TEAM}/assignments", productId=VAULT).json()["data"] == []


def test_assign_is_201_then_200(api: Api) -> None:
    body = {"userId": user(100)["id"], "productId": REVIT}
    first = api.post(f"/teams/{TEAM}/assignments", body)
    assert first.status_code == 201
    assert first.json() == {
        "userId": user(100)["id"],
        "email": user(100)["email"],
        "teamId": TEAM,
        "productId": REVIT,
        "assignmentType": "DIRECT",
        "reassignmentQuotaNearingLimit": False,
    }
    second = api.post(f"/teams/{TEAM}/assignments", {**body, "assignmentType": "DIRECT"})
    assert second.status_code == 200
    assert second.json() == first.json()
    pools = api.get(f"/teams/{TEAM}/product-pools").json()["data"]
    assert next(p for p in pools if p["productId"] == REVIT)["assignedQuantity"] == 13


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"userId": user(1)["id"], "productId": VAULT}, 422, "unsupported-product"),
        ({"userId": user(9000)["id"], "productId": REVIT}, 422, "user-not-on-team"),
        ({"userId": user(1)["id"], "productId": "prod_nope"}, 422, "product-not-on-team"),
        ({"userId": user(1)["id"], "productId": REVIT, "assignmentType": "GROUP"}, 400, None),
        ({"productId": REVIT}, 400, None),
        ([1, 2], 400, None),
    ],
)
def test_assign_refusals(reading: Api, body: Any, status: int, kind: str | None) -> None:
    problem = is_problem(reading.post(f"/teams/{TEAM}/assignments", body), status)
    if kind:
        assert problem["type"].endswith("/" + kind)


def test_unassign_is_204_then_404(api: Api) -> None:
    pair = {"userId": user(5)["id"], "productId": REVIT}
    assert api.delete(f"/teams/{TEAM}/assignments", **pair).status_code == 204
    is_problem(api.delete(f"/teams/{TEAM}/assignments", **pair), 404)
    assert api.get(f"/teams/{TEAM}/assignments", **pair).json()["data"] == []


def test_unassign_leaves_inherited_and_then_says_422(api: Api) -> None:
    pair = {"userId": user(0)["id"], "productId": REVIT}
    assert api.delete(f"/teams/{TEAM}/assignments", **pair).status_code == 204
    rows = api.get(f"/teams/{TEAM}/assignments", **pair).json()["data"]
    assert [row["assignmentType"] for row in rows] == ["GROUP"]
    problem = is_problem(api.delete(f"/teams/{TEAM}/assignments", **pair), 422)
    assert problem["type"].endswith("/inherited-assignment")


def test_unassign_needs_both_parameters(reading: Api) -> None:
    body = is_problem(reading.delete(f"/teams/{TEAM}/assignments", userId=user(0)["id"]), 400)
    assert body["errors"][0]["field"] == "productId"


def test_control_can_add_inherited_assignments_and_change_pools(api: Api) -> None:
    control = api.emulator.control
    added = control(
        "POST",
        f"/teams/{TEAM}/assignments",
        {"userId": user(50)["id"], "productId": REVIT, "assignmentType": "TEAM"},
    )
    assert added.status_code == 201
    rows = api.get(f"/teams/{TEAM}/assignments", userId=user(50)["id"]).json()["data"]
    assert rows[0]["assignmentType"] == "TEAM"

    changed = control("PATCH", f"/teams/{TEAM}/product-pools/{REVIT}", {"totalQuantity": 40})
    assert changed.status_code == 200
    pools = api.get(f"/teams/{TEAM}/product-pools").json()["data"]
    assert next(p for p in pools if p["productId"] == REVIT)["totalQuantity"] == 40
    bad = control("PATCH", f"/teams/{TEAM}/product-pools/{REVIT}", {"endDate": "soon"})
    assert bad.status_code == 400


def test_control_adds_users(api: Api) -> None:
    new = {"id": "US5550000001", "email": "new@example.com", "firstName": "N", "lastName": "U"}
    assert api.emulator.control("POST", f"/teams/{TEAM}/users", new).status_code == 201
    assert api.get(f"/teams/{TEAM}/users/US5550000001").json() == new
    assert api.emulator.control("POST", f"/teams/{TEAM}/users", new).status_code == 409


# -- request ids and the call log ---------------------------------------------------


def test_a_valid_request_id_is_echoed(reading: Api) -> None:
    response = reading.http.get(
        f"/teams/{TEAM}/users", headers={**reading.headers, "X-Request-Id": "sync-42.a_b"}
    )
    assert response.headers["x-request-id"] == "sync-42.a_b"


@pytest.mark.parametrize("header", [None, "has space", "x" * 129, "bad/char"])
def test_otherwise_a_request_id_is_generated(reading: Api, header: str | None) -> None:
    extra = {"X-Request-Id": header} if header else {}
    response = reading.http.get(f"/teams/{OTHER_TEAM}/users", headers={**reading.headers, **extra})
    generated = response.headers["x-request-id"]
    assert generated and generated != header
    assert response.json()["requestId"] == generated


def test_the_call_log_names_team_status_and_request_id(api: Api) -> None:
    api.emulator.control("DELETE", "/calls")
    api.http.get(
        f"/teams/{TEAM}/users/{user(1)['id']}", headers={**api.headers, "X-Request-Id": "r-1"}
    )
    (call,) = api.emulator.team_admin_calls()
    assert call["team"] == TEAM
    assert call["status"] == 200
    assert call["request_id"] == "r-1"
    assert call["method"] == "GET"
    assert call["client_id"] == "demo-client"
    assert call["fault"] is None
    assert api.emulator.logged_calls()[-1] == call


def test_control_data_shows_the_current_state(api: Api) -> None:
    api.post(f"/teams/{TEAM}/assignments", {"userId": user(200)["id"], "productId": REVIT})
    data = api.emulator.control("GET", "/data").json()
    team = next(t for t in data["teams"] if t["id"] == TEAM)
    assert {"userId": user(200)["id"], "productId": REVIT, "assignmentType": "DIRECT"} in team[
        "assignments"
    ]


def test_add_team_user_invites_once(api: Api) -> None:
    first = api.post(f"/teams/{TEAM}/users", {"email": "new.person@example.com"})
    assert first.status_code == 201
    assert first.json()["id"].startswith("US")
    again = api.post(f"/teams/{TEAM}/users", {"email": "New.Person@example.com"})
    assert again.status_code == 200
    assert again.json() == first.json()
    is_problem(api.post(f"/teams/{TEAM}/users", {"email": "not-an-address"}), 400)


def test_unassigning_an_unsupported_product_is_422(reading: Api) -> None:
    pair = {"userId": user(20)["id"], "productId": VAULT}
    problem = is_problem(reading.delete(f"/teams/{TEAM}/assignments", **pair), 422)
    assert problem["type"].endswith("/unsupported-product")


def test_unknown_paths_and_methods_answer_in_the_problem_shape(reading: Api) -> None:
    is_problem(reading.get("/nothing-here"), 404)
    is_problem(reading.http.put(f"/teams/{TEAM}/users", headers=reading.headers), 405)
