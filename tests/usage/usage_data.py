"""Entitlements and sessions written straight into the database, as the
connector's sync and the agents would leave them, for the usage tests."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage import identity

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Team:
    """One license server's pools, cloud users and assignments."""

    def __init__(self, database: Database, name: str = "Main team") -> None:
        self.database = database
        self.pools = 0
        with database.writing() as session:
            server = LicenseServer(name=name, team_id=f"team-{name}")
            session.add(server)
            session.flush()
            self.id = server.id

    def pool(self, name: str, *, active: bool = True) -> int:
        self.pools += 1
        return self._add(
            ProductPool(
                license_server_id=self.id,
                product_id=f"prod_{self.id}_{self.pools}",
                name=name,
                total_seats=10,
                active=active,
            )
        )

    def user(
        self,
        email: str | None,
        first: str | None = None,
        last: str | None = None,
        *,
        active: bool = True,
    ) -> int:
        return self._add(
            CloudUser(
                license_server_id=self.id,
                autodesk_id=f"US-{email}-{first}-{last}",
                email=email,
                first_name=first,
                last_name=last,
                active=active,
            )
        )

    def assign(self, user_id: int, pool_id: int, *, active: bool = True) -> int:
        return self._add(
            Assignment(
                license_server_id=self.id,
                cloud_user_id=user_id,
                product_pool_id=pool_id,
                assignment_type="DIRECT",
                active=active,
            )
        )

    def _add(self, row: Any) -> int:
        with self.database.writing() as session:
            session.add(row)
            session.flush()
            made: int = row.id
        return made


def add_session(
    database: Database,
    username: str,
    application: str,
    *,
    hours_ago: float = 1,
    ended: bool = True,
    hostname: str = "CAD-01",
) -> int:
    started = T0 - timedelta(hours=hours_ago)
    with database.writing() as session:
        row = UsageSession(
            hostname=hostname,
            username=username,
            application=application,
            version="2024",
            source="import",
            external_id=f"{username}-{application}-{hours_ago}-{hostname}",
            started_at=started,
            ended_at=started + timedelta(minutes=30) if ended else None,
        )
        session.add(row)
        session.flush()
        made: int = row.id
    return made


def stored(database: Database, session_id: int) -> tuple[str | None, int | None, int | None]:
    """A session's (attribution, cloud_user_id, product_pool_id)."""
    with database.reading() as session:
        row = session.execute(
            select(
                UsageSession.attribution,
                UsageSession.cloud_user_id,
                UsageSession.product_pool_id,
            ).where(UsageSession.id == session_id)
        ).one()
    return (row[0], row[1], row[2])


def rule_setter(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Sets this process's identity rules for one test; monkeypatch puts
    the previous ones back after it."""

    def use(order: str = "explicit,email,first_last", domains: str | None = None) -> None:
        monkeypatch.setitem(
            identity._installed, "rules", identity.IdentityRules.parse(order, domains)
        )

    use()
    return use
