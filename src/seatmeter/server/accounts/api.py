"""`/api/v1/accounts` and `/api/v1/tokens`: administrators only."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, StrictStr, StringConstraints
from sqlalchemy import select

from seatmeter.server.accounts import service
from seatmeter.server.accounts.auth import Admin
from seatmeter.server.accounts.models import Account, ApiToken
from seatmeter.server.api.fields import Body, Name, RowId
from seatmeter.server.api.paging import Listing
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.errors import not_found

router = APIRouter(prefix="/api/v1", tags=["accounts and tokens"], route_class=StrictRoute)

Password = Annotated[StrictStr, StringConstraints(max_length=1000)]


class AccountIn(Body):
    name: Name
    password: Password
    role: Literal["admin", "viewer"] = "viewer"


class TokenIn(Body):
    name: Name
    scope: Literal["admin", "read", "agent"]


class AccountOut(BaseModel):
    id: int
    name: str
    role: Literal["admin", "viewer"]
    created_at: datetime


class TokenOut(BaseModel):
    id: int
    name: str
    scope: Literal["admin", "read", "agent"]
    hint: str = Field(description="the token's first characters")
    created_at: datetime
    last_used_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="shown in this response only")


@router.get("/accounts", response_model=Listing[AccountOut])
def list_accounts(_: Admin, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        accounts = session.scalars(select(Account).order_by(Account.id)).all()
        return {"items": [_account(a) for a in accounts], "next": None}


@router.post("/accounts", status_code=201, response_model=AccountOut)
def create_account(body: AccountIn, _: Admin, db: Db) -> dict[str, Any]:
    with db.writing() as session:
        return _account(service.create_account(session, body.name, body.password, body.role))


@router.delete("/accounts/{account_id}", status_code=204)
def delete_account(account_id: RowId, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise not_found("account", account_id, "GET /api/v1/accounts")
        session.delete(account)
    return Response(status_code=204)


@router.get("/tokens", response_model=Listing[TokenOut])
def list_tokens(_: Admin, db: Db) -> dict[str, Any]:
    with db.reading() as session:
        tokens = session.scalars(select(ApiToken).order_by(ApiToken.id)).all()
        return {"items": [_token(t) for t in tokens], "next": None}


@router.post("/tokens", status_code=201, response_model=NewToken)
def create_token(body: TokenIn, _: Admin, db: Db) -> dict[str, Any]:
    """The token itself is in this response only; store it now."""
    with db.writing() as session:
        record, token = service.create_token(session, body.name, body.scope)
        return {**_token(record), "token": token}


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: RowId, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise not_found("API token", token_id, "GET /api/v1/tokens")
        session.delete(token)
    return Response(status_code=204)


def _account(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "role": account.role,
        "created_at": account.created_at,
    }


def _token(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scope": token.scope,
        "hint": token.hint,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
    }
