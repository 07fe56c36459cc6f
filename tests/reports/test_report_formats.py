"""The same report through JSON, CSV and XLSX carries the same numbers,
with a header row and typed cells (dates as dates, times as times)."""

import csv
import io
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from scenario import reader, report, world

__all__ = ["reader", "world"]

REPORTS = [
    ("usage-per-user", {"granularity": "day"}),
    ("usage-history", {}),
    ("utilization", {}),
    ("seat-efficiency", {}),
    ("current-usage", {}),
    ("heatmap", {}),
    ("sessions", {}),
]


def csv_rows(client: TestClient, name: str, params: dict[str, Any]) -> list[list[str]]:
    response = report(client, name, format="csv", **params)
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="{name}.csv"' in response.headers["content-disposition"]
    return list(csv.reader(io.StringIO(response.text)))


def xlsx_rows(client: TestClient, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    response = report(client, name, format="xlsx", **params)
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    # Reading leaves out empty cells at the end of a row.
    width = len(rows[0])
    return [tuple(row) + (None,) * (width - len(row)) for row in rows]


def as_text(value: Any) -> str:
    """An XLSX cell as the CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize(("name", "params"), REPORTS, ids=[name for name, _ in REPORTS])
def test_csv_and_xlsx_agree(
    reader: TestClient, world: dict[str, int], name: str, params: dict[str, Any]
) -> None:
    from_csv = csv_rows(reader, name, params)
    from_xlsx = xlsx_rows(reader, name, params)

    assert from_csv[0] == list(from_xlsx[0])
    assert len(from_csv) == len(from_xlsx) > 1
    # XLSX times are local and naive; CSV's carry the offset.
    for text_row, cell_row in zip(from_csv[1:], from_xlsx[1:], strict=True):
        for text, cell in zip(text_row, cell_row, strict=True):
            if isinstance(cell, datetime):
                # A date comes back from Excel as its midnight.
                shown = cell.isoformat()
                assert text.startswith(shown) or shown == f"{text}T00:00:00", (text, cell)
            elif isinstance(cell, int | float):
                # Excel stores one kind of number; 9.0 comes back as 9.
                assert float(text) == cell, (text, cell)
            else:
                assert text == as_text(cell)


def test_usage_per_user_same_numbers_in_every_format(
    reader: TestClient, world: dict[str, int]
) -> None:
    items = report(reader, "usage-per-user", granularity="day")["items"]
    from_csv = csv_rows(reader, "usage-per-user", {"granularity": "day"})
    from_xlsx = xlsx_rows(reader, "usage-per-user", {"granularity": "day"})

    header = from_csv[0]
    assert header == ["key", "period", "hours", "sessions", "days_used", "first_use", "last_use"]
    json_figures = [(i["key"], i["period"], i["hours"], i["sessions"]) for i in items]
    csv_figures = [(r[0], r[1], float(r[2]), int(r[3])) for r in from_csv[1:]]
    xlsx_figures = [(r[0], r[1].isoformat(), r[2], r[3]) for r in from_xlsx[1:]]
    assert json_figures == csv_figures
    assert [(k, p[:10], h, s) for k, p, h, s in xlsx_figures] == json_figures
    # Periods are dates and first uses local times, as cells of those types.
    first = from_xlsx[1]
    assert isinstance(first[1], datetime) and first[1].hour == 0
    assert first[5] == datetime(2026, 3, 28, 9, 0)
    assert isinstance(first[2], int | float) and isinstance(first[3], int)


def test_utilization_levels_are_rows(reader: TestClient, world: dict[str, int]) -> None:
    items = report(reader, "utilization")["items"]
    from_xlsx = xlsx_rows(reader, "utilization", {})

    expected = [
        (item["pool"], level["n"], level["seconds"], level["share"])
        for item in items
        for level in item["levels"]
    ]
    assert [(r[1], r[4], r[5], r[6]) for r in from_xlsx[1:]] == expected
