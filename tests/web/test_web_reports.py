"""The report pages through the TestClient: every report renders over
the hand-computed world of tests/reports, its chart data, filters that
narrow it, exports that keep the filters, sort and columns, and bad
filters answered with a 400 that names them."""

import csv
import io
import json
import re
import sys
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from webpages import signed_in

from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import ProductPool
from seatmeter.web.pages.reports import PAGES

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from scenario import build

# The world's sessions are in March 2026: whole local days around them.
SPAN = {"since": "2026-03-28", "until": "2026-03-30"}
CHART = re.compile(r'<script type="application/json" id="report-chart">(.*?)</script>', re.S)


@pytest.fixture
def world(database: Database) -> dict[str, int]:
    return build(database)


@pytest.fixture
def viewer_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "vera", "viewer")


def csv_rows(response: object) -> list[list[str]]:
    text = response.content.decode("utf-8")  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("name", list(PAGES))
def test_every_report_renders_its_rows(
    viewer_page: TestClient, world: dict[str, int], name: str
) -> None:
    page = viewer_page.get(f"/reports/{name}", params=SPAN)

    assert page.status_code == 200, page.text
    assert f"<h1>{PAGES[name].title}</h1>" in page.text
    assert "No rows match." not in page.text
    assert f'href="/reports/{name}/export?' in page.text


def test_usage_history_chart_sets_peaks_against_seats(
    viewer_page: TestClient, world: dict[str, int]
) -> None:
    page = viewer_page.get(
        "/reports/usage-history", params={**SPAN, "product_pool_id": str(world["AEC"])}
    )

    chart = json.loads(CHART.search(page.text).group(1))  # type: ignore[union-attr]
    series = {dataset["label"]: dataset["data"] for dataset in chart["datasets"]}
    assert chart["labels"] == ["2026-03-28", "2026-03-29"]
    # 28 March: alice on two hosts overlapping bob from 20:00: two at once.
    assert series["AEC: most at once"] == [2, 1]
    assert series["AEC: seats"] == [2, 2]
    assert 'data-chart="line"' in page.text


def test_utilization_chart_counts_hours_at_each_level(
    viewer_page: TestClient, world: dict[str, int]
) -> None:
    page = viewer_page.get("/reports/utilization", params=SPAN)

    chart = json.loads(CHART.search(page.text).group(1))  # type: ignore[union-attr]
    assert chart["labels"][:3] == ["0 seats", "1 seats", "2 seats"]
    assert {dataset["label"] for dataset in chart["datasets"]} == {"AEC", "ACAD"}


def test_heatmap_draws_a_cell_per_user_and_day(
    viewer_page: TestClient, world: dict[str, int]
) -> None:
    page = viewer_page.get("/reports/heatmap", params=SPAN)

    assert page.status_code == 200, page.text
    row = re.search(r"<tr><th>CORP\\alice</th>(.*?)</tr>", page.text)
    assert row, page.text[-2000:]
    levels = re.findall(r'class="heat-(\d)"', row.group(1))
    # 28 to 30 March: busy on the 28th only.
    assert int(levels[0]) > 0 and levels[1:] == ["0", "0"]


def test_export_keeps_filters_sort_and_columns(
    viewer_page: TestClient, world: dict[str, int]
) -> None:
    params = {
        **SPAN,
        "group_by": "application",
        "sort": "hours",
        "dir": "desc",
        "columns": ["key", "period", "hours"],
        "application": "Revit",
    }
    shown = viewer_page.get("/reports/usage-history", params=params)
    exported = viewer_page.get("/reports/usage-history/export", params={**params, "format": "csv"})
    book = viewer_page.get("/reports/usage-history/export", params={**params, "format": "xlsx"})

    rows = csv_rows(exported)
    assert rows[0] == ["key", "period", "hours"]
    assert {row[0] for row in rows[1:]} == {"Revit"}
    hours = [float(row[2]) for row in rows[1:]]
    assert hours == sorted(hours, reverse=True) and len(hours) == 2
    assert shown.text.count('<td data-column="hours"') == 2
    sheet = openpyxl.load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert next(sheet.iter_rows(values_only=True)) == ("key", "period", "hours")
    assert [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)] == hours


