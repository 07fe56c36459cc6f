"""Helpers for the web UI's tests: accounts, signing in, reading forms."""

import re
from functools import cache
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from seatmeter.server.accounts.credentials import hash_password
from seatmeter.server.accounts.models import Account
from seatmeter.server.db import Database

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@cache
def password_hash() -> str:
    """Hashed once: argon2 is slow on purpose, and tests make many accounts."""
    return hash_password(PASSWORD)


def make_account(database: Database, name: str, role: str) -> None:
    with database.writing() as session:
        session.add(Account(name=name, password_hash=password_hash(), role=role))


def signed_in(client: TestClient, database: Database, name: str, role: str) -> TestClient:
    """A new client of the same app, signed in with a new account."""
    make_account(database, name, role)
    person = TestClient(client.app, follow_redirects=False)
    person.__enter__()
    response = sign_in(person, name, PASSWORD)
    assert response.status_code == 303, response.text
    return person


def sign_in(client: TestClient, name: str, password: str) -> Response:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf_token": csrf_of(page), "name": name, "password": password, "next": "/"},
    )


def csrf_of(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF field in:\n{page.text[:500]}"
    return found.group(1)


def post_form(client: TestClient, path: str, data: dict[str, Any]) -> Response:
    """A form post as the browser sends it: with the page's CSRF token."""
    token = csrf_of(client.get("/"))
    return client.post(path, data={"csrf_token": token, **data})
