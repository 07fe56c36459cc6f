"""The one error shape, pinned: every failure is {"error": {...}} and
nothing internal leaks, whatever went wrong."""

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient

from seatmeter.server.app import create_app
from seatmeter.server.db import Database


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    assert "Traceback" not in response.text
    return body["error"]


def test_unknown_endpoint(admin):
    assert_error_shape(admin.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method(admin):
    assert_error_shape(admin.put("/api/v1/agents"), 405, "method_not_allowed")


def test_unknown_id_names_the_id(admin):
    error = assert_error_shape(admin.get("/api/v1/agent-groups/4242"), 404, "not_found")

    assert "4242" in error["message"]


def test_declared_oversized_body_is_refused_before_reading(admin):
    body = b"{" + b" " * 2_000_000 + b"}"

    response = admin.post(
        "/api/v1/agent-groups", content=body, headers={"content-type": "application/json"}
    )

    error = assert_error_shape(response, 413, "body_too_large")
    assert "1048576" in error["message"]


def test_streamed_oversized_body_is_refused(admin):
    def chunks():
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = admin.post(
        "/api/v1/agent-groups", content=chunks(), headers={"content-type": "application/json"}
    )

    assert_error_shape(response, 413, "body_too_large")


def test_missing_token_says_how_to_get_one(client):
    error = assert_error_shape(client.get("/api/v1/agents"), 401, "unauthorized")

    assert "seatmeter token create" in error["message"]


def test_unexpected_failure_is_a_bare_500(settings, database):
    app = create_app(settings, database)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")

    error = assert_error_shape(response, 500, "internal_error")
    assert "secret internals" not in response.text
    assert "RuntimeError" not in error["message"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_unreachable_database_is_a_503(tmp_path, backend):
    # A folder where the database file should be: SQLite cannot open it.
    (tmp_path / "db").mkdir()
    database = Database(f"sqlite:///{tmp_path / 'db'}")
    settings = make_settings(str(database.url), tmp_path)

    with TestClient(create_app(settings, database)) as client:
        response = client.get("/readyz")

    assert_error_shape(response, 503, "database_unavailable")
