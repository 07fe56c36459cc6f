"""Who is signed in to the web UI, and what they may do.

A sign-in is a row in `web_sessions`, found by the SHA-256 of the
cookie, so any server process over the same database recognises it.
Viewers see every page but the accounts and tokens; administrators also
change things. The cookie is HttpOnly and SameSite=Lax, and Secure when
the request came over https (directly or through a proxy that says so).
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy import delete, select

from seatmeter.server.accounts.credentials import hash_password, token_hash, verify_password
from seatmeter.server.accounts.models import Account
from seatmeter.server.api.state import Config, Db
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError
from seatmeter.web.models import WebSession
from seatmeter.web.routing import SignInNeeded

log = logging.getLogger(__name__)

COOKIE = "seatmeter_session"


@dataclass(frozen=True)
class Viewer:
    """The person behind a request, as every page sees them."""

    account_id: int
    name: str
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def sign_in(db: Database, name: str, password: str, hours: int) -> str | None:
    """A new web session's cookie value, or None if name or password is wrong."""
    with db.writing() as session:
        account = session.scalar(select(Account).where(Account.name == name))
        stored = account.password_hash if account else _unknown_account_hash()
        if not verify_password(stored, password) or account is None:
            log.info("sign-in refused for account name %r", name)
            return None
        # Expired sign-ins are cleared here, where a write happens anyway.
        now = utcnow()
        session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        cookie = secrets.token_urlsafe(32)
        session.add(
            WebSession(
                id_hash=token_hash(cookie),
                account_id=account.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(hours=hours),
            )
        )
        log.info("account %s (%s) signed in to the web UI", account.id, account.name)
    return cookie


@cache
def _unknown_account_hash() -> str:
    """Checked against when the name is unknown, so that a wrong name
    takes as long to refuse as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def sign_out(db: Database, cookie: str) -> None:
    with db.writing() as session:
        session.execute(delete(WebSession).where(WebSession.id_hash == token_hash(cookie)))


def current_viewer(request: Request, db: Db) -> Viewer:
    """The signed-in person; anyone else is sent to the sign-in page."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise SignInNeeded()
    with db.reading() as session:
        found = session.execute(
            select(Account.id, Account.name, Account.role, WebSession.csrf_token)
            .join(WebSession, WebSession.account_id == Account.id)
            .where(WebSession.id_hash == token_hash(cookie))
            .where(WebSession.expires_at > utcnow())
        ).first()
    if found is None:
        raise SignInNeeded()
    viewer = Viewer(*found)
    request.state.viewer = viewer
    return viewer


def administrator(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    if not viewer.is_admin:
        raise ApiError(
            403,
            "forbidden",
            f"this needs an administrator; account {viewer.name!r} has role "
            f"{viewer.role}, which can look but not change. Ask an administrator.",
        )
    return viewer


def set_cookie(request: Request, response: Response, cookie: str, settings: Config) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=settings.web_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=is_https(request, settings.public_url),
        path="/",
    )


def is_https(request: Request, public_url: str | None) -> bool:
    return request.url.scheme == "https" or (public_url or "").startswith("https://")


SignedIn = Annotated[Viewer, Depends(current_viewer)]
AdminViewer = Annotated[Viewer, Depends(administrator)]
