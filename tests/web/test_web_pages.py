"""The pages through the TestClient: escaping, the sessions grid's paging,
sorting, filtering and export, tokens shown once, and troubleshooting."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from conftest import bearer, enrol
from fastapi.testclient import TestClient
from sqlalchemy import event, insert
from webpages import csrf_of, signed_in

from seatmeter.server.db import Database
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import UsageSession
from seatmeter.web.pages.license_servers import freshness

XSS = "<script>alert(1)</script>"
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
CELL = r'<td data-column="{}"[^>]*>(.*?)</td>'


@pytest.fixture
def admin_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "ada", "admin")


@pytest.fixture
def viewer_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "vera", "viewer")


def cells(html: str, column: str) -> list[str]:
    return re.findall(CELL.format(column), html, re.DOTALL)


def add_sessions(database: Database, count: int, **fields: Any) -> None:
    """`count` sessions on hosts CAD-0000 onwards, a minute apart, the
    even ones still running."""
    rows = [
        {
            "hostname": f"CAD-{n:04d}",
            "username": f"CORP\\user{n % 7}",
            "application": "Civil 3D" if n % 3 else "Revit",
            "version": "2024",
            "source": "process",
            "started_at": START + timedelta(minutes=n),
            "ended_at": None if n % 2 == 0 else START + timedelta(minutes=n + 30),
            **fields,
        }
        for n in range(count)
    ]
    with database.writing() as session:
        session.execute(insert(UsageSession), rows)


def check_in(client: TestClient, credential: str, problems: list[dict[str, Any]]) -> None:
    report = {"clock": datetime.now(UTC).isoformat(), "problems": problems}
    response = client.post("/api/agent/v1/check-in", json=report, headers=bearer(credential))
    assert response.status_code == 200, response.text


# Escaping


def test_values_from_agents_show_as_text(
    client: TestClient, tokens: dict[str, str], database: Database, viewer_page: TestClient
) -> None:
    credential = enrol(client, tokens["agent"], "agent-x", XSS)
    event_body = {
        "event_id": "e-1",
        "session_id": "s-1",
        "kind": "start",
        "hostname": XSS,
        "username": '"><img src=x onerror=alert(2)>',
        "application": "<b>Civil 3D</b>",
        "version": "2024",
        "source": "process",
        "started_at": datetime.now(UTC).isoformat(),
    }
    sent = client.post(
        "/api/agent/v1/session-events", json={"events": [event_body]}, headers=bearer(credential)
    )
    assert sent.status_code == 200, sent.text

    for path in ("/", "/agents", "/sessions/active", "/troubleshoot?agent_id=agent-x"):
        page = viewer_page.get(path)
        assert page.status_code == 200, path
        assert XSS not in page.text and "<img src=x" not in page.text, path
        assert "<b>Civil 3D" not in page.text, path
        # Nothing inline may run even if escaping ever failed.
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in viewer_page.get("/agents").text


# The sessions grid


def test_the_history_grid_pages_sorts_and_filters_ten_thousand_rows(
    database: Database, viewer_page: TestClient
) -> None:
    add_sessions(database, 10_000)

    first = viewer_page.get("/sessions/history")
    assert "10000 rows, page 1 of 200" in first.text
    assert cells(first.text, "hostname")[:2] == ["CAD-9999", "CAD-9998"]

    by_host = viewer_page.get("/sessions/history?sort=hostname&dir=asc&page=3&per_page=100")
    hosts = cells(by_host.text, "hostname")
    assert hosts == [f"CAD-{n:04d}" for n in range(200, 300)]

    narrowed = viewer_page.get("/sessions/history?hostname=cad-00&application=REVIT")
    shown = cells(narrowed.text, "hostname")
    assert "34 rows" in narrowed.text
    assert all(h.startswith("CAD-00") for h in shown)
    assert set(cells(narrowed.text, "application")) == {"Revit"}


def test_the_active_grid_shows_running_sessions_and_refreshes_itself(
    database: Database, viewer_page: TestClient
) -> None:
    add_sessions(database, 10)

    page = viewer_page.get("/sessions/active?hostname=CAD-000")
    assert "5 rows" in page.text
    assert 'hx-trigger="every 3s"' in page.text
    # The refresh asks for the same view, and gets the grid alone.
    target = re.search(r'hx-get="([^"]+)"', page.text)
    assert target
    refreshed = viewer_page.get(
        target.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"}
    )
    assert refreshed.text.lstrip().startswith('<div id="grid"')
    assert "<html" not in refreshed.text
    assert cells(refreshed.text, "hostname") == [f"CAD-000{n}" for n in (8, 6, 4, 2, 0)]


def test_a_refresh_after_the_sign_in_expired_loads_the_sign_in_page(
    client: TestClient,
) -> None:
    response = client.get("/sessions/active", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/login?next=/sessions/active"
    assert response.text == ""


def test_a_grid_page_costs_the_same_queries_on_any_page(
    database: Database, viewer_page: TestClient
) -> None:
    add_sessions(database, 2_000)
    statements: list[str] = []

    def count(*args: Any) -> None:
        # SQLite's transactions open with a statement of their own.
        if not args[2].startswith("BEGIN"):
            statements.append(args[2])

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        costs = []
        for query in ("", "?page=40", "?per_page=200&page=10&sort=username"):
            statements.clear()
            assert viewer_page.get("/sessions/history" + query).status_code == 200
            costs.append(len(statements))
    finally:
        event.remove(database.engine, "before_cursor_execute", count)

    # The sign-in check, the count and the page itself.
    assert costs == [3, 3, 3]


def test_exports_keep_the_filters_sort_and_columns(
    database: Database, viewer_page: TestClient
) -> None:
    add_sessions(database, 300)
    add_sessions(database, 1, hostname='=HYPERLINK("http://evil")')
    query = (
        "hostname=cad-01&sort=hostname&dir=asc&columns=hostname&columns=username&columns=started_at"
    )

    as_csv = viewer_page.get(f"/sessions/history/export?{query}&format=csv")
    as_xlsx = viewer_page.get(f"/sessions/history/export?{query}&format=xlsx")
    evil = viewer_page.get("/sessions/history/export?hostname=hyperlink&format=xlsx")

    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == ["Host", "Host user", "Started"]
    assert [r[0] for r in rows[1:]] == [f"CAD-{n:04d}" for n in range(100, 200)]
    assert rows[1][2] == "2026-11-01 09:40:00"

    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).active
    values = list(sheet.values)
    assert values[0] == ("Host", "Host user", "Started")
    assert [v[0] for v in values[1:]] == [r[0] for r in rows[1:]]
    assert values[1][2] == datetime(2026, 11, 1, 9, 40)

    [_, (cell, *_)] = list(openpyxl.load_workbook(io.BytesIO(evil.content)).active.values)
    assert cell == '\'=HYPERLINK("http://evil")', "a hostname must never become a formula"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=duration_s", "sort"),
        ("dir=sideways", "dir"),
        ("page=0", "page"),
        ("page=x", "page"),
        ("per_page=7", "per_page"),
        ("columns=password", "columns"),
        ("since=yesterday", "since"),
        ("hostname=a%00b", "hostname"),
        ("hostname=" + "x" * 300, "hostname"),
    ],
)
def test_bad_grid_parameters_say_what_to_change(
    viewer_page: TestClient, query: str, field: str
) -> None:
    response = viewer_page.get(f"/sessions/history?{query}")

    assert response.status_code == 422
    assert re.search(rf'role="alert">{field}[: ]', response.text), response.text[-500:]


def test_an_export_in_an_unknown_format_is_refused(viewer_page: TestClient) -> None:
    response = viewer_page.get("/sessions/active/export?format=pdf")

    assert response.status_code == 422
    assert "export as csv or xlsx" in response.text


# Administration


def test_a_new_token_is_shown_once(admin_page: TestClient) -> None:
    token_page = admin_page.get("/admin/tokens")
    response = admin_page.post(
        "/admin/tokens",
        data={"csrf_token": csrf_of(token_page), "name": "ci", "scope": "read"},
    )

    assert response.status_code == 201
    token = re.search(r'id="new-token">([^<]+)<', response.text)
    assert token and token.group(1).startswith("smt_")
    assert token.group(1) not in admin_page.get("/admin/tokens").text
    listed = admin_page.get("/api/v1/agents", headers=bearer(token.group(1)))
    assert listed.status_code == 200, "the token works for the API"


def test_an_agent_group_gets_members_from_its_page(
    client: TestClient, tokens: dict[str, str], admin_page: TestClient
) -> None:
    for n in (1, 2, 3):
        enrol(client, tokens["agent"], f"agent-{n}", f"CAD-0{n}")
    form = {
        "csrf_token": csrf_of(admin_page.get("/")),
        "name": "Civil",
        "auto_assign_rules": "hostname CAD-*\nos windows",
    }
    created = admin_page.post("/agent-groups", data=form)
    assert created.status_code == 303
    path = created.headers["location"].split("?")[0]

    added = admin_page.post(
        path + "/members",
        data={"csrf_token": form["csrf_token"], "agent_ids": ["agent-1", "agent-3"]},
    )
    page = admin_page.get(path)

    assert added.status_code == 303
    members = page.text.split('id="members"')[1].split("</tbody>")[0]
    others = page.text.split('id="others"')[1].split("</tbody>")[0]
    assert "CAD-01" in members and "CAD-03" in members and "CAD-02" not in members
    assert "CAD-02" in others and "CAD-01" not in others
    assert "hostname CAD-*\nos windows" in page.text


@pytest.mark.parametrize(
    ("minutes", "colour"),
    [(None, "red"), (10, "green"), (30, "green"), (31, "orange"), (60, "orange"), (61, "red")],
)
def test_a_license_servers_last_update_is_coloured_by_age(minutes: int | None, colour: str) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    last = None if minutes is None else now - timedelta(minutes=minutes)
    server = {"last_sync_at": last, "poll_interval_s": 900}

    assert freshness(server, now) == colour


# Troubleshooting


def steps(html: str) -> list[tuple[str, str]]:
    found = re.findall(r'data-state="(\w+)">\s*<strong>([^<]+)</strong>', html)
    return [(title, state) for state, title in found]


def test_troubleshooting_a_host_in_no_selected_group(
    client: TestClient, tokens: dict[str, str], database: Database, admin_page: TestClient
) -> None:
    credential = enrol(client, tokens["agent"], "agent-1", "CAD-01")
    with database.writing() as session:
        session.add(LicenseServer(name="Team", team_id="t-1"))
    check_in(client, credential, [])

    page = admin_page.get("/troubleshoot?hostname=cad-01")

    shown = dict(steps(page.text))
    assert shown["Agent enrolled"] == "ok"
    assert shown["Agent online"] == "ok"
    assert shown["In an agent group selected on a license server"] == "failed"
    assert shown["Told to monitor at its last check-in"] == "failed"
    assert shown["Host user mapped to a cloud user"] == "skipped"
    assert shown["Cloud sync up and authorized"] == "skipped"
    assert "none of the agent&#39;s groups (&#39;Default&#39;) is selected" in page.text
    assert "What to do: select one on the license server" in page.text


def test_troubleshooting_shows_what_the_agent_reported(
    client: TestClient, tokens: dict[str, str], admin_page: TestClient
) -> None:
    credential = enrol(client, tokens["agent"], "agent-1", "CAD-01")
    check_in(
        client,
        credential,
        [
            {"code": "legacy_consent_missing", "message": "AutoCAD 2018 wrote no usage file"},
            {"code": "unrecognised_autodesk_processes", "message": "saw acadlt.exe"},
        ],
    )

    page = admin_page.get("/troubleshoot?agent_id=agent-1")

    shown = dict(steps(page.text))
    assert shown["Pre-2020 applications have analytics consent"] == "failed"
    assert shown["Applications recognised"] == "warning"
    assert "AutoCAD 2018 wrote no usage file" in page.text
    assert "saw acadlt.exe" in page.text


def test_troubleshooting_an_unknown_host(viewer_page: TestClient) -> None:
    page = viewer_page.get("/troubleshoot?hostname=NOWHERE")

    shown = steps(page.text)
    assert shown[0] == ("Agent enrolled", "failed")
    assert {state for _, state in shown[1:]} == {"skipped"}
    assert "no agent has enrolled as host &#39;NOWHERE&#39;" in page.text


def test_troubleshooting_a_license_server_that_never_synced(
    client: TestClient, tokens: dict[str, str], admin_page: TestClient, database: Database
) -> None:
    with database.writing() as session:
        server = LicenseServer(name="Team", team_id="t-1")
        session.add(server)
        session.flush()
        server_id = server.id

    page = admin_page.get(f"/license-servers/{server_id}/troubleshoot")

    shown = dict(steps(page.text))
    assert shown["Enabled"] == "ok"
    assert shown["Authorized with Autodesk"] == "failed"
    assert shown["Cloud sync up"] == "failed"
    assert shown["Agent groups selected"] == "failed"
