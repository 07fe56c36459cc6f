"""Signing in and out: cookies, CSRF on the sign-in form, expiry, and web
sessions shared by every server process over one database."""

from pathlib import Path

from conftest import make_settings
from fastapi.testclient import TestClient
from sqlalchemy import update
from webpages import PASSWORD, csrf_of, make_account, sign_in

from seatmeter.server.app import create_app
from seatmeter.server.db import Database, utcnow
from seatmeter.web.auth import COOKIE
from seatmeter.web.models import WebSession


def browser(client: TestClient) -> TestClient:
    person = TestClient(client.app, follow_redirects=False)
    person.__enter__()
    return person


def test_signing_in_sets_an_http_only_same_site_cookie(
    client: TestClient, database: Database
) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)

    response = sign_in(person, "ada", PASSWORD)

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert f"{COOKIE}=" in cookie
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie, "plain http: a Secure cookie would never come back"
    assert person.get("/").status_code == 200


def test_the_cookie_is_secure_behind_tls(client: TestClient, database: Database) -> None:
    make_account(database, "ada", "admin")
    with TestClient(client.app, base_url="https://testserver", follow_redirects=False) as person:
        response = sign_in(person, "ada", PASSWORD)
        assert person.get("/").status_code == 200

    assert response.status_code == 303
    assert "secure" in response.headers["set-cookie"].lower()


def test_a_public_https_url_makes_the_cookie_secure(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    # Behind a TLS proxy that does not say so, public_url still tells.
    settings = make_settings(database_url, tmp_path, public_url="https://seatmeter.example")
    with TestClient(create_app(settings, database), follow_redirects=False) as person:
        page = person.get("/login")

    assert "secure" in page.headers["set-cookie"].lower()


def test_a_wrong_password_or_name_is_refused_alike(client: TestClient, database: Database) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)

    for name, password in (("ada", "wrong password"), ("nobody", PASSWORD)):
        response = sign_in(person, name, password)
        assert response.status_code == 401
        assert "account name or the password is wrong" in response.text
        assert COOKIE not in response.headers.get("set-cookie", "")
    assert person.get("/").status_code == 303


def test_the_sign_in_form_needs_the_cookie_its_page_set(
    client: TestClient, database: Database
) -> None:
    make_account(database, "ada", "admin")
    page = browser(client).get("/login")
    # Another browser (an attacker's page) posts a copied token without the cookie.
    stranger = browser(client)

    response = stranger.post(
        "/login", data={"csrf_token": csrf_of(page), "name": "ada", "password": PASSWORD}
    )

    assert response.status_code == 403
    assert "CSRF token" in response.text


def test_after_signing_in_only_pages_of_this_site_are_next(
    client: TestClient, database: Database
) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)
    sent_away = person.get("/agents?status=offline")
    assert sent_away.headers["location"] == "/login?next=/agents%3Fstatus%3Doffline"

    for target, landing in (
        ("/agents?status=offline", "/agents?status=offline"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ):
        page = person.get("/login")
        response = person.post(
            "/login",
            data={"csrf_token": csrf_of(page), "name": "ada", "password": PASSWORD, "next": target},
        )
        assert response.headers["location"] == landing


def test_signing_out_ends_the_web_session(client: TestClient, database: Database) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)
    sign_in(person, "ada", PASSWORD)
    cookie = person.cookies[COOKIE]

    response = person.post("/logout", data={"csrf_token": csrf_of(person.get("/"))})

    assert response.status_code == 303
    replayed = browser(client)
    replayed.cookies[COOKIE] = cookie
    assert replayed.get("/").status_code == 303


def test_every_server_process_knows_a_sign_in(
    client: TestClient, database: Database, database_url: str, tmp_path: Path
) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)
    sign_in(person, "ada", PASSWORD)
    other_database = Database(database_url)
    other_app = create_app(make_settings(database_url, tmp_path / "other"), other_database)

    with TestClient(other_app, follow_redirects=False) as other:
        other.cookies[COOKIE] = person.cookies[COOKIE]
        response = other.get("/")
    other_database.dispose()

    assert response.status_code == 200
    assert "ada" in response.text


def test_an_expired_sign_in_asks_for_the_password_again(
    client: TestClient, database: Database
) -> None:
    make_account(database, "ada", "admin")
    person = browser(client)
    sign_in(person, "ada", PASSWORD)
    with database.writing() as session:
        session.execute(update(WebSession).values(expires_at=utcnow()))

    response = person.get("/")

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
