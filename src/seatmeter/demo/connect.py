"""Connect the demo's server to the emulated Autodesk team, as an
administrator would: create the license server, give consent through
OAuth (the emulator approves at once), and sync."""

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

LICENSE_SERVER = "Example Team (emulated Autodesk)"


def connect(base_url: str, admin_token: str, emulator_url: str, team: dict[str, Any]) -> int:
    """Returns the license server's id once its first sync succeeded."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as api:
        license_server = _create(api, emulator_url, team)
        _consent(api, license_server)
        result = _call(api, "POST", f"/api/v1/license-servers/{license_server}/sync?wait=true")
        log.info("demo: license server %d synced: %s", license_server, result.get("status"))
        return license_server


def _create(api: httpx.Client, emulator_url: str, team: dict[str, Any]) -> int:
    client = team["clients"][0]
    body = {
        "name": LICENSE_SERVER,
        "type": "autodesk",
        "team_id": team["teams"][0]["id"],
        "api_base_url": emulator_url,
        "client_id": client["client_id"],
        "client_secret": client["client_secret"],
        "poll_interval_s": 900,
        "enabled": True,
    }
    return int(_call(api, "POST", "/api/v1/license-servers", json=body)["id"])


def _consent(api: httpx.Client, license_server: int) -> None:
    """Open the authorize URL as a browser would: the emulator redirects
    straight back to Seatmeter's callback, which stores the tokens."""
    answer = _call(api, "POST", f"/api/v1/license-servers/{license_server}/authorize")
    landed = httpx.get(answer["authorize_url"], follow_redirects=True, timeout=60)
    if landed.status_code >= 400:
        raise RuntimeError(f"OAuth consent failed: {landed.status_code} {landed.text[:300]}")


def _call(api: httpx.Client, method: str, path: str, **options: Any) -> dict[str, Any]:
    answer = api.request(method, path, **options)
    if answer.status_code >= 400:
        raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
    return dict(answer.json())