def test_names_are_escaped(
    viewer_page: TestClient, world: dict[str, int], database: Database
) -> None:
    with database.writing() as session:
        session.execute(
            update(ProductPool)
            .where(ProductPool.id == world["AEC"])
            .values(name="<script>alert(1)</script>")
        )

    for name in ("current-usage", "usage-history", "seat-efficiency"):
        page = viewer_page.get(f"/reports/{name}", params=SPAN)
        assert "<script>alert(1)" not in page.text
        assert "&lt;script&gt;alert(1)" in page.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-03-30", "until": "2026-03-01"}, "since"),
        ({"group_by": "planet"}, "group_by"),
        ({"granularity": "fortnight"}, "granularity"),
        ({"product_pool_id": "-1"}, "product_pool_id"),
        ({"sort": "password"}, "sort"),
        ({"columns": "secret"}, "columns"),
        ({"per_page": "7"}, "per_page"),
    ],
)
def test_bad_filters_are_refused_by_name(
    viewer_page: TestClient, world: dict[str, int], params: dict[str, str], field: str
) -> None:
    for path in ("/reports/usage-history", "/reports/usage-history/export"):
        response = viewer_page.get(path, params=params)
        # 400 from the report's own checks, 422 from the grid's.
        assert response.status_code in (400, 422), response.text
        assert f"{field}: " in response.text


def test_an_unknown_report_is_named(viewer_page: TestClient) -> None:
    response = viewer_page.get("/reports/profits")

    assert response.status_code == 422
    assert "profits" in response.text and "usage-history" in response.text


@pytest.fixture
def admin_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "ada", "admin")


def test_reclaim_dry_run_lists_the_idle_seats_and_changes_nothing(
    admin_page: TestClient, viewer_page: TestClient, world: dict[str, int]
) -> None:
    report = admin_page.get("/reports/seat-efficiency", params=SPAN)
    dry_run = admin_page.get("/reports/seat-efficiency/reclaim", params=SPAN)

    assert "Reclaim idle seats" in report.text
    assert "Reclaim idle seats" not in viewer_page.get("/reports/seat-efficiency").text
    assert dry_run.status_code == 200, dry_run.text
    # carol holds an AEC seat and did not use it from the 28th.
    seat = f"{world['server']}:{world['carol']}:{world['AEC']}"
    assert re.findall(r'name="seat" value="([\d:]+)"', dry_run.text) == [seat]
    assert "carol@corp.com" in dry_run.text and "Unassign 1 seat(s)" in dry_run.text


def test_reclaim_refuses_what_it_cannot_unassign(
    admin_page: TestClient, world: dict[str, int]
) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', admin_page.get("/").text)
    data = {"csrf_token": token.group(1)}  # type: ignore[union-attr]
    # dave holds no AEC seat: nothing to unassign, nobody called.
    seat = f"{world['server']}:{world['dave']}:{world['AEC']}"

    refused = admin_page.post("/reports/seat-efficiency/reclaim", data={**data, "seat": seat})
    bad = admin_page.post("/reports/seat-efficiency/reclaim", data={**data, "seat": "1:x:2"})
    empty = admin_page.post("/reports/seat-efficiency/reclaim", data=data)

    assert refused.status_code == 200, refused.text
    assert "no current assignment of this user to this pool" in refused.text
    assert bad.status_code == 422 and "seat: must be" in bad.text
    assert empty.status_code == 422 and "choose at least one seat" in empty.text


def test_dashboard_shows_seats_in_use_idle_seats_and_history(
    viewer_page: TestClient, world: dict[str, int]
) -> None:
    page = viewer_page.get("/").text

    in_use = re.search(r'id="seats-in-use">(.*?)</section>', page, re.S).group(1)  # type: ignore[union-attr]
    idle = re.search(r'id="top-idle">(.*?)</section>', page, re.S).group(1)  # type: ignore[union-attr]
    history = re.search(r'id="history-data">(.*?)</script>', page, re.S)
    # bob and erin still run AutoCAD: both ACAD seats; nobody uses AEC.
    assert '<meter min="0" max="2" value="2"' in in_use
    assert '<meter min="0" max="2" value="0"' in in_use
    # In the last 30 days none of AEC's holders used it.
    assert all(f"{user}@corp.com" in idle for user in ("alice", "bob", "carol"))
    assert "erin@corp.com" not in idle
    series = {d["label"]: d["data"] for d in json.loads(history.group(1))["datasets"]}  # type: ignore[union-attr]
    assert set(series) == {"ACAD: most at once", "ACAD: seats"}
    assert max(series["ACAD: most at once"]) == 2
    assert "come with the reports" not in page
