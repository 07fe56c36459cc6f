"""Accounts and API tokens: administrators only, even to look.

Who holds access is itself sensitive, as in the API. A new token is
shown on the page that creates it and never again.
"""

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from seatmeter.server.accounts import service
from seatmeter.server.accounts.models import ROLES, SCOPES, Account, ApiToken
from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Db
from seatmeter.server.errors import ApiError, invalid, not_found
from seatmeter.web.auth import AdminViewer
from seatmeter.web.csrf import AdminForm
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

ACCOUNTS = "/admin/accounts"
TOKENS = "/admin/tokens"


@router.get(ACCOUNTS)
def accounts_page(request: Request, _: AdminViewer, db: Db) -> Response:
    with db.reading() as session:
        accounts = session.scalars(select(Account).order_by(Account.name)).all()
    return render(request, "accounts.html", accounts=accounts, roles=ROLES)


@router.post(ACCOUNTS)
def create_account(form: AdminForm, db: Db) -> Response:
    name = _name(str(form.get("name", "")))
    role = _choice("role", str(form.get("role", "viewer")), ROLES)
    password = str(form.get("password", ""))
    if len(password) > 1000:
        raise invalid("password", "(hidden)", "is longer than 1000 characters")
    with db.writing() as session:
        service.create_account(session, name, password, role)
    return back_to(ACCOUNTS, f"account {name} created with role {role}")


@router.post(ACCOUNTS + "/{account_id}/delete")
def delete_account(account_id: RowId, viewer: AdminViewer, _: AdminForm, db: Db) -> Response:
    if account_id == viewer.account_id:
        raise ApiError(
            409,
            "own_account",
            "you cannot delete the account you are signed in with; "
            "sign in as another administrator to delete it",
        )
    with db.writing() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise not_found("account", account_id, ACCOUNTS)
        name = account.name
        session.delete(account)
    return back_to(ACCOUNTS, f"account {name} deleted")


@router.get(TOKENS)
def tokens_page(request: Request, _: AdminViewer, db: Db) -> Response:
    return render(request, "tokens.html", tokens=_tokens(db), scopes=SCOPES, created=None)


@router.post(TOKENS)
def create_token(request: Request, viewer: AdminViewer, form: AdminForm, db: Db) -> Response:
    """Answered with the page itself, not a redirect: the token is in
    this response only, and a redirect would have to carry it in a URL."""
    name = _name(str(form.get("name", "")))
    scope = _choice("scope", str(form.get("scope", "")), SCOPES)
    with db.writing() as session:
        record, token = service.create_token(session, name, scope, viewer.account_id)
        created = {"name": record.name, "scope": record.scope, "token": token}
    return render(request, "tokens.html", 201, tokens=_tokens(db), scopes=SCOPES, created=created)


@router.post(TOKENS + "/{token_id}/revoke")
def revoke_token(token_id: RowId, _: AdminForm, db: Db) -> Response:
    with db.writing() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise not_found("API token", token_id, TOKENS)
        name = token.name
        session.delete(token)
    return back_to(TOKENS, f"API token {name} revoked")


def _tokens(db: Db) -> list[ApiToken]:
    with db.reading() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.name)))


def _name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= 100:
        raise invalid("name", name, "give a name of 1 to 100 characters")
    return name


def _choice(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise invalid(field, value, f"choose one of {', '.join(allowed)}")
    return value
