"""The agent's only way to the server: enrolment, check-in, events.

Failures are sorted into what the caller can do about them: wait and try
again (`ServerUnreachable`), enrol again (`CredentialRefused`), or set a
bad event aside (`BatchRejected`). The HTTP transport can be injected so
tests can drive every branch without a network.
"""

import logging
import ssl
from typing import Any

import httpx

log = logging.getLogger(__name__)

TIMEOUT_S = 15.0


class UplinkError(Exception):
    pass


class ServerUnreachable(UplinkError):
    """No answer, or an answer saying "not now": try again later."""


class CredentialRefused(UplinkError):
    """The server does not accept the credential: enrol again."""


class EnrolmentRefused(CredentialRefused):
    """The server does not accept the enrolment token: a person must act."""


class BatchRejected(UplinkError):
    """The server refused the batch because of these events, for good."""

    def __init__(self, message: str, event_ids: list[str]) -> None:
        super().__init__(message)
        self.event_ids = event_ids


class BatchTooLarge(UplinkError):
    """The server wants smaller batches."""


class Uplink:
    def __init__(
        self,
        server: str,
        verify: bool | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._client = httpx.Client(
            base_url=self.server,
            verify=verify,
            timeout=TIMEOUT_S,
            transport=transport,
            headers={"User-Agent": "seatmeter-agent"},
        )

    def enrol(self, token: str, agent_id: str, host: dict[str, str]) -> str:
        body = {"agent_id": agent_id, **host}
        try:
            answer = self._post("/api/agent/v1/enrol", token, body)
        except CredentialRefused as error:
            raise EnrolmentRefused(
                f"the server refused the enrolment token ({error}); give the agent "
                "an agent-scope token: seatmeter token create --scope agent"
            ) from None
        credential: str = answer["credential"]
        return credential

    def check_in(self, credential: str, report: dict[str, Any]) -> dict[str, Any]:
        return self._post("/api/agent/v1/check-in", credential, report)

    def send(self, credential: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        return self._post("/api/agent/v1/session-events", credential, {"events": events})

    def catalog(self, credential: str) -> dict[str, Any]:
        return self._call("GET", "/api/agent/v1/catalog", credential, None)

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, secret: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, secret, body)

    def _call(
        self, method: str, path: str, secret: str, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        try:
            response = self._client.request(
                method, path, json=body, headers={"Authorization": f"Bearer {secret}"}
            )
        except httpx.HTTPError as error:
            raise ServerUnreachable(f"{self.server}: {type(error).__name__}: {error}") from None
        return _answer(response)


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        body: dict[str, Any] = response.json()
        return body
    error = _error_of(response)
    message = f"HTTP {response.status_code}: {error.get('message', response.reason_phrase)}"
    if response.status_code == 401:
        raise CredentialRefused(message)
    if response.status_code == 413 or _names_field(error, "events"):
        raise BatchTooLarge(message)
    if response.status_code == 422 and error.get("code") == "invalid_event":
        ids = [d.get("event_id") for d in error.get("details", []) if d.get("event_id")]
        raise BatchRejected(message, list(dict.fromkeys(ids)))
    # Anything else (5xx, 429, a proxy's error page) may pass: retry later.
    raise ServerUnreachable(message)


def _names_field(error: dict[str, Any], field: str) -> bool:
    """The server's "too many events in one batch" is a 422 on `events`."""
    details = error.get("details") or []
    return any(isinstance(d, dict) and d.get("field") == field for d in details)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}
