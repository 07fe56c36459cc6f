"""What can go wrong when Seatmeter talks to Autodesk.

    AutodeskError            any failed call; the message says what to do
     +-- Unauthorized        consent lapsed, revoked or refused (401, invalid_grant)
     +-- Forbidden           not an administrator of the team, or not eligible (403)
     +-- NotFound            no such user or assignment (404)
     +-- Unprocessable       Autodesk understood and refused (422)
     +-- Unavailable         still failing after every retry, or unreachable

Messages carry Autodesk's request id so a support case can quote it, and
never a token or a secret.
"""

from typing import Any

import httpx


class AutodeskError(Exception):
    def __init__(self, message: str, *, status: int | None = None, request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id


class Unauthorized(AutodeskError):
    """`lapsed` is true when the refresh chain is gone for good."""

    def __init__(self, message: str, *, lapsed: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.lapsed = lapsed


class Forbidden(AutodeskError):
    pass


class NotFound(AutodeskError):
    pass


class Unprocessable(AutodeskError):
    def __init__(self, message: str, *, problem_type: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.problem_type = problem_type


class Unavailable(AutodeskError):
    pass


HINTS = {
    401: "Autodesk refused the access token; authorize the license server again",
    403: "the person who authorized is not (or no longer) an administrator of "
    "this team, or the team is not eligible for the Team Admin API; "
    "authorize again as a team administrator",
}


def from_response(response: httpx.Response, request_id: str) -> AutodeskError:
    """The error for an answer of 400 or more, in words a person can act on."""
    status = response.status_code
    what = f"{response.request.method} {response.request.url.path}"
    said = describe_body(response)
    hint = f"; {HINTS[status]}" if status in HINTS else ""
    message = f"Autodesk answered {status} to {what}: {said}{hint} (request {request_id})"
    kinds: dict[int, type[AutodeskError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound}
    if status == 422:
        problem = _json(response) or {}
        return Unprocessable(
            message,
            problem_type=str(problem.get("type", "")),
            status=status,
            request_id=request_id,
        )
    busy = status >= 500 or status == 429
    kind = kinds.get(status, Unavailable if busy else AutodeskError)
    return kind(message, status=status, request_id=request_id)


def describe_body(response: httpx.Response) -> str:
    """problem+json, the older APS error shape, or a bit of the text."""
    body = _json(response)
    if not isinstance(body, dict):
        return response.text.strip()[:200] or response.reason_phrase
    if "title" in body or "detail" in body:
        parts = [str(body.get(key)) for key in ("title", "detail") if body.get(key)]
        fields = [
            f"{item.get('field')}: {item.get('detail') or item.get('title')}"
            for item in body.get("errors") or []
            if isinstance(item, dict)
        ]
        return "; ".join(parts + fields)
    if "developerMessage" in body:
        return f"{body.get('errorCode', '')} {body['developerMessage']}".strip()
    if "error" in body:
        return f"{body['error']}: {body.get('error_description', '')}".strip(": ")
    return response.text.strip()[:200]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
