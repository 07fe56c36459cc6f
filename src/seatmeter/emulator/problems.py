"""The error shapes Autodesk answers with, produced in one place.

Most failures are RFC 9457 `application/problem+json` with a type URI
under PROBLEMS; a missing or bad token gets the older APS JSON shape
(`developerMessage`, `errorCode`, `more info`) as the fact sheet says.
The token endpoint answers as OAuth does: `{"error", "error_description"}`.
"""

import re
import uuid
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PROBLEMS = "https://developer.api.autodesk.com/problems/"
APS_AUTH_DOCS = "https://aps.autodesk.com/en/docs/oauth/v2/developers_guide/error_handling/"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


@dataclass
class FieldError:
    field: str
    detail: str
    title: str = "Invalid value"


@dataclass
class Problem(Exception):
    """A refusal; raise it from a route and it leaves as problem+json."""

    status: int
    kind: str  # the last part of the type URI, e.g. "invalid-request"
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, request: Request) -> Response:
        body = {
            "type": PROBLEMS + self.kind,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": request.url.path,
            "requestId": request_id_of(request),
            "errors": [
                {"field": error.field, "title": error.title, "detail": error.detail}
                for error in self.errors
            ],
        }
        return JSONResponse(
            body,
            status_code=self.status,
            headers=self.headers,
            media_type="application/problem+json",
        )


def invalid(field_name: str, detail: str) -> Problem:
    """A 400 about one request field, named in `errors[]` too."""
    return Problem(400, "invalid-request", detail, [FieldError(field_name, detail)])


class ApsError(Exception):
    """A 401 (no valid token) or 403 (a scope missing) in the APS shape."""

    def __init__(self, message: str, code: str = "AUTH-006", status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def response(self) -> Response:
        body = {
            "developerMessage": self.message,
            "errorCode": self.code,
            "more info": APS_AUTH_DOCS,
        }
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        return JSONResponse(body, status_code=self.status, headers=headers)


class OAuthError(Exception):
    """A token endpoint refusal, as RFC 6749 section 5.2 writes it."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Basic"} if self.status == 401 else {}
        body = {"error": self.error, "error_description": self.description}
        return JSONResponse(body, status_code=self.status, headers=headers)


def request_id_for(header: str | None) -> str:
    """Echo a valid X-Request-Id (trimmed); otherwise make one up."""
    if header is not None:
        trimmed = header.strip()
        if REQUEST_ID.match(trimmed):
            return trimmed
    return str(uuid.uuid4())


def request_id_of(request: Request) -> str:
    scope = request.scope
    return str(scope.get("emulator.request_id") or request_id_for(None))
