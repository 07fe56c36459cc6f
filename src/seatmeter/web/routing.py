"""How a page answers when something fails: as a page, not as JSON.

Pages raise the same `ApiError`s as the API (the services raise them),
and `WebRoute` shows their message on an error page with the same
status. A visitor who is not signed in is sent to the sign-in page.
"""

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from seatmeter.server.api.fields import text_problem
from seatmeter.server.errors import ApiError, describe_problem, invalid
from seatmeter.web.render import render


class SignInNeeded(Exception):
    """The request carries no current web session."""


class WebRoute(APIRoute):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Pages are for browsers; the API's schema documents the API.
        kwargs["include_in_schema"] = False
        super().__init__(*args, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                _check_query(request)
                return await handler(request)
            except SignInNeeded:
                return sign_in_redirect(request)
            except ApiError as error:
                return error_page(request, error)
            except RequestValidationError as error:
                return error_page(request, _as_api_error(error))

        return page_handler


def sign_in_redirect(request: Request) -> Response:
    # Back to the page asked for after signing in; for a form post, the
    # page it came from is unknown, so the dashboard.
    target = request.url.path if request.method == "GET" else "/"
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    if request.headers.get("hx-request") == "true":
        # The browser would follow a redirect inside htmx's request and
        # swap the sign-in form into a grid; htmx loads this one whole.
        return Response(headers={"HX-Redirect": f"/login?next={quote(request.url.path)}"})
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def back_to(path: str, notice: str) -> Response:
    """After a change: the page to show, with a line saying what was done."""
    return RedirectResponse(f"{path}?{urlencode({'notice': notice})}", status_code=303)


def error_page(request: Request, error: ApiError) -> Response:
    return render(request, "error.html", status=error.status, error=error)


def _check_query(request: Request) -> None:
    for name, value in request.query_params.multi_items():
        problem = text_problem(value)
        if problem:
            raise invalid(name, value, problem)


def _as_api_error(error: RequestValidationError) -> ApiError:
    first = describe_problem(error.errors()[0])
    return invalid(first["field"], first["value"], first["problem"])


def is_page(route: Any) -> bool:
    """Whether a route (or a FastAPI route context) is a web page."""
    return isinstance(getattr(route, "original_route", route), WebRoute)
