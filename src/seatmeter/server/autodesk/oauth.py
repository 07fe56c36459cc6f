"""OAuth with Autodesk (APS authentication v2, authorization code).

An administrator asks for consent (`start_consent`) and is sent to
Autodesk with a single-use `state` bound to the license server and to
who asked; Autodesk sends the browser back to the callback, where the
state alone is the proof (`finish_consent`) and the code is exchanged.

Refresh tokens rotate and are single use, so a refresh runs under a lock
on the license server's row (SELECT ... FOR UPDATE on PostgreSQL; on
SQLite the write transaction is the lock), re-reads the tokens once it
holds the lock (another process may just have refreshed), and commits the
new refresh token before the new access token is used. What it cannot
cover: if Autodesk rotates the token but its answer is lost on the way,
the chain is gone and an administrator must consent again.
"""

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seatmeter.server.autodesk.errors import AutodeskError, Unauthorized, Unavailable, describe_body
from seatmeter.server.autodesk.models import OAuthState
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError, invalid, not_found
from seatmeter.server.license_servers import service
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.secrets import SecretBox

log = logging.getLogger(__name__)

SCOPES = (
    "tmadmapi:team:read tmadmapi:team-users:read "
    "tmadmapi:team-products:read tmadmapi:team-products:write"
)
CALLBACK_PATH = "/api/v1/oauth/autodesk/callback"
STATE_LIFETIME = timedelta(minutes=10)
# An access token this close to expiry is refreshed before use.
EXPIRY_MARGIN = timedelta(minutes=2)
DEFAULT_ACCESS_LIFETIME_S = 3600
TOKEN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: datetime


# Consent: the authorize URL, then the callback.


