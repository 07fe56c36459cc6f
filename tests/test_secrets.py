"""Autodesk credentials are encrypted at rest and never shown again."""

import stat

from conftest import make_settings
from sqlalchemy import text

from seatmeter.server.secrets import KEY_FILE, load_box


def test_a_generated_key_is_private_and_reused(tmp_path):
    settings = make_settings("sqlite://", tmp_path, secret_key="")

    sealed = load_box(settings).seal("client-secret-value")

    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_box(settings).open(sealed) == "client-secret-value"
    assert "client-secret-value" not in sealed
    assert not list(tmp_path.glob(f".{KEY_FILE}.*")), "no draft key left behind"


def test_client_secret_is_stored_encrypted_and_never_returned(admin, database):
    created = admin.post(
        "/api/v1/license-servers",
        json={"name": "Main", "team_id": "100001", "client_secret": "hunter2-secret"},
    )

    assert created.status_code == 201
    assert "hunter2-secret" not in created.text
    assert created.json()["has_client_secret"] is True
    assert "hunter2-secret" not in admin.get("/api/v1/license-servers").text
    with database.reading() as session:
        row = session.execute(text("SELECT * FROM license_servers")).one()
    assert not any("hunter2-secret" in str(value) for value in row)

    cleared = admin.patch(
        f"/api/v1/license-servers/{created.json()['id']}", json={"client_secret": None}
    )
    assert cleared.json()["has_client_secret"] is False
