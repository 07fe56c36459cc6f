"""APS Authentication v2, three-legged: authorize, then token.

Authorize approves at once as the client's configured admin (there is
no browser), and answers 302 to the redirect URI with a code. The code
lives `code_ttl` seconds, is single use and bound to its client and
redirect URI (and PKCE challenge, when one was given). Refresh tokens
are single use and rotating: a refresh answers a new pair, and the old
refresh token is refused from then on. Access tokens stay valid until
they expire, are revoked, or their admin stops administering the team.
"""

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from seatmeter.emulator.data import Client, World
from seatmeter.emulator.problems import OAuthError, invalid

log = logging.getLogger(__name__)


@dataclass
class Grant:
    """An issued code, access token or refresh token."""

    kind: str  # "code", "access" or "refresh"
    value: str
    client_id: str
    user: str
    scope: str
    issued_at: float
    expires_at: float
    redirect_uri: str = ""
    code_challenge: str = ""
    used_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.used_at is None and self.revoked_at is None and now < self.expires_at

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "token": self.value,
            "client_id": self.client_id,
            "user": self.user,
            "scope": self.scope,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "used_at": self.used_at,
            "revoked_at": self.revoked_at,
        }


class TokenStore:
    def __init__(self, access_ttl: int, refresh_ttl: int, code_ttl: int) -> None:
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.grants: dict[str, Grant] = {}

    def issue(self, kind: str, client: Client, scope: str, **extra: Any) -> Grant:
        now = time.time()
        ttl = {"code": self.code_ttl, "access": self.access_ttl, "refresh": self.refresh_ttl}[kind]
        grant = Grant(kind, secrets.token_urlsafe(32), client.client_id, client.user, scope,
                      now, now + ttl, **extra)  # fmt: skip
        self.grants[grant.value] = grant
        return grant

    def find(self, kind: str, value: str) -> Grant | None:
        grant = self.grants.get(value)
        return grant if grant is not None and grant.kind == kind else None

    def token_pair(self, client: Client, scope: str) -> dict[str, Any]:
        access = self.issue("access", client, scope)
        refresh = self.issue("refresh", client, scope)
        return {
            "access_token": access.value,
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "expires_at": int(access.expires_at),
            "refresh_token": refresh.value,
        }

    def revoke(self, client_id: str | None) -> int:
        """End the chain: every token (of one client) stops working."""
        now, count = time.time(), 0
        for grant in self.grants.values():
            if grant.revoked_at is None and client_id in (None, grant.client_id):
                grant.revoked_at = now
                count += 1
        return count

    def public(self) -> list[dict[str, Any]]:
        return [grant.public() for grant in self.grants.values() if grant.kind != "code"]


async def authorize(request: Request) -> Response:
    world: World = request.app.state.world
    tokens: TokenStore = request.app.state.tokens
    query = request.query_params
    client = world.clients.get(query.get("client_id", ""))
    if client is None:
        raise invalid("client_id", f"client_id {query.get('client_id')!r} is not a known client")
    if query.get("response_type") != "code":
        raise invalid("response_type", "response_type must be 'code' (authorization code flow)")
    redirect_uri = query.get("redirect_uri", "")
    if not redirect_uri:
        raise invalid("redirect_uri", "redirect_uri is required")
    if client.redirect_uris and redirect_uri not in client.redirect_uris:
        raise invalid(
            "redirect_uri",
            f"redirect_uri {redirect_uri!r} is not registered for this client;"
            f" use one of {client.redirect_uris}",
        )
    challenge = _challenge(query.get("code_challenge"), query.get("code_challenge_method"))
    request.scope["emulator.call"]["client_id"] = client.client_id

    # No browser here: the client's admin approves at once.
    code = tokens.issue(
        "code", client, query.get("scope", ""), redirect_uri=redirect_uri, code_challenge=challenge
    )
    log.info("authorized client %s as %s", client.client_id, client.user)
    answer = {"code": code.value}
    if "state" in query:
        answer["state"] = query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(redirect_uri + separator + urlencode(answer), status_code=302)


def _challenge(challenge: str | None, method: str | None) -> str:
    if not challenge:
        return ""
    if method != "S256":
        raise invalid("code_challenge_method", "code_challenge_method must be 'S256'")
    return challenge


async def token(request: Request) -> Response:
    world: World = request.app.state.world
    tokens: TokenStore = request.app.state.tokens
    try:
        form = await _form(request)
        client = _client(world, request, form)
        request.scope["emulator.call"]["client_id"] = client.client_id
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            answer = _exchange_code(tokens, client, form)
        elif grant_type == "refresh_token":
            answer = _refresh(tokens, client, form)
        else:
            raise OAuthError(
                "unsupported_grant_type",
                f"grant_type {grant_type!r}: use authorization_code or refresh_token",
            )
    except OAuthError as error:
        return error.response()
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})


async def _form(request: Request) -> dict[str, Any]:
    """The form body; the standard library reads it, as OAuth asks only
    for application/x-www-form-urlencoded."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send the body as application/x-www-form-urlencoded")
    try:
        text = (await request.body()).decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "the form body is not UTF-8") from None


def _client(world: World, request: Request, form: dict[str, Any]) -> Client:
    """Basic auth first, as a Traditional Web App sends; else the form."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            raise OAuthError("invalid_client", "Authorization header is not Basic base64", 401)  # noqa: B904
    client = world.clients.get(str(client_id or ""))
    if client is None or not secrets.compare_digest(str(secret or ""), client.client_secret):
        raise OAuthError("invalid_client", "unknown client_id or wrong client_secret", 401)
    return client


def _exchange_code(tokens: TokenStore, client: Client, form: dict[str, Any]) -> dict[str, Any]:
    code = tokens.find("code", str(form.get("code", "")))
    now = time.time()
    if code is None or code.client_id != client.client_id or not code.usable(now):
        raise OAuthError("invalid_grant", "the code is unknown, used, expired or not yours")
    code.used_at = now
    if form.get("redirect_uri") != code.redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the one authorized")
    if code.code_challenge and not _verifier_matches(form.get("code_verifier"), code):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
    log.info("issued tokens to client %s for %s", client.client_id, code.user)
    return tokens.token_pair(client, code.scope)


def _verifier_matches(verifier: Any, code: Any) -> bool:
    if not isinstance(verifier, str) or not 43 <= len(verifier) <= 128:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return secrets.compare_digest(expected, code.code_challenge)


def _refresh(tokens: TokenStore, client: Client, form: dict[str, Any]) -> dict[str, Any]:
    old = tokens.find("refresh", str(form.get("refresh_token", "")))
    now = time.time()
    if old is None or old.client_id != client.client_id or not old.usable(now):
        raise OAuthError(
            "invalid_grant", "the refresh token is unknown, already used, revoked or expired"
        )
    # Rotation: the old refresh token is spent the moment a new one exists.
    old.used_at = now
    scope = str(form.get("scope") or old.scope)
    log.info("refreshed tokens of client %s", client.client_id)
    return tokens.token_pair(client, scope)


ROUTES = [
    Route("/authentication/v2/authorize", authorize, methods=["GET"]),
    Route("/authentication/v2/token", token, methods=["POST"]),
]
