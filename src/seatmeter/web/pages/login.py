"""Signing in and out."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from seatmeter.server.api.state import Config, Db
from seatmeter.web import auth, csrf
from seatmeter.web.csrf import ViewerForm
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute

router = APIRouter(route_class=WebRoute)


@router.get("/login")
def login_page(request: Request, settings: Config, next: str = "/") -> Response:
    token = request.cookies.get(csrf.LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", csrf_token=token, next=safe_next(next), failed=False)
    _set_login_cookie(request, response, token, settings.public_url)
    return response


async def login_form(request: Request) -> FormData:
    """The sign-in form, checked against the cookie its page set."""
    return await csrf.checked_form(request, request.cookies.get(csrf.LOGIN_COOKIE) or "")


@router.post("/login")
def login(
    request: Request, form: Annotated[FormData, Depends(login_form)], db: Db, settings: Config
) -> Response:
    expected = request.cookies.get(csrf.LOGIN_COOKIE, "")
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    cookie = auth.sign_in(db, name.strip(), password, settings.web_session_hours)
    target = safe_next(str(form.get("next", "/")))
    if cookie is None:
        failed = render(request, "login.html", 401, csrf_token=expected, next=target, failed=True)
        return failed
    response = RedirectResponse(target, status_code=303)
    auth.set_cookie(request, response, cookie, settings)
    response.delete_cookie(csrf.LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, _: ViewerForm, db: Db) -> Response:
    auth.sign_out(db, request.cookies.get(auth.COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response


def safe_next(target: str) -> str:
    """Only a path on this site: `//evil.example` is another site."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _set_login_cookie(
    request: Request, response: Response, token: str, public_url: str | None
) -> None:
    response.set_cookie(
        csrf.LOGIN_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=auth.is_https(request, public_url),
        path="/login",
    )
