"""The connector end to end: a real `seatmeter serve` and a real emulator.

Consent through the browser path, syncs that match the emulator's data,
changes recorded with their time, the minimum number of calls under the
allowance (from the emulator's own call log), faults survived, a failed
sync that leaves the previous snapshot untouched, rotating refresh
tokens, and no secret in clear anywhere.
"""

import math
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator.emulatorproc import running_emulator
from seatmeter_and_autodesk import RATE, Seatmeter, autodesk_entitlements, connected, team_id
from serverproc import create_token, running_servers
from sqlalchemy import MetaData, select

from seatmeter.emulator.generator import generate_team
from seatmeter.server.autodesk.scheduler import TICK_S
from seatmeter.server.db import Database

pytestmark = pytest.mark.slow

SCOPED = {"enforce_scopes": True}
ENTITLEMENT_TABLES = ("product_pools", "cloud_users", "assignments", "product_pool_seat_counts")


def first_direct(data_view: dict[str, Any]) -> dict[str, Any]:
    [team] = data_view["teams"]
    shown = {p["productId"] for p in team["pools"] if p.get("supported", True)}
    return next(
        a
        for a in team["assignments"]
        if a["assignmentType"] == "DIRECT" and a["productId"] in shown
    )


def limited_pool(data_view: dict[str, Any]) -> dict[str, Any]:
    [team] = data_view["teams"]
    return next(p for p in team["pools"] if p.get("supported", True) and not p["unlimited"])


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def tables(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    database = Database(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(database.engine, only=ENTITLEMENT_TABLES)
        with database.engine.connect() as connection:
            return {
                name: sorted(
                    tuple(row) for row in connection.execute(select(metadata.tables[name]))
                )
                for name in ENTITLEMENT_TABLES
            }
    finally:
        database.dispose()


def test_consent_sync_and_the_next_sync_records_changes(database_url: str, tmp_path: Path) -> None:
    data = generate_team(users=40, seed=7)
    # Scopes enforced: the consent must have asked for every one it uses.
    with connected(database_url, tmp_path, data, SCOPED) as (autodesk, seatmeter):
        assert seatmeter.server()["connected"] is True

        first = seatmeter.sync()

        assert first["status"] == "ok", first
        assert seatmeter.entitlements() == autodesk_entitlements(autodesk)
        view = autodesk.control("GET", "/data").json()
        pool, held = limited_pool(view), first_direct(view)
        changed = autodesk.control(
            "PATCH",
            f"/teams/{team_id(data)}/product-pools/{pool['productId']}",
            {"totalQuantity": pool["totalQuantity"] + 5},
        )
        assert changed.status_code == 200, changed.text
        removed = autodesk.control(
            "DELETE",
            f"/teams/{team_id(data)}/assignments?userId={held['userId']}"
            f"&productId={held['productId']}&assignmentType=DIRECT",
        )
        assert removed.status_code == 204, removed.text

        second = seatmeter.sync()

        assert second["status"] == "ok" and second["changes"] >= 2, second
        assert seatmeter.entitlements() == autodesk_entitlements(autodesk)
        [stored] = [
            p
            for p in seatmeter.listing("/api/v1/product-pools")
            if p["product_id"] == pool["productId"]
        ]
        history = seatmeter.listing(
            "/api/v1/product-pool-seat-counts", product_pool_id=stored["id"]
        )
        assert [h["total_seats"] for h in history] == [
            pool["totalQuantity"],
            pool["totalQuantity"] + 5,
        ]
        assert when(history[1]["observed_at"]) == when(second["finished_at"])
        gone = [
            a
            for a in seatmeter.listing("/api/v1/assignments", active=False)
            if a["product_id"] == held["productId"]
        ]
        assert len(gone) == 1 and when(gone[0]["unassigned_at"]) == when(second["finished_at"])
        assert when(gone[0]["last_seen"]) == when(first["finished_at"])
        server = seatmeter.server()
        assert server["status"] == "up" and server["last_update_late"] is False
        assert server["last_sync_users"] == 40 and server["last_sync_duration_s"] > 0
        syncs = seatmeter.http.get(f"/api/v1/license-servers/{seatmeter.server_id}/syncs").json()
        assert [s["id"] for s in syncs["items"]] == [second["id"], first["id"]]


def test_ten_thousand_users_in_the_fewest_calls_under_the_allowance(
    database_url: str, tmp_path: Path
) -> None:
    data = generate_team(users=10_000, seed=11)
    with connected(database_url, tmp_path, data) as (autodesk, seatmeter):
        autodesk.control("DELETE", "/calls")

        result = seatmeter.sync()

        calls = autodesk.team_admin_calls()
        assert result["status"] == "ok", result
        assert result["users"] == 10_000
        # 1 page of pools, 100 pages of 100 users, 1 call for assignments.
        assert len(calls) == result["calls"] == 102
        per_window = Counter(math.floor(when(c["time"]).timestamp() / 3) for c in calls)
        assert max(per_window.values()) <= 60
        assert [c for c in calls if c["status"] == 429] == []
        assert seatmeter.entitlements() == autodesk_entitlements(autodesk)


def test_a_sync_survives_throttling_and_dropped_connections(
    database_url: str, tmp_path: Path
) -> None:
    data = generate_team(users=450, seed=5)
    faults = {"fail_rate": 0.3, "drop_rate": 0.1, "fault_retry_after": 0, "seed": 3}
    with connected(database_url, tmp_path, data, faults, autodesk_retries=12) as (
        autodesk,
        seatmeter,
    ):
        result = seatmeter.sync()

        faulted = [c for c in autodesk.team_admin_calls() if c["fault"]]
        assert result["status"] == "ok", result
        assert faulted, "the emulator injected no fault; the test proves nothing"
        assert result["calls"] > 7
        assert seatmeter.entitlements() == autodesk_entitlements(autodesk)


def test_autodesk_gone_halfway_fails_the_sync_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    # The first sync takes 1 + 5 + 1 calls; the emulator dies 3 calls later.
    data = generate_team(users=500, seed=9)
    flags = {"exit_after_calls": 10}
    with connected(database_url, tmp_path, data, flags, autodesk_retries=2) as (
        autodesk,
        seatmeter,
    ):
        assert seatmeter.sync()["status"] == "ok"
        pool = limited_pool(autodesk.control("GET", "/data").json())
        autodesk.control(
            "PATCH",
            f"/teams/{team_id(data)}/product-pools/{pool['productId']}",
            {"totalQuantity": pool["totalQuantity"] + 1},
        )
        before = tables(database_url)

        result = seatmeter.sync()

        assert result["status"] == "failed", result
        assert "could not be reached" in result["error"]
        assert tables(database_url) == before
        server = seatmeter.server()
        assert server["status"] == "down" and server["last_error"] == result["error"]


def test_refresh_tokens_rotate_and_a_revoked_chain_is_unauthorized(
    database_url: str, tmp_path: Path
) -> None:
    # One-second access tokens: every sync has to refresh.
    data = generate_team(users=20, seed=2)
    with connected(database_url, tmp_path, data, {"access_token_ttl": 1}) as (
        autodesk,
        seatmeter,
    ):
        [consented] = [t["token"] for t in autodesk.tokens() if t["kind"] == "refresh"]

        # Past the consent's access token's life, so each sync refreshes.
        time.sleep(1.1)
        assert seatmeter.sync()["status"] == "ok"
        time.sleep(1.1)
        assert seatmeter.sync()["status"] == "ok"

        old = autodesk.token(grant_type="refresh_token", refresh_token=consented)
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
        refreshes = [t for t in autodesk.tokens() if t["kind"] == "refresh"]
        # Each one used once, to get the next; only the newest is unspent.
        assert len(refreshes) >= 3
        assert [t["used_at"] is None for t in refreshes].count(True) == 1
        assert_no_secret_in_clear(database_url, seatmeter, autodesk)

        autodesk.control("POST", "/revoke")
        lapsed = seatmeter.sync()

        assert lapsed["status"] == "failed"
        server = seatmeter.server()
        assert server["status"] == "unauthorized"
        assert "lapsed or was revoked" in server["last_error"]
        assert server["connected"] is False
        assert_no_secret_in_clear(database_url, seatmeter, autodesk)


def assert_no_secret_in_clear(database_url: str, seatmeter: Any, autodesk: Any) -> None:
    secrets = [t["token"] for t in autodesk.tokens()] + [autodesk.client["client_secret"]]
    responses = [
        seatmeter.http.get("/api/v1/license-servers").text,
        seatmeter.http.get(f"/api/v1/license-servers/{seatmeter.server_id}/syncs").text,
    ]
    stored = stored_text(database_url)
    log = seatmeter.log_text()
    for secret in secrets:
        assert secret not in stored, "a secret is in clear in the database"
        assert secret not in log, "a secret is in the server log"
        assert all(secret not in text for text in responses), "a secret is in a response"


def stored_text(database_url: str) -> str:
    """Every byte of the database: the SQLite files, or every PostgreSQL row."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")
    database = Database(database_url)
    try:
        metadata = MetaData()
        metadata.reflect(database.engine)
        with database.engine.connect() as connection:
            return "\n".join(
                repr(tuple(row))
                for table in metadata.sorted_tables
                for row in connection.execute(select(table))
            )
    finally:
        database.dispose()


def test_a_wrong_state_on_the_callback_is_a_clear_400(database_url: str, tmp_path: Path) -> None:
    data = generate_team(users=5, seed=1)
    with connected(database_url, tmp_path, data) as (_autodesk, seatmeter):
        callback = f"{seatmeter.base_url}/api/v1/oauth/autodesk/callback"

        forged = httpx.get(callback, params={"code": "c", "state": "made-up"})

        assert forged.status_code == 400
        assert forged.json()["error"]["code"] == "invalid_state"
        assert "state" in forged.json()["error"]["message"]


def test_a_refresh_token_given_through_the_api_is_used(database_url: str, tmp_path: Path) -> None:
    data = generate_team(users=5, seed=4)
    with connected(database_url, tmp_path, data) as (autodesk, seatmeter):
        headless = autodesk.sign_in()["refresh_token"]
        path = f"/api/v1/license-servers/{seatmeter.server_id}/refresh-token"

        put = seatmeter.http.put(path, json={"refresh_token": headless})
        result = seatmeter.sync()

        assert put.status_code == 204, put.text
        assert result["status"] == "ok", result
        [given] = [t for t in autodesk.tokens() if t["token"] == headless]
        assert given["used_at"] is not None
        assert headless not in seatmeter.server().__repr__()


def test_schedulers_of_two_processes_sync_a_server_once(database_url: str, tmp_path: Path) -> None:
    data = generate_team(users=30, seed=6)
    dirs = [tmp_path / "one", tmp_path / "two"]
    settings = {"scheduler": "on", "autodesk_rate_limit": 60, "autodesk_rate_window_s": 3}
    with running_emulator(data, tmp_path / "autodesk", **RATE) as autodesk:
        token = create_token(database_url, dirs[0], "admin", "e2e")
        with running_servers(database_url, dirs, **settings) as (first_url, _second_url):
            seatmeter = Seatmeter(first_url, token, dirs[0])
            seatmeter.create_server(autodesk, team_id(data))
            assert seatmeter.authorize().status_code == 200

            synced = wait_for_syncs(seatmeter, count=1)
            # Two more ticks of both schedulers: nothing is due again.
            time.sleep(2 * TICK_S + 1)

            again = wait_for_syncs(seatmeter, count=1)
            assert synced == again and again[0]["status"] == "ok", again
            assert again[0]["trigger"] == "scheduled"
            assert len(autodesk.team_admin_calls()) == 3
            assert seatmeter.entitlements() == autodesk_entitlements(autodesk)


def wait_for_syncs(seatmeter: Seatmeter, count: int) -> list[dict[str, Any]]:
    """The syncs once `count` have ended (they start within a tick)."""
    path = f"/api/v1/license-servers/{seatmeter.server_id}/syncs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = seatmeter.http.get(path).json()["items"]
        if len([s for s in items if s["status"] != "running"]) >= count:
            return items
        time.sleep(0.2)
    raise AssertionError(f"no {count} ended sync(s) within a minute")


def test_reclaim_unassigns_direct_seats_only_and_keeps_an_audit(
    database_url: str, tmp_path: Path
) -> None:
    data = generate_team(users=30, seed=8)
    with connected(database_url, tmp_path, data, SCOPED) as (autodesk, seatmeter):
        seatmeter.sync()
        held = seatmeter.listing("/api/v1/assignments", active=True)
        direct = [a for a in held if a["assignment_type"] == "DIRECT"][:2]
        inherited = [a for a in held if a["assignment_type"] != "DIRECT"][:1]
        assert len(direct) == 2 and inherited, "the generated team needs both kinds"
        seats = [
            {"cloud_user_id": a["cloud_user_id"], "product_pool_id": a["product_pool_id"]}
            for a in direct + inherited
        ]
        path = f"/api/v1/license-servers/{seatmeter.server_id}/reclaim"

        planned = seatmeter.http.post(path, json={"assignments": seats}).json()
        assert seatmeter.sync()["changes"] == 0, "a dry run changes nothing"
        done = seatmeter.http.post(path, json={"assignments": seats, "dry_run": False}).json()
        after = seatmeter.sync()

        assert [c["email"] for c in planned["changes"]] == [a["email"] for a in direct]
        assert [r["email"] for r in planned["not_reclaimable"]] == [inherited[0]["email"]]
        assert [r["outcome"] for r in done["results"]] == ["unassigned", "unassigned"]
        assert after["status"] == "ok", after
        gone = {
            (a["cloud_user_id"], a["product_pool_id"])
            for a in seatmeter.listing("/api/v1/assignments", active=False)
        }
        assert gone == {(s["cloud_user_id"], s["product_pool_id"]) for s in seats[:2]}
        audit = seatmeter.http.get(f"/api/v1/license-servers/{seatmeter.server_id}/reclaims").json()
        assert [(r["outcome"], r["requested_by"]) for r in audit["items"]] == [
            ("unassigned", "e2e")
        ] * 2
        assert seatmeter.entitlements() == autodesk_entitlements(autodesk)
