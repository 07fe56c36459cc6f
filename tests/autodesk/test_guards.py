"""The guards that let several server processes share one database:
the sync lease, the refresh lock, and what the scheduler finds due."""

import threading
import time
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
from conftest import TEST_SECRET_KEY

from seatmeter.server.autodesk import oauth, scheduler, sync
from seatmeter.server.autodesk.models import SyncRun
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.secrets import SecretBox

BOX = SecretBox(TEST_SECRET_KEY.encode())


def a_connected_server(database: Database, **fields: object) -> int:
    with database.writing() as session:
        server = LicenseServer(
            name="Team",
            team_id="100001",
            api_base_url="https://autodesk.test",
            client_id="app",
            client_secret_encrypted=BOX.seal("app-secret"),
            refresh_token_encrypted=BOX.seal("refresh-0"),
            refresh_token_issued_at=utcnow(),
            **fields,
        )
        session.add(server)
        session.flush()
        return server.id


def test_only_one_sync_of_a_server_runs_at_a_time(database: Database) -> None:
    server_id = a_connected_server(database)
    sync.begin(database, server_id, "manual")

    with pytest.raises(ApiError) as raised:
        sync.begin(database, server_id, "scheduled")

    assert raised.value.status == 409 and raised.value.code == "sync_running"


def test_an_expired_lease_is_taken_over_and_its_sync_abandoned(database: Database) -> None:
    server_id = a_connected_server(database)
    stale_id, _ = sync.begin(database, server_id, "manual")
    with database.writing() as session:
        session.get_one(LicenseServer, server_id).sync_lease_until = utcnow() - timedelta(seconds=1)

    sync.begin(database, server_id, "scheduled")

    with database.reading() as session:
        stale = session.get_one(SyncRun, stale_id)
    assert stale.status == "failed" and "abandoned" in (stale.error or "")


def test_two_refreshes_at_once_make_one_grant(database: Database) -> None:
    server_id = a_connected_server(database)
    grants: list[str] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        grants.append(form["refresh_token"][0])
        time.sleep(0.3)  # long enough for the other thread to queue on the lock
        n = len(grants)
        body = {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}", "expires_in": 3600}
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(token_endpoint)
    got: list[str] = []

    def use() -> None:
        got.append(oauth.access_token(database, BOX, server_id, transport=transport))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert grants == ["refresh-0"]
    assert got == ["access-1", "access-1"]
    with database.reading() as session:
        stored = session.get_one(LicenseServer, server_id).refresh_token_encrypted
    assert stored is not None and BOX.open(stored) == "refresh-1"


def test_a_refused_refresh_marks_the_server_unauthorized(database: Database) -> None:
    server_id = a_connected_server(database)
    refused = httpx.MockTransport(
        lambda _r: httpx.Response(400, json={"error": "invalid_grant", "error_description": "used"})
    )

    with pytest.raises(oauth.Unauthorized):
        oauth.access_token(database, BOX, server_id, transport=refused)

    with database.reading() as session:
        server = session.get_one(LicenseServer, server_id)
    assert server.status == "unauthorized"
    assert "lapsed or was revoked" in (server.last_error or "")
    assert server.refresh_token_encrypted is None


def test_the_scheduler_finds_due_syncs_and_day_old_refresh_tokens(database: Database) -> None:
    fresh = a_connected_server(database, poll_interval_s=900)
    old = utcnow() - timedelta(days=1, minutes=1)
    with database.writing() as session:
        stale = LicenseServer(
            name="Old",
            team_id="2",
            client_id="app",
            client_secret_encrypted=BOX.seal("s"),
            refresh_token_encrypted=BOX.seal("r"),
            refresh_token_issued_at=old,
        )
        off = LicenseServer(
            name="Off", team_id="3", refresh_token_encrypted=BOX.seal("r"), enabled=False
        )
        session.add_all([stale, off])
        session.flush()
        session.add(SyncRun(license_server_id=stale.id, trigger="scheduled", status="ok"))
        stale_id = stale.id

    assert scheduler.due_syncs(database) == [fresh]
    assert stale_id in scheduler.due_refreshes(database)
    assert fresh not in scheduler.due_refreshes(database)
