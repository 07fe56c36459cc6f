"""The emulator's OAuth over real HTTP: code flow, rotation, revocation."""

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from autodesk_examples import TEAM, example_data
from emulatorproc import REDIRECT_URI, Emulator, running_emulator

pytestmark = pytest.mark.slow


@pytest.fixture
def autodesk(tmp_path: Path) -> Iterator[Emulator]:
    with running_emulator(example_data(), tmp_path) as emulator:
        yield emulator


def users_url(autodesk: Emulator) -> str:
    return f"{autodesk.base_url}/team-admin/v1/teams/{TEAM}/users"


def test_code_flow_gives_a_bearer_token_that_works(autodesk: Emulator) -> None:
    response = httpx.get(
        f"{autodesk.base_url}/authentication/v2/authorize",
        params={
            "client_id": "demo-client",
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "state": "s-123",
        },
    )
    assert response.status_code == 302
    location = urlparse(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["state"] == ["s-123"]

    form = {"grant_type": "authorization_code", "code": query["code"][0]}
    tokens = autodesk.token(**form, redirect_uri=REDIRECT_URI).json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert abs(tokens["expires_at"] - (time.time() + 3600)) < 60
    assert tokens["refresh_token"]
    assert httpx.get(users_url(autodesk), headers=autodesk.bearer(tokens)).status_code == 200


def test_a_code_works_once(autodesk: Emulator) -> None:
    code = autodesk.authorize()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    assert autodesk.token(**form).status_code == 200
    again = autodesk.token(**form)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_redirect_uri(autodesk: Emulator) -> None:
    code = autodesk.authorize()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://x/other"}
    assert autodesk.token(**form).json()["error"] == "invalid_grant"


def test_refresh_rotates_and_the_old_refresh_token_is_refused(autodesk: Emulator) -> None:
    first = autodesk.sign_in()
    second = autodesk.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]

    reused = autodesk.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"

    third = autodesk.token(grant_type="refresh_token", refresh_token=second.json()["refresh_token"])
    assert third.status_code == 200
    assert httpx.get(users_url(autodesk), headers=autodesk.bearer(third.json())).status_code == 200

    used = {t["token"]: t["used_at"] for t in autodesk.tokens() if t["kind"] == "refresh"}
    assert used[first["refresh_token"]] is not None
    assert used[third.json()["refresh_token"]] is None


def test_client_credentials_in_the_form_also_work(autodesk: Emulator) -> None:
    code = autodesk.authorize()
    response = httpx.post(
        f"{autodesk.base_url}/authentication/v2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "client_id": "demo-client",
            "client_secret": "demo-secret",
        },
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "auth", [("demo-client", "wrong"), ("nobody", "demo-secret"), None], ids=str
)
def test_a_bad_client_gets_401(autodesk: Emulator, auth: tuple[str, str] | None) -> None:
    response = httpx.post(
        f"{autodesk.base_url}/authentication/v2/token",
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=auth,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_pkce_verifier_is_checked(autodesk: Emulator) -> None:
    verifier = "v" * 50
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    params = {"code_challenge": challenge, "code_challenge_method": "S256"}
    form = {"grant_type": "authorization_code", "redirect_uri": REDIRECT_URI}

    wrong = autodesk.token(**form, code=autodesk.authorize(**params), code_verifier="w" * 50)
    assert wrong.json()["error"] == "invalid_grant"
    right = autodesk.token(**form, code=autodesk.authorize(**params), code_verifier=verifier)
    assert right.status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_id": "nobody"}, "client_id"),
        ({"response_type": "token"}, "response_type"),
        ({"redirect_uri": ""}, "redirect_uri"),
        ({"client_id": "other-client", "redirect_uri": "http://evil/cb"}, "redirect_uri"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "code_challenge_method"),
    ],
)
def test_bad_authorize_parameters_get_400_not_a_redirect(
    autodesk: Emulator, change: dict[str, str], field: str
) -> None:
    params = {
        "client_id": "demo-client",
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        **change,
    }
    response = httpx.get(f"{autodesk.base_url}/authentication/v2/authorize", params=params)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


def test_a_registered_redirect_uri_is_accepted(autodesk: Emulator) -> None:
    params = {
        "client_id": "other-client",
        "response_type": "code",
        "redirect_uri": "http://127.0.0.1/registered",
    }
    response = httpx.get(f"{autodesk.base_url}/authentication/v2/authorize", params=params)
    assert response.status_code == 302


def test_revoke_ends_the_chain(autodesk: Emulator) -> None:
    tokens = autodesk.sign_in()
    assert autodesk.control("POST", "/revoke", {"client_id": "demo-client"}).status_code == 200

    refused = httpx.get(users_url(autodesk), headers=autodesk.bearer(tokens))
    assert refused.status_code == 401
    assert set(refused.json()) == {"developerMessage", "errorCode", "more info"}
    refresh = autodesk.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refresh.json()["error"] == "invalid_grant"
    assert all(token["revoked_at"] for token in autodesk.tokens())


def test_an_expired_access_token_gets_401(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, access_token_ttl=1) as autodesk:
        tokens = autodesk.sign_in()
        # Waiting for expiry is the behaviour under test, not a speed check.
        time.sleep(1.2)
        response = httpx.get(users_url(autodesk), headers=autodesk.bearer(tokens))
        assert response.status_code == 401
        assert response.json()["errorCode"]


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer not-a-token"])
def test_team_admin_without_a_valid_token_gets_401_aps_shape(
    autodesk: Emulator, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.get(users_url(autodesk), headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"developerMessage", "errorCode", "more info"}


def test_scopes_are_enforced_when_asked(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, enforce_scopes=True) as autodesk:
        narrow = autodesk.bearer(autodesk.sign_in(scope="tmadmapi:team:read"))
        teams = httpx.get(f"{autodesk.base_url}/team-admin/v1/teams", headers=narrow)
        assert teams.status_code == 200
        refused = httpx.get(users_url(autodesk), headers=narrow)
        assert refused.status_code == 403
        assert "tmadmapi:team-users:read" in refused.json()["developerMessage"]
        wide = autodesk.bearer(autodesk.sign_in())
        assert httpx.get(users_url(autodesk), headers=wide).status_code == 200
