"""A client for Autodesk's Team Admin API (team-admin/v1).

Every call is paced by the team's `Pacer`, carries a fresh X-Request-Id,
and is logged once at INFO with that id. 429 and 503 wait Retry-After and
try again; timeouts and dropped connections back off and try again; after
`retries` such failures the call raises `Unavailable`. A 401 gets one
retry with a refreshed access token. Responses are read tolerantly:
unknown fields are ignored and missing ones come back as None.
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx

from seatmeter.server.autodesk.errors import AutodeskError, Unavailable, from_response
from seatmeter.server.autodesk.pacing import Pacer

log = logging.getLogger(__name__)

PAGE_LIMIT = 100
BACKOFF_FIRST_S = 0.5
BACKOFF_MOST_S = 30.0
# Given the access token Autodesk refused (None at first), returns one to use.
TokenSource = Callable[[str | None], str]


class TeamAdminClient:
    def __init__(
        self,
        base_url: str,
        team_id: str,
        access_token: TokenSource,
        pacer: Pacer,
        *,
        retries: int = 6,
        timeout_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_page: Callable[[], None] | None = None,
    ) -> None:
        self.team_id = team_id
        self.calls = 0
        self._access_token = access_token
        self._pacer = pacer
        self._retries = retries
        self._sleep = sleep
        # Called between pages of a long read, e.g. to renew a sync lease.
        self._on_page = on_page
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/team-admin/v1/",
            transport=transport,
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "TeamAdminClient":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # The operations, in Autodesk's names.

    def list_teams(self) -> list[dict[str, Any]]:
        return self._pages("teams")

    def list_team_users(self) -> list[dict[str, Any]]:
        return self._pages(f"{self._team}/users")

    def get_team_user(self, user_id: str) -> dict[str, Any]:
        return _object(self._call("GET", f"{self._team}/users/{_segment(user_id)}"))

    def list_product_pools(self) -> list[dict[str, Any]]:
        return self._pages(f"{self._team}/product-pools")

    def list_assignments(self, **filters: str) -> list[dict[str, Any]]:
        """Every assignment in one call: Autodesk does not page this list."""
        body = _object(self._call("GET", f"{self._team}/assignments", params=filters))
        return _items(body)

    def assign_product(self, user_id: str, product_id: str) -> dict[str, Any]:
        body = {"userId": user_id, "productId": product_id, "assignmentType": "DIRECT"}
        return _object(self._call("POST", f"{self._team}/assignments", json=body))

    def unassign_product(self, user_id: str, product_id: str) -> None:
        params = {"userId": user_id, "productId": product_id}
        self._call("DELETE", f"{self._team}/assignments", params=params)

    # How calls are made.

    @property
    def _team(self) -> str:
        return f"teams/{_segment(self.team_id)}"

    def _pages(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": str(PAGE_LIMIT), **({"cursor": cursor} if cursor else {})}
            body = _object(self._call("GET", path, params=params))
            items.extend(_items(body))
            pagination = body.get("pagination")
            pagination = pagination if isinstance(pagination, dict) else {}
            cursor = pagination.get("cursor")
            if not pagination.get("hasMore") or not cursor:
                return items
            if self._on_page:
                self._on_page()

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        rejected: str | None = None
        failures = 0
        while True:
            token = self._access_token(rejected)
            response = self._attempt(method, path, params, json, token)
            if response is None or response.status_code in (429, 503):
                failures += 1
                self._wait_after_failure(response, failures, method, path)
                continue
            if response.status_code == 401 and rejected is None:
                # Perhaps it expired early, or another process refreshed.
                rejected = token
                continue
            if response.status_code >= 400:
                raise from_response(response, response.request.headers["x-request-id"])
            return response

    def _attempt(
        self, method: str, path: str, params: Any, json: Any, token: str
    ) -> httpx.Response | None:
        """One paced request; None when the connection failed."""
        request_id = uuid.uuid4().hex
        headers = {
            "Authorization": f"Bearer {token}",
            "X-Request-Id": request_id,
            "Accept": "application/json",
        }
        self._pacer.wait_turn()
        self.calls += 1
        started = time.monotonic()
        try:
            response = self._http.request(method, path, params=params, json=json, headers=headers)
        except httpx.TransportError as error:
            log.info(
                "autodesk %s %s failed: %s (request %s)",
                method,
                path,
                type(error).__name__,
                request_id,
            )
            return None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.info(
            "autodesk %s %s -> %s in %.0f ms (request %s)",
            method,
            path,
            response.status_code,
            elapsed_ms,
            response.headers.get("x-request-id", request_id),
        )
        self._pacer.observe(response.headers)
        return response

    def _wait_after_failure(
        self, response: httpx.Response | None, failures: int, method: str, path: str
    ) -> None:
        if failures > self._retries:
            if response is None:
                raise Unavailable(
                    f"Autodesk could not be reached for {method} {path} after "
                    f"{failures} attempts; check the network and api_base_url"
                )
            raise from_response(response, response.request.headers["x-request-id"])
        if response is not None:
            self._pacer.hold_for(_retry_after(response))
            return
        self._sleep(min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MOST_S))


def _retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds; an HTTP date or nonsense means one second."""
    try:
        return max(float(response.headers.get("retry-after", "1")), 0.0)
    except ValueError:
        return 1.0


def _segment(text: str) -> str:
    return quote(text, safe="")


def _object(response: httpx.Response) -> dict[str, Any]:
    if response.status_code == 204 or not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise AutodeskError(
            f"Autodesk answered {response.request.url.path} with something not JSON "
            f"(request {response.request.headers['x-request-id']})"
        ) from None
    return body if isinstance(body, dict) else {"data": body}


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
