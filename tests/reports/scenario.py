"""A small, hand-computed world of pools, cloud users and sessions.

Europe/Paris, around the spring change of 2026: local clocks jump from
02:00 to 03:00 on Sunday 29 March (01:00 UTC), so that day has 23 hours.
The report runs from local midnight on Saturday 28 March (27T23:00Z) to
now, which is fixed at 30 March 12:00 UTC (14:00 local): 24 + 23 + 14 =
61 hours. Every expected figure in the tests is worked out from the
session list below by hand, in the comments beside them.

Sessions (UTC):
  S1  alice  H1 Civil 3D  AEC  28 08:00-12:00
  S2  alice  H1 Civil 3D  AEC  28 10:00-14:00  overlaps S1: 08-14 is 6 h
  S3  alice  H2 Revit     AEC  28 13:00-15:00  seat: 08-15 is 7 h
  S7  alice  H1 Civil 3D  AEC  28 21:00-22:00  beside bob: two seats
  S4  bob    H3 Revit     AEC  28 20:00-29 03:00  across midnight and DST
  S5  bob    H3 AutoCAD   ACAD 30 10:00-open   running: 2 h to now
  S6  erin   H4 AutoCAD   ACAD 20 00:00-open   longer than the report
  S8  dave   H5 AutoCAD   none 29 09:00-11:00  cloud user, no pool
  S9  ghost  H6 Civil 3D  none 29 10:00-10:30  no cloud user at all
  S10 carol  H7 Revit     AEC  01 10:00-12:00  before the report
"""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import bearer
from fastapi.testclient import TestClient

from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.reports.api import clock
from seatmeter.server.sessions.models import UsageSession

NOW = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
TZ = "Europe/Paris"
SINCE = "2026-03-28T00:00:00+01:00"
UNTIL = "2026-04-01T00:00:00+02:00"
SPAN_S = 61 * 3600

USERS = ("alice", "bob", "carol", "dave", "erin")
ASSIGNMENTS = (
    ("alice", "AEC"),
    ("bob", "AEC"),
    ("carol", "AEC"),
    ("bob", "ACAD"),
    ("erin", "ACAD"),
)
SESSIONS = (
    # user, host, application, pool, start, end (None: open), cloud user?
    ("alice", "H1", "Civil 3D", "AEC", (28, 8), (28, 12)),
    ("alice", "H1", "Civil 3D", "AEC", (28, 10), (28, 14)),
    ("alice", "H2", "Revit", "AEC", (28, 13), (28, 15)),
    ("bob", "H3", "Revit", "AEC", (28, 20), (29, 3)),
    ("bob", "H3", "AutoCAD", "ACAD", (30, 10), None),
    ("erin", "H4", "AutoCAD", "ACAD", (20, 0), None),
    ("alice", "H1", "Civil 3D", "AEC", (28, 21), (28, 22)),
    ("dave", "H5", "AutoCAD", None, (29, 9), (29, 11)),
    ("ghost", "H6", "Civil 3D", None, (29, 10), (29, 10.5)),
    ("carol", "H7", "Revit", "AEC", (1, 10), (1, 12)),
)


def march(day_hour: tuple[int, float]) -> datetime:
    day, hour = day_hour
    return datetime(2026, 3, day, tzinfo=UTC).replace(hour=int(hour), minute=int(hour % 1 * 60))


def build(database: Database) -> dict[str, int]:
    """Stores the world above; returns ids by name."""
    ids: dict[str, int] = {}
    with database.writing() as session:
        server = LicenseServer(name="Main team", team_id="t-1")
        session.add(server)
        session.flush()
        ids["server"] = server.id
        for name, seats, cost in (("AEC", 2, 1000.0), ("ACAD", 2, None)):
            pool = ProductPool(
                license_server_id=server.id,
                product_id=f"{name}-ID",
                name=name,
                total_seats=seats,
                assigned_seats=None,
                cost_per_seat=cost,
            )
            session.add(pool)
            session.flush()
            ids[name] = pool.id
        for user in USERS:
            cloud = CloudUser(
                license_server_id=server.id, autodesk_id=user, email=f"{user}@corp.com"
            )
            session.add(cloud)
            session.flush()
            ids[user] = cloud.id
        for user, pool_name in ASSIGNMENTS:
            session.add(
                Assignment(
                    license_server_id=server.id,
                    cloud_user_id=ids[user],
                    product_pool_id=ids[pool_name],
                    assignment_type="DIRECT",
                )
            )
        for number, (user, host, application, pool_name, start, end) in enumerate(SESSIONS):
            session.add(
                UsageSession(
                    external_id=f"S{number}",
                    hostname=host,
                    username=f"CORP\\{user}",
                    application=application,
                    version="2026",
                    source="import",
                    started_at=march(start),
                    ended_at=march(end) if end else None,
                    product_pool_id=ids[pool_name] if pool_name else None,
                    cloud_user_id=ids.get(user),
                )
            )
    return ids


@pytest.fixture
def world(database: Database) -> dict[str, int]:
    return build(database)


@pytest.fixture
def reader(client: TestClient, tokens: dict[str, str]) -> Iterator[TestClient]:
    """A read-scope client whose reports see now as NOW."""
    client.headers.update(bearer(tokens["read"]))
    client.app.dependency_overrides[clock] = lambda: NOW  # type: ignore[attr-defined]
    yield client
    client.app.dependency_overrides.clear()  # type: ignore[attr-defined]


def report(client: TestClient, name: str, **params: Any) -> Any:
    params = {"since": SINCE, "until": UNTIL, "tz": TZ, **params}
    response = client.get(f"/api/v1/reports/{name}", params=params)
    assert response.status_code == 200, response.text
    if params.get("format", "json") == "json":
        return response.json()
    return response
