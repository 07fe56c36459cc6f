"""The license server page's Autodesk side through the TestClient:
"Connect with Autodesk" sends the browser to the authorize URL, "Sync
now" needs consent, and the sync history shows each run."""

from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from webpages import csrf_of, signed_in

from seatmeter.server.db import Database

FORM = {
    "name": "Main <team>",
    "team_id": "t-1",
    "api_base_url": "https://autodesk.example",
    "poll_interval_s": "900",
    "enabled": "on",
    "client_id": "seatmeter-app",
    "client_secret": "app-secret",
}


@pytest.fixture
def admin_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "ada", "admin")


def create(admin_page: TestClient) -> str:
    token = csrf_of(admin_page.get("/"))
    response = admin_page.post("/license-servers", data={**FORM, "csrf_token": token})
    assert response.status_code == 303, response.text
    return response.headers["location"].split("?")[0]


def test_connect_sends_the_browser_to_autodesk(admin_page: TestClient) -> None:
    path = create(admin_page)
    token = csrf_of(admin_page.get(path))

    response = admin_page.post(path + "/connect", data={"csrf_token": token})

    assert response.status_code == 303, response.text
    url = urlsplit(response.headers["location"])
    query = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}" == FORM["api_base_url"]
    assert query["client_id"] == ["seatmeter-app"]
    assert query["redirect_uri"] == ["http://testserver/api/v1/oauth/autodesk/callback"]
    assert query["state"] and query["code_challenge_method"] == ["S256"]


def test_sync_now_needs_consent_and_history_starts_empty(admin_page: TestClient) -> None:
    path = create(admin_page)
    page = admin_page.get(path)

    response = admin_page.post(path + "/sync", data={"csrf_token": csrf_of(page)})

    assert "Connect with Autodesk" in page.text and "No sync yet" in page.text
    assert "Main &lt;team&gt;" in page.text
    assert response.status_code == 409
    assert "has no Autodesk consent yet" in response.text
