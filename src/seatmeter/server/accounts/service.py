"""Creating accounts and tokens, shared by the CLI and the API."""

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.accounts.credentials import hash_password, new_token, token_hash, token_hint
from seatmeter.server.accounts.models import Account, ApiToken
from seatmeter.server.errors import ApiError

log = logging.getLogger(__name__)

MIN_PASSWORD = 10


def create_account(session: Session, name: str, password: str, role: str) -> Account:
    if session.scalar(select(Account.id).where(Account.name == name)) is not None:
        raise ApiError(
            409, "name_taken", f"name: an account named {name!r} already exists; choose another"
        )
    if len(password) < MIN_PASSWORD:
        raise ApiError(
            422,
            "invalid_value",
            f"password: needs at least {MIN_PASSWORD} characters (got {len(password)})",
        )
    account = Account(name=name, password_hash=hash_password(password), role=role)
    session.add(account)
    session.flush()
    log.info("account %s (%s) created with role %s", account.id, name, role)
    return account


def create_token(
    session: Session, name: str, scope: str, account_id: int | None = None
) -> tuple[ApiToken, str]:
    """A new token; the clear text is returned once and never stored."""
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise ApiError(
            409, "name_taken", f"name: a token named {name!r} already exists; choose another"
        )
    token = new_token()
    record = ApiToken(
        name=name,
        scope=scope,
        token_hash=token_hash(token),
        hint=token_hint(token),
        account_id=account_id,
    )
    session.add(record)
    session.flush()
    log.info("API token %s (%s) created with scope %s", record.id, name, scope)
    return record, token
