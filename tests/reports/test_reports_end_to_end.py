"""Reports over real HTTP from a `seatmeter serve` process on loopback,
in the time zone its report_time_zone setting names."""

import io
from pathlib import Path

import httpx
import pytest
from conftest import bearer
from openpyxl import load_workbook
from scenario import build
from serverproc import create_token, running_server

from seatmeter.server.db import Database

pytestmark = pytest.mark.slow

# One local day, Saturday 28 March in Paris: 23:00 UTC on the 27th to
# 23:00 UTC on the 28th, all of it before the real now.
DAY = {"since": "2026-03-28T00:00:00+01:00", "until": "2026-03-29T00:00:00+01:00"}


def test_utilization_from_a_real_server(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    build(database)
    database.dispose()
    token = create_token(database_url, tmp_path, "read", "reports")

    with running_server(database_url, tmp_path, report_time_zone="Europe/Paris") as base_url:
        url = f"{base_url}/api/v1/reports/utilization"
        as_json = httpx.get(url, params=DAY, headers=bearer(token))
        as_xlsx = httpx.get(url, params={**DAY, "format": "xlsx"}, headers=bearer(token))

    assert as_json.status_code == 200, as_json.text
    aec = next(item for item in as_json.json()["items"] if item["pool"] == "AEC")
    # alice 08-15 and 21-22 UTC, bob 20-23 UTC: one seat or more for
    # 7 + 3 hours, two for one hour; the peak shown in Paris time.
    assert [level["seconds"] for level in aec["levels"]] == [86_400, 36_000, 3600]
    assert aec["peak_at"] == "2026-03-28T22:00:00+01:00"
    sheet = load_workbook(io.BytesIO(as_xlsx.content), read_only=True)["utilization"]
    rows = [row for row in sheet.iter_rows(values_only=True) if row[1] == "AEC"]
    assert [row[5] for row in rows] == [86_400, 36_000, 3600]
