"""A real Seatmeter server connected to a real emulator, both on loopback.

    with connected(database_url, tmp_path, generate_team(users=30)) as (autodesk, seatmeter):
        seatmeter.sync()
        assert seatmeter.entitlements() == autodesk.entitlements()

The license server is created through the API with its api_base_url at
the emulator, and consent is given the way a person gives it: POST
.../authorize, then open authorize_url in a browser (httpx following
redirects), which lands on Seatmeter's callback.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from emulator.emulatorproc import Emulator, running_emulator
from serverproc import create_token, running_server

# Both sides agree on a short window, so that big teams sync in seconds.
RATE = {"rate_limit": 60, "rate_window": 3}
TYPE_STRENGTH = {"DIRECT": 3, "GROUP": 2, "TEAM": 1}


class Seatmeter:
    def __init__(self, base_url: str, token: str, data_dir: Path) -> None:
        self.base_url = base_url
        self.data_dir = data_dir
        self.http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        self.server_id = 0

    def create_server(self, autodesk: Emulator, team_id: str) -> dict[str, Any]:
        client = autodesk.client
        body = {
            "name": "Main team",
            "team_id": team_id,
            "api_base_url": autodesk.base_url,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        }
        response = self.http.post("/api/v1/license-servers", json=body)
        assert response.status_code == 201, response.text
        self.server_id = response.json()["id"]
        return dict(response.json())

    def authorize(self) -> httpx.Response:
        response = self.http.post(f"/api/v1/license-servers/{self.server_id}/authorize")
        assert response.status_code == 200, response.text
        # A browser: no Seatmeter credential, just following the redirects.
        return httpx.get(response.json()["authorize_url"], follow_redirects=True, timeout=60)

    def sync(self) -> dict[str, Any]:
        response = self.http.post(
            f"/api/v1/license-servers/{self.server_id}/sync", params={"wait": "true"}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def server(self) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/license-servers/{self.server_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def listing(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"limit": 1000, "license_server_id": self.server_id, **params}
            response = self.http.get(
                path, params={**query, **({"cursor": cursor} if cursor else {})}
            )
            assert response.status_code == 200, response.text
            body = response.json()
            items += body["items"]
            cursor = body["next"]
            if not cursor:
                return items

    def entitlements(self) -> dict[str, set[tuple[Any, ...]]]:
        pools = self.listing("/api/v1/product-pools", active=True)
        users = self.listing("/api/v1/cloud-users", active=True)
        held = self.listing("/api/v1/assignments", active=True)
        return {
            "pools": {
                (p["product_id"], p["name"], p["total_seats"], p["assigned_seats"], p["unlimited"])
                for p in pools
            },
            "users": {
                (u["autodesk_id"], u["email"], u["first_name"], u["last_name"]) for u in users
            },
            "assignments": {(a["email"], a["product_id"], a["assignment_type"]) for a in held},
        }

    def log_text(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.data_dir.glob("server-*.log")))


def autodesk_entitlements(autodesk: Emulator) -> dict[str, set[tuple[Any, ...]]]:
    """What Seatmeter should hold, worked out from the emulator's own data."""
    [team] = autodesk.control("GET", "/data").json()["teams"]
    shown = {p["productId"]: p for p in team["pools"] if p.get("supported", True)}
    emails = {u["id"]: u["email"] for u in team["users"]}
    effective: dict[tuple[str, str], str] = {}
    for grant in team["assignments"]:
        key = (grant["userId"], grant["productId"])
        kind = grant["assignmentType"]
        if key[1] in shown and TYPE_STRENGTH[kind] > TYPE_STRENGTH.get(effective.get(key, ""), 0):
            effective[key] = kind
    holders = {product: 0 for product in shown}
    for _user, product in effective:
        holders[product] += 1
    return {
        "pools": {
            (
                p["productId"],
                p["productName"],
                None if p["unlimited"] else p["totalQuantity"],
                None if p["unlimited"] or _future(p) else holders[p["productId"]],
                p["unlimited"],
            )
            for p in shown.values()
        },
        "users": {(u["id"], u["email"], u["firstName"], u["lastName"]) for u in team["users"]},
        "assignments": {
            (emails[user], product, kind) for (user, product), kind in effective.items()
        },
    }


def _future(pool: dict[str, Any]) -> bool:
    # Autodesk may not count a future-dated pool's assignments: null.
    start = datetime.fromisoformat(pool["startDate"].replace("Z", "+00:00"))
    return start > datetime.now(UTC)


def team_id(data: dict[str, Any]) -> str:
    return str(data["teams"][0]["id"])


@contextmanager
def connected(
    database_url: str,
    tmp_path: Path,
    data: dict[str, Any],
    emulator_flags: dict[str, Any] | None = None,
    **settings: Any,
) -> Iterator[tuple[Emulator, Seatmeter]]:
    """The emulator, a Seatmeter server, a license server given consent."""
    flags = {**RATE, **(emulator_flags or {})}
    server_settings = {
        "scheduler": "off",
        "autodesk_rate_limit": flags["rate_limit"],
        "autodesk_rate_window_s": flags["rate_window"],
        **settings,
    }
    data_dir = tmp_path / "seatmeter"
    with running_emulator(data, tmp_path / "autodesk", **flags) as autodesk:
        token = create_token(database_url, data_dir, "admin", "e2e")
        with running_server(database_url, data_dir, **server_settings) as base_url:
            seatmeter = Seatmeter(base_url, token, data_dir)
            seatmeter.create_server(autodesk, team_id(data))
            landed = seatmeter.authorize()
            assert landed.status_code == 200, landed.text
            assert landed.url.path == "/api/v1/oauth/autodesk/callback"
            yield autodesk, seatmeter
