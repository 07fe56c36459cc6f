"""Forms that change something must prove they came from our own page.

Each web session has a random CSRF token; every form carries it in a
hidden `csrf_token` field and htmx sends it as `X-CSRF-Token` (see
static/seatmeter.js). A request without the session's token is refused
before anything is read from it. The sign-in form, which has no session
yet, uses a cookie and a field with the same random value instead.
"""

import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from seatmeter.server.api.fields import text_problem
from seatmeter.server.errors import ApiError, invalid
from seatmeter.web.auth import Viewer, administrator, current_viewer

FIELD = "csrf_token"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "seatmeter_login"


def refused() -> ApiError:
    return ApiError(
        403,
        "csrf_refused",
        "this form did not come from a current page of this site (its CSRF "
        "token is missing or out of date); reload the page and send it again",
    )


async def checked_form(request: Request, expected: str) -> FormData:
    form = await request.form()
    given = form.get(FIELD) or request.headers.get(HEADER) or ""
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise refused()
    for name, value in form.multi_items():
        problem = text_problem(value) if isinstance(value, str) else "files are not accepted"
        if problem:
            raise invalid(name, value, problem)
    return form


async def _viewer_form(
    request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]
) -> FormData:
    return await checked_form(request, viewer.csrf_token)


async def _admin_form(
    request: Request, viewer: Annotated[Viewer, Depends(administrator)]
) -> FormData:
    return await checked_form(request, viewer.csrf_token)


# A form any signed-in person may send (signing out), and one for admins.
ViewerForm = Annotated[FormData, Depends(_viewer_form)]
AdminForm = Annotated[FormData, Depends(_admin_form)]
