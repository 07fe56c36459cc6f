"""License servers: creating and changing them, and showing them safely."""

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from seatmeter.server.agent_groups.models import AgentGroup
from seatmeter.server.db import utcnow
from seatmeter.server.errors import ApiError, invalid, not_found
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.secrets import SecretBox

log = logging.getLogger(__name__)

LISTING = "GET /api/v1/license-servers"


def get(session: Session, server_id: int) -> LicenseServer:
    server = session.get(
        LicenseServer, server_id, options=[selectinload(LicenseServer.agent_groups)]
    )
    if server is None:
        raise not_found("license server", server_id, LISTING)
    return server


def create(session: Session, fields: dict[str, Any], box: SecretBox) -> LicenseServer:
    """A new server; without a choice of groups it takes the default group,
    so that a fresh install monitors as soon as its team is configured."""
    _check_name_free(session, fields["name"])
    group_ids = fields.pop("agent_group_ids", None)
    server = LicenseServer(name=fields["name"], team_id=fields["team_id"])
    session.add(server)
    apply(session, server, fields, box)
    if group_ids is None:
        server.agent_groups = list(session.scalars(select(AgentGroup).where(AgentGroup.is_default)))
    else:
        server.agent_groups = _groups(session, group_ids)
    session.flush()
    log.info("license server %s (%s) created", server.id, server.name)
    return server


def update(session: Session, server: LicenseServer, fields: dict[str, Any], box: SecretBox) -> None:
    if "name" in fields and fields["name"] != server.name:
        _check_name_free(session, fields["name"])
    if "agent_group_ids" in fields:
        server.agent_groups = _groups(session, fields.pop("agent_group_ids"))
    apply(session, server, fields, box)
    session.flush()
    log.info("license server %s (%s) changed: %s", server.id, server.name, sorted(fields))


def apply(session: Session, server: LicenseServer, fields: dict[str, Any], box: SecretBox) -> None:
    for name, value in fields.items():
        if name == "client_secret":
            server.client_secret_encrypted = box.seal(value) if value else None
        elif name == "api_base_url":
            server.api_base_url = normalise_base_url(value)
        else:
            setattr(server, name, value)


def describe(server: LicenseServer) -> dict[str, Any]:
    """The server as the API shows it: secrets only as "is one set?"."""
    return {
        "id": server.id,
        "name": server.name,
        "type": server.type,
        "team_id": server.team_id,
        "api_base_url": server.api_base_url,
        "client_id": server.client_id,
        "has_client_secret": server.client_secret_encrypted is not None,
        "authorized": server.refresh_token_encrypted is not None,
        "agent_group_ids": sorted(group.id for group in server.agent_groups),
        "poll_interval_s": server.poll_interval_s,
        "enabled": server.enabled,
        "status": server.status,
        "last_sync_at": server.last_sync_at,
        "last_error": server.last_error,
        "created_at": server.created_at,
        **sync_status(server),
    }


def sync_status(server: LicenseServer) -> dict[str, Any]:
    """How current the entitlements are; tokens only as "are there any"."""
    now = utcnow()
    # Late once no sync succeeded within two poll intervals.
    due_by = (server.last_sync_at or server.created_at) + 2 * timedelta(
        seconds=server.poll_interval_s
    )
    return {
        "connected": server.refresh_token_encrypted is not None,
        "syncing": server.sync_lease_until is not None and server.sync_lease_until > now,
        "last_sync_duration_s": server.last_sync_duration_s,
        "last_sync_pools": server.last_sync_pools,
        "last_sync_users": server.last_sync_users,
        "last_sync_assignments": server.last_sync_assignments,
        "last_update_late": server.enabled and due_by < now,
    }


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(
            "api_base_url",
            url,
            "must be an http(s) URL of the API host, such as https://developer.api.autodesk.com",
        )
    return url.strip().rstrip("/")


def _groups(session: Session, group_ids: list[int]) -> list[AgentGroup]:
    wanted = list(dict.fromkeys(group_ids))
    found = {
        group.id: group
        for group in session.scalars(select(AgentGroup).where(AgentGroup.id.in_(wanted)))
    }
    missing = [group_id for group_id in wanted if group_id not in found]
    if missing:
        raise invalid(
            "agent_group_ids", missing, "unknown agent group id(s); see GET /api/v1/agent-groups"
        )
    return [found[group_id] for group_id in wanted]


def _check_name_free(session: Session, name: str) -> None:
    taken = session.scalar(select(LicenseServer.id).where(LicenseServer.name == name))
    if taken is not None:
        raise ApiError(
            409,
            "name_taken",
            f"name: a license server named {name!r} already exists (id {taken}); "
            "choose another name",
            [{"field": "name", "value": name, "problem": "already taken"}],
        )
