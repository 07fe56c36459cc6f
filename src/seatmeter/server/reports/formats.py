"""A report as JSON, CSV or XLSX, with the same numbers in each.

JSON carries the report's items as they are, nested lists included.
CSV and XLSX carry the report's table: one header row, then flat rows
of typed values. XLSX cells hold real numbers, dates and times (Excel
has no time zones, so times are local to the report's zone, which the
file names); CSV holds the same values as ISO 8601 text.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Table:
    items: list[dict[str, Any]]
    columns: list[str]
    # Lists or tuples: the CSV and XLSX writers take either.
    rows: Sequence[Sequence[Any]]
    # Shown beside the items in JSON: the report's bounds, zone, paging.
    about: dict[str, Any] = field(default_factory=dict)


def render(name: str, table: Table, format: str, tz: ZoneInfo) -> Response:
    if format == "csv":
        return _download(_csv(table), CSV_TYPE, f"{name}.csv")
    if format == "xlsx":
        return _download(_xlsx(name, table, tz), XLSX_TYPE, f"{name}.xlsx")
    return JSONResponse(jsonable_encoder({"items": table.items, **table.about}))


def _download(content: bytes, media_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type=media_type, headers=headers)


def _csv(table: Table) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_value(value) for value in row])
    return text.getvalue().encode("utf-8")


def _csv_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return "" if value is None else value


def _xlsx(name: str, table: Table, tz: ZoneInfo) -> bytes:
    # Imported here: only downloads need it.
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(name[:31])
    sheet.append(table.columns)
    for row in table.rows:
        sheet.append([_cell(value, tz) for value in row])
    about = book.create_sheet("about")
    for key, value in table.about.items():
        about.append([key, _cell(value, tz) if not isinstance(value, list | dict) else str(value)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).replace(tzinfo=None)
    return value