def start_consent(
    database: Database, box: SecretBox, server_id: int, requested_by: str, redirect_uri: str
) -> str:
    """Autodesk's authorize URL for this server, with a new single-use state."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    with database.writing() as session:
        server = _server(session, server_id)
        _check_client(server)
        session.add(
            OAuthState(
                state_hash=_hash(state),
                license_server_id=server.id,
                requested_by=requested_by,
                redirect_uri=redirect_uri,
                code_verifier_encrypted=box.seal(verifier),
                expires_at=utcnow() + STATE_LIFETIME,
            )
        )
        query = {
            "client_id": server.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": SCOPES,
            "state": state,
            # PKCE on top of the client secret, as extra protection.
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
        base_url = server.api_base_url
    log.info("consent for license server %s started by %s", server_id, requested_by)
    return f"{base_url}/authentication/v2/authorize?{urlencode(query)}"


def finish_consent(
    database: Database,
    box: SecretBox,
    state: str,
    code: str,
    transport: httpx.BaseTransport | None = None,
) -> LicenseServer:
    """Spend the state, exchange the code, keep the tokens sealed."""
    claimed = _claim_state(database, state)
    with database.writing() as session:
        server = _locked_server(session, claimed.license_server_id)
        secret = box.open(server.client_secret_encrypted or "")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": claimed.redirect_uri,
            "code_verifier": box.open(claimed.code_verifier_encrypted),
        }
        try:
            tokens = _grant(server.api_base_url, server.client_id or "", secret, form, transport)
        except AutodeskError as error:
            raise ApiError(
                502 if isinstance(error, Unavailable) else 400,
                "consent_failed",
                f"{error.message}; start again with POST "
                f"/api/v1/license-servers/{server.id}/authorize",
            ) from None
        _keep(server, tokens, box)
        server.last_error = None
        if server.status == "unauthorized":
            server.status = "never" if server.last_sync_at is None else "down"
    log.info(
        "license server %s connected to Autodesk (consent by %s)",
        server.id,
        claimed.requested_by,
    )
    return server


def _claim_state(database: Database, state: str) -> OAuthState:
    """The state's record, now spent; a clear 400 if it cannot be used.

    One conditional UPDATE spends it, so two racing callbacks cannot both.
    """
    now = utcnow()
    with database.writing() as session:
        spent = session.execute(
            update(OAuthState)
            .where(
                OAuthState.state_hash == _hash(state),
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
        )
        found = session.scalar(select(OAuthState).where(OAuthState.state_hash == _hash(state)))
        if spent.rowcount == 1 and found is not None:  # type: ignore[attr-defined]
            return found
    again = "start again with POST /api/v1/license-servers/{id}/authorize"
    if found is None:
        problem = f"is not a state this server gave out; {again}"
    elif found.used_at is not None and found.used_at < now:
        problem = f"was already used; each consent link works once; {again}"
    else:
        problem = f"has expired (consent links last 10 minutes); {again}"
    raise ApiError(
        400,
        "invalid_state",
        f"state: {problem}",
        [{"field": "state", "value": state[:12] + "…", "problem": problem}],
    )


# Tokens in use: refresh when due, never two at once.


def access_token(
    database: Database,
    box: SecretBox,
    server_id: int,
    rejected: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """A usable access token; `rejected` is one Autodesk just refused."""
    with database.reading() as session:
        server = _server(session, server_id)
        current = _usable_access_token(server, box, rejected)
    if current:
        return current
    return refresh(database, box, server_id, rejected=rejected, transport=transport)


def refresh(
    database: Database,
    box: SecretBox,
    server_id: int,
    *,
    rejected: str | None = None,
    force: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> str:
    """Refresh under the row lock; returns the access token to use."""
    try:
        with database.writing() as session:
            server = _locked_server(session, server_id)
            # Another process may have refreshed while this one waited.
            current = None if force else _usable_access_token(server, box, rejected)
            if current:
                return current
            tokens = _refresh_grant(server, box, transport)
            _keep(server, tokens, box)
            log.info("license server %s: Autodesk tokens refreshed", server_id)
            return tokens.access_token
    except Unauthorized as error:
        mark_unauthorized(database, server_id, error)
        raise


def set_refresh_token(database: Database, box: SecretBox, server_id: int, token: str) -> None:
    """For headless installs: a refresh token obtained elsewhere."""
    with database.writing() as session:
        server = _locked_server(session, server_id)
        _check_client(server)
        server.refresh_token_encrypted = box.seal(token)
        server.refresh_token_issued_at = utcnow()
        server.access_token_encrypted = None
        server.access_token_expires_at = None
        server.last_error = None
        if server.status == "unauthorized":
            server.status = "never" if server.last_sync_at is None else "down"
    log.info("license server %s: refresh token set through the API", server_id)


def mark_unauthorized(database: Database, server_id: int, error: Unauthorized) -> None:
    """The consent no longer works: say so, and why, on the server."""
    with database.writing() as session:
        server = session.get(LicenseServer, server_id)
        if server is None:
            return
        server.status = "unauthorized"
        server.last_error = error.message
        if error.lapsed:
            server.refresh_token_encrypted = None
            server.access_token_encrypted = None
            server.access_token_expires_at = None
    log.info("license server %s is unauthorized: %s", server_id, error.message)


# Talking to the token endpoint.


def _refresh_grant(
    server: LicenseServer, box: SecretBox, transport: httpx.BaseTransport | None
) -> Tokens:
    if server.refresh_token_encrypted is None:
        raise Unauthorized(
            f"license server {server.id} has no Autodesk consent; POST "
            f"/api/v1/license-servers/{server.id}/authorize or PUT its refresh-token",
        )
    refresh_token = box.open(server.refresh_token_encrypted)
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    secret = box.open(server.client_secret_encrypted or "")
    return _grant(server.api_base_url, server.client_id or "", secret, form, transport)


def _grant(
    base_url: str,
    client_id: str,
    client_secret: str,
    form: dict[str, str],
    transport: httpx.BaseTransport | None,
) -> Tokens:
    """One POST to the token endpoint. Not retried: a refresh that
    reached Autodesk has already spent the old refresh token."""
    url = f"{base_url}/authentication/v2/token"
    grant = form["grant_type"]
    try:
        with httpx.Client(transport=transport, timeout=TOKEN_TIMEOUT_S) as http:
            response = http.post(url, data=form, auth=(client_id, client_secret))
    except httpx.TransportError as error:
        log.info("autodesk token %s failed: %s", grant, type(error).__name__)
        raise Unavailable(
            f"Autodesk's token endpoint could not be reached ({type(error).__name__}); "
            "check the network and api_base_url"
        ) from None
    log.info("autodesk POST /authentication/v2/token (%s) -> %s", grant, response.status_code)
    if response.status_code == 200:
        return _tokens(response)
    said = describe_body(response)
    if response.status_code == 401:
        raise Unauthorized(
            f"Autodesk refused client id {client_id!r} and its secret ({said}); "
            "check client_id and client_secret of the license server"
        )
    if response.status_code == 400 and "invalid_grant" in said:
        raise Unauthorized(
            f"Autodesk refused the {grant.replace('_', ' ')} ({said}): the consent "
            "has lapsed or was revoked; an administrator must authorize again",
            lapsed=grant == "refresh_token",
        )
    raise AutodeskError(f"Autodesk's token endpoint answered {response.status_code}: {said}")


def _tokens(response: httpx.Response) -> Tokens:
    try:
        body = response.json()
        access, refresh_token = str(body["access_token"]), str(body["refresh_token"])
    except (ValueError, KeyError, TypeError):
        raise AutodeskError(
            "Autodesk's token endpoint answered without access_token and refresh_token"
        ) from None
    expires = body.get("expires_at")
    if not isinstance(expires, int | float):
        lifetime = body.get("expires_in")
        lifetime = lifetime if isinstance(lifetime, int | float) else DEFAULT_ACCESS_LIFETIME_S
        expires = time.time() + lifetime
    return Tokens(access, refresh_token, datetime.fromtimestamp(expires, UTC))


# Small helpers.


def _keep(server: LicenseServer, tokens: Tokens, box: SecretBox) -> None:
    server.access_token_encrypted = box.seal(tokens.access_token)
    server.access_token_expires_at = tokens.expires_at
    server.refresh_token_encrypted = box.seal(tokens.refresh_token)
    server.refresh_token_issued_at = utcnow()


def _usable_access_token(server: LicenseServer, box: SecretBox, rejected: str | None) -> str | None:
    if server.access_token_encrypted is None or server.access_token_expires_at is None:
        return None
    # Refresh a little before expiry, but never on every call when
    # Autodesk hands out tokens shorter-lived than the margin.
    issued = server.refresh_token_issued_at or server.access_token_expires_at
    margin = min(EXPIRY_MARGIN, (server.access_token_expires_at - issued) / 2)
    if server.access_token_expires_at - margin < utcnow():
        return None
    token = box.open(server.access_token_encrypted)
    return None if token == rejected else token


def _check_client(server: LicenseServer) -> None:
    if not server.client_id or server.client_secret_encrypted is None:
        raise invalid(
            "client_secret" if server.client_id else "client_id",
            None,
            f"license server {server.id} needs the client_id and client_secret of its "
            f"Autodesk app first; set them with PATCH /api/v1/license-servers/{server.id}",
        )


def _server(session: Session, server_id: int) -> LicenseServer:
    return service.get(session, server_id)


def _locked_server(session: Session, server_id: int) -> LicenseServer:
    server = session.scalar(
        select(LicenseServer).where(LicenseServer.id == server_id).with_for_update()
    )
    if server is None:
        raise not_found("license server", server_id, service.LISTING)
    return server


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
