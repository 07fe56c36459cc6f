"""Importing Autodesk Account's CSV exports: both spellings, all or nothing."""

from pathlib import Path

import pytest
from serverproc import run_seatmeter
from sqlalchemy import select

from seatmeter.server.autodesk.csv_import import ImportProblem, import_files
from seatmeter.server.db import Database
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.license_servers.models import LicenseServer

# The older export: snake_case columns.
SNAKE = """\
email,first_name,last_name,autodesk_id,hashed_autodesk_id,team_alias,product_name,version,seat_assignment,assigned_date,days_used,last_accessed
ann@example.com,Ann,Lee,AID1,h1,Main,AutoCAD,2025,Assigned,2026-01-05,14,2026-11-28
ann@example.com,Ann,Lee,AID1,h1,Main,AutoCAD,2024,Assigned,2026-01-05,3,2026-10-02
bob@example.com,Bob,Ray,AID2,h2,Main,Revit,2025,Assigned,2026-02-01,0,
cyd@example.com,Cyd,Orr,AID3,h3,Main,Revit,2025,Unassigned,2026-02-01,,
"""
# The newer export: Title Case, personal data turned off.
TITLE_HEADER = (
    "Email,First Name,Last Name,Autodesk ID,Hashed Autodesk ID,Team,Product,"
    "Seat Assignment,Days Used,Last Accessed"
)
TITLE = f"""\
{TITLE_HEADER}
*****,*****,*****,*****,hx1,Main,Civil 3D,Assigned,21,11/30/2026
*****,*****,*****,*****,hx2,Main,Civil 3D,Assigned,2,2026-11-01T09:30:00Z
"""
USERS = """\
EMAIL , First_Name,LAST NAME,autodesk id
dee@example.com,Dee,Fox,AID4
"""
BAD = """\
email,autodesk_id,product_name,days_used,last_accessed
eve@example.com,AID5,AutoCAD,7,2026-11-01
fay@example.com,AID6,AutoCAD,seven,2026-11-01
,,AutoCAD,1,2026-11-01
gus@example.com,AID7,AutoCAD,1,yesterday
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def a_server(database: Database) -> int:
    with database.writing() as session:
        server = LicenseServer(name="Imported team", team_id="100001")
        session.add(server)
        session.flush()
        return server.id


def tables(database: Database) -> dict[str, list[tuple[object, ...]]]:
    with database.reading() as session:
        return {
            "pools": [
                (p.product_id, p.name, p.active) for p in session.scalars(select(ProductPool))
            ],
            "users": [
                (u.autodesk_id, u.email, u.first_name, u.active)
                for u in session.scalars(select(CloudUser).order_by(CloudUser.autodesk_id))
            ],
            "assignments": [
                (a.cloud_user_id, a.product_pool_id, a.days_used, a.last_accessed, a.active)
                for a in session.scalars(select(Assignment).order_by(Assignment.id))
            ],
        }


def test_both_spellings_and_masked_data_import(database: Database, tmp_path: Path) -> None:
    server_id = a_server(database)
    files = [
        write(tmp_path, "usage-old.csv", SNAKE),
        write(tmp_path, "usage-new.csv", TITLE),
        write(tmp_path, "users.csv", USERS),
    ]

    outcome = import_files(database, server_id, files)

    assert (outcome.pools, outcome.users, outcome.assignments) == (3, 6, 4)
    with database.reading() as session:
        users = {u.autodesk_id: u for u in session.scalars(select(CloudUser))}
        pools = {p.id: p.name for p in session.scalars(select(ProductPool))}
        held = {
            (users_by_id[a.cloud_user_id], pools[a.product_pool_id]): a
            for users_by_id in [{u.id: u.autodesk_id for u in users.values()}]
            for a in session.scalars(select(Assignment))
        }
    assert users["AID4"].first_name == "Dee" and users["AID4"].email == "dee@example.com"
    assert users["hx1"].email is None and users["hx1"].first_name is None
    # Two versions of one product: the most days, the latest access.
    ann = held[("AID1", "AutoCAD")]
    assert ann.days_used == 14 and ann.last_accessed is not None
    assert ann.last_accessed.isoformat() == "2026-11-28T00:00:00+00:00"
    assert held[("hx1", "Civil 3D")].days_used == 21
    assert held[("hx1", "Civil 3D")].last_accessed.isoformat() == "2026-11-30T00:00:00+00:00"  # type: ignore[union-attr]
    assert held[("AID2", "Revit")].last_accessed is None
    assert ("AID3", "Revit") not in held, "an unassigned row holds no seat"


def test_one_bad_row_rejects_the_whole_import(database: Database, tmp_path: Path) -> None:
    server_id = a_server(database)
    import_files(database, server_id, [write(tmp_path, "usage.csv", SNAKE)])
    before = tables(database)

    with pytest.raises(ImportProblem) as raised:
        import_files(database, server_id, [write(tmp_path, "bad.csv", BAD)])

    message = str(raised.value)
    assert "nothing was imported" in message
    assert "bad.csv line 3: days_used is 'seven'" in message
    assert "bad.csv line 4: no autodesk_id" in message
    assert "bad.csv line 5: last_accessed is 'yesterday'" in message
    assert "line 2" not in message
    assert tables(database) == before


def test_a_file_without_any_key_column_is_refused(database: Database, tmp_path: Path) -> None:
    server_id = a_server(database)
    path = write(tmp_path, "subscriptions.csv", "subscription_id,seat_quantity\nS1,10\n")

    with pytest.raises(ImportProblem, match=r"subscriptions\.csv line 1: no column autodesk_id"):
        import_files(database, server_id, [path])


def test_the_command_imports_and_reports_bad_rows(database_url: str, tmp_path: Path) -> None:
    common = ("--database-url", database_url, "--data-dir", str(tmp_path))
    database = Database(database_url)
    try:
        server_id = a_server(database)
        good = write(tmp_path, "usage.csv", SNAKE)
        bad = write(tmp_path, "bad.csv", BAD)

        done = run_seatmeter(
            "import", "autodesk-csv", str(good), "--license-server", str(server_id), *common
        )
        refused = run_seatmeter(
            "import", "autodesk-csv", str(bad), "--license-server", str(server_id), *common
        )

        assert done.returncode == 0, done.stderr
        assert "2 pools, 3 cloud users, 2 assignments" in done.stdout
        assert refused.returncode == 1
        assert "bad.csv line 3" in refused.stderr
        assert len(tables(database)["assignments"]) == 2
    finally:
        database.dispose()
