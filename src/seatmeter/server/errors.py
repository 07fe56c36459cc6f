"""The API's one error shape, and the only place that produces it.

Every failure leaves as `{"error": {"code", "message", "details"}}` with a
4xx status when the request was at fault. The message names the field,
the value and what to do; details repeat that per field for programs.
Nothing internal (stack traces, SQL, versions) ever reaches a response.
"""

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 60


class ErrorDetail(BaseModel):
    code: str = Field(description="stable; branch on this")
    message: str = Field(description="for people: the field, the value, what to do")
    details: list[Any]


class ErrorBody(BaseModel):
    error: ErrorDetail


# Added to every router, so the schema documents the failures too.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (400, "malformed request"),
        (401, "no valid token"),
        (403, "token lacks the scope"),
        (404, "no such object"),
        (409, "conflicts with stored data"),
        (413, "body too large"),
        (422, "a value is invalid"),
        (503, "database unavailable"),
    )
}


class ApiError(HTTPException):
    """A failure the request caused, as the API reports it.

    An HTTPException underneath, because FastAPI lets only those through
    untouched while it reads a request body.
    """

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(status_code=status, detail=message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else []


def not_found(kind: str, identifier: object, listing: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"{kind} {identifier!r} does not exist; see {listing} for the ones that do",
    )


def invalid(field: str, value: object, problem: str) -> ApiError:
    """A 422 about one field of the request."""
    detail = {"field": field, "value": _plain(value), "problem": problem}
    return ApiError(
        422,
        "invalid_value",
        f"{field}: {problem} (got {_show(value)})",
        [detail],
    )


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def respond(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return respond(error.status, error.code, error.message, error.details)


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = list(error.errors())
    malformed = [p for p in problems if p.get("type") == "json_invalid"]
    if malformed:
        reason = malformed[0].get("ctx", {}).get("error", "not valid JSON")
        return respond(
            400,
            "malformed_json",
            f"the request body is not valid JSON ({reason}); send a JSON object",
        )
    details = [describe_problem(p) for p in problems]
    first = details[0]
    message = f"{first['field']}: {first['problem']} (got {_show(first['value'])})"
    if len(details) > 1:
        message += f", and {len(details) - 1} more problem(s) listed in details"
    return respond(422, "invalid_value", message, details)


def describe_problem(problem: Any) -> dict[str, Any]:
    """One pydantic error as {field, value, problem}, in the API's words."""
    location = [str(part) for part in problem.get("loc", ()) if part != "body"]
    field = _dotted(location) or "body"
    value = problem.get("input")
    text = problem.get("msg", "is not valid")
    if problem.get("type") == "missing":
        value, text = None, "is required"
    elif problem.get("type") == "extra_forbidden":
        text = "is not a known field; remove it"
    return {"field": field, "value": _plain(value), "problem": text}


async def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
    messages = {
        404: "no such endpoint; see /docs for the API",
        405: "this method is not allowed on this endpoint; see /docs",
    }
    message = messages.get(error.status_code, str(error.detail))
    code = codes.get(error.status_code, "http_error")
    return respond(error.status_code, code, message)


async def _integrity_error(_request: Request, error: Exception) -> JSONResponse:
    # Reached only when two requests race past the service's own checks.
    log.info("integrity conflict: %s", type(error).__name__)
    return respond(
        409,
        "conflict",
        "the change conflicts with data stored at the same moment; reload and try again",
    )


async def _unstorable(_request: Request, error: Exception) -> JSONResponse:
    # A backstop: request models should have refused the value already.
    log.warning("database refused a value: %s", str(error).splitlines()[0])
    return respond(
        422,
        "invalid_value",
        "a value in the request cannot be stored (a number too large or "
        "text the database refuses); check the values and send again",
    )


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", str(error).splitlines()[0])
    return respond(503, "database_unavailable", "the database cannot be reached; try again shortly")


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return respond(500, "internal_error", "the server failed unexpectedly; the error is in its log")


def _dotted(location: list[str]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text


def _plain(value: Any) -> Any:
    """A value safe to echo: JSON-able, valid UTF-8 and short."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _show(value: Any) -> str:
    return "nothing" if value is None else repr(_plain(value))
