"""Session import: JSON and CSV, all rows or none, idempotent, attributed."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from usage_data import Team, rule_setter

from seatmeter.server.sessions.models import UsageSession

IMPORT = "/api/v1/sessions/import"
ROW = {
    "hostname": "CAD-07",
    "username": "CORP\\jdoe",
    "application": "Revit",
    "version": "2024",
    "started_at": "2025-03-04T08:00:00Z",
    "ended_at": "2025-03-04T12:30:00+00:00",
}
CSV = (
    "hostname,username,application,version,started_at,ended_at,external_id\r\n"
    "CAD-07,CORP\\jdoe,Revit,2024,2025-03-04T08:00:00Z,2025-03-04T12:30:00Z,old-1\r\n"
    'CAD-08,"CORP\\asmith",Civil 3D,,2025-03-05T08:00:00+01:00,2025-03-05T09:00:00+01:00,\r\n'
)


@pytest.fixture
def rules(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    return rule_setter(monkeypatch)


def send_csv(client, text: str | bytes, content_type: str = "text/csv"):
    body = text.encode() if isinstance(text, str) else text
    return client.post(IMPORT, content=body, headers={"content-type": content_type})


def count(database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(UsageSession)) or 0)


def imported(client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.get("/api/v1/sessions").json()["items"]
    return sorted(items, key=lambda item: item["started_at"])


def test_json_import_is_stored_attributed_and_idempotent(admin, database, rules):
    team = Team(database)
    revit = team.pool("Revit")
    jdoe = team.user("jdoe@corp.com")
    team.assign(jdoe, revit)
    rows = [ROW, {**ROW, "username": "CORP\\guest", "external_id": "other-tool-17"}]

    first = admin.post(IMPORT, json={"sessions": rows})
    again = admin.post(IMPORT, json=rows)

    assert first.status_code == 200, first.text
    assert first.json() == {"received": 2, "imported": 2, "duplicates": 0}
    assert again.json() == {"received": 2, "imported": 0, "duplicates": 2}
    stored = {item["username"]: item for item in imported(admin)}
    assert count(database) == 2
    mine = stored["CORP\\jdoe"]
    assert (mine["source"], mine["agent_id"], mine["duration_s"]) == ("import", None, 16200)
    assert (mine["attribution"], mine["cloud_user_id"], mine["product_pool_id"]) == (
        "pool",
        jdoe,
        revit,
    )
    assert stored["CORP\\guest"]["attribution"] == "unmapped"


def test_csv_import(admin, database, rules):
    response = send_csv(admin, CSV)
    again = send_csv(admin, "\ufeff" + CSV, "text/csv; charset=utf-8")

    assert response.status_code == 200, response.text
    assert response.json()["imported"] == 2
    assert again.json() == {"received": 2, "imported": 0, "duplicates": 2}
    first, second = imported(admin)
    assert (first["hostname"], first["username"], first["version"]) == (
        "CAD-07",
        "CORP\\jdoe",
        "2024",
    )
    assert (second["application"], second["version"]) == ("Civil 3D", "")
    assert second["started_at"] == "2025-03-05T07:00:00Z"


def test_a_bad_json_row_is_named_by_index_and_nothing_is_stored(admin, database):
    rows = [ROW, {**ROW, "hostname": "CAD-09"}, {**ROW, "started_at": "2025-03-04T08:00:00"}]
    rows.append({**ROW, "ended_at": "2025-03-01T00:00:00Z", "hostname": "CAD-10"})

    response = admin.post(IMPORT, json={"sessions": rows})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_row"
    assert error["message"].startswith("row 2: sessions[2].started_at")
    assert [detail["index"] for detail in error["details"]] == [2, 3]
    assert "nothing was stored" in error["message"]
    assert count(database) == 0


def test_a_bad_csv_row_is_named_by_index_and_line(admin, database):
    text = CSV + "CAD-09,CORP\\x,Revit,2024,yesterday,2025-03-05T09:00:00Z,\r\n"

    response = send_csv(admin, text)

    assert response.status_code == 422
    detail = response.json()["error"]["details"][0]
    assert (detail["index"], detail["line"], detail["field"]) == (2, 4, "sessions[2].started_at")
    assert "row 2 (line 4)" in response.json()["error"]["message"]
    assert count(database) == 0


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("hostname,username,application,version,started_at\r\n", "ended_at"),
        (CSV.replace("external_id", "colour"), "colour"),
        ("", "hostname"),
    ],
)
def test_a_bad_csv_header_is_named(admin, database, text, said):
    response = send_csv(admin, text)

    assert response.status_code == 422
    assert "columns" in response.json()["error"]["message"]
    assert said in response.json()["error"]["message"]


def test_extra_cells_and_repeated_ids_are_refused(admin, database):
    extra = (
        CSV + "CAD-09,CORP\\x,Revit,2024,2025-03-05T08:00:00Z,2025-03-05T09:00:00Z,x,surplus\r\n"
    )
    repeated = [{**ROW, "external_id": "a"}, {**ROW, "hostname": "B", "external_id": "a"}]

    with_extra = send_csv(admin, extra)
    with_repeat = admin.post(IMPORT, json=repeated)

    assert with_extra.status_code == 422 and "extra cells" in with_extra.text
    assert with_repeat.status_code == 422
    assert "repeats row 0" in with_repeat.json()["error"]["message"]
    assert count(database) == 0


def test_other_bodies_are_refused_clearly(admin, database):
    as_xml = send_csv(admin, "<sessions/>", "application/xml")
    not_utf8 = send_csv(admin, "hostname\r\nCAD-\xe9".encode("latin-1"))
    not_json = admin.post(IMPORT, content=b"[{", headers={"content-type": "application/json"})
    an_object = admin.post(IMPORT, json={"rows": []})

    assert as_xml.status_code == 415
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.text
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "malformed_json"
    assert an_object.status_code == 422 and "sessions" in an_object.text
