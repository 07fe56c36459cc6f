"""The `seatmeter` command, run as a real process: what it prints, what it
stores, and how it refuses bad input (a clear message, never a traceback).
"""

import re
from pathlib import Path

import pytest
from conftest import TEST_SECRET_KEY, bearer
from fastapi.testclient import TestClient
from serverproc import free_port, run_seatmeter
from sqlalchemy import select

from seatmeter.server.accounts.credentials import verify_password
from seatmeter.server.accounts.models import Account
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import head_revision

PASSWORD = "correct horse battery"

# args, environment, config file, what the message must say ({config}:
# the file's path). Each names the setting, its source and its value.
BAD_SETTINGS = [
    pytest.param(
        ["--port", "abc"],
        {},
        None,
        ["setting port (from flag --port) is 'abc'; give a whole number"],
        id="flag",
    ),
    pytest.param(
        [],
        {"SEATMETER_PORT": "0"},
        None,
        ["setting port (from environment variable SEATMETER_PORT) is 0"],
        id="environment",
    ),
    pytest.param(
        [],
        {},
        'colour = "blue"\n',
        ["config file {config}: unknown setting 'colour'"],
        id="file-unknown-key",
    ),
    pytest.param(
        [],
        {},
        'log_level = "loud"\n',
        ["setting log_level (from file {config}) is 'loud'"],
        id="file-bad-value",
    ),
    # A secret is named but not echoed.
    pytest.param(
        ["--secret-key", "not-a-fernet-key"],
        {},
        None,
        ["secret_key", "flag --secret-key", "Fernet"],
        id="secret-key",
    ),
    pytest.param(
        ["--database-url", "not a url"],
        {},
        None,
        ["database_url", "flag --database-url", "'not a url'"],
        id="database-url",
    ),
]


def test_token_create_prints_a_working_token_alone_on_its_last_line(
    database_url: str, tmp_path: Path, client: TestClient
) -> None:
    where = flags(database_url, tmp_path)
    command = ("token", "create", "--scope", "read", "--name", "x", *where)
    done = run_seatmeter(*command)
    assert done.returncode == 0, done.stderr
    token = done.stdout.splitlines()[-1]
    assert re.fullmatch(r"smt_[A-Za-z0-9_-]{40,}", token), done.stdout
    assert "shown only now" in done.stderr

    # A read token reads, and changes nothing.
    headers = bearer(token)
    assert client.get("/api/v1/agent-groups", headers=headers).status_code == 200
    change = {"name": "x"}
    response = client.post("/api/v1/agent-groups", json=change, headers=headers)
    assert response.status_code == 403


def test_admin_create_reads_the_password_from_stdin(
    database_url: str, tmp_path: Path, admin: TestClient, database: Database
) -> None:
    where = flags(database_url, tmp_path)
    command = ("admin", "create", "alice", "--password-stdin", *where)
    done = run_seatmeter(*command, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "account 'alice' created with role admin\n"

    accounts = admin.get("/api/v1/accounts").json()["items"]
    assert [(a["name"], a["role"]) for a in accounts] == [("alice", "admin")]
    # The line end is not part of the password.
    with database.reading() as session:
        stored = session.scalars(select(Account.password_hash)).one()
    assert verify_password(stored, PASSWORD)


def test_admin_create_refuses_a_short_password_without_a_traceback(
    tmp_path: Path,
) -> None:
    where = flags(None, tmp_path)
    command = ("admin", "create", "alice", "--password-stdin", *where)
    done = run_seatmeter(*command, stdin="short\n")
    assert done.returncode != 0
    assert "password: needs at least 10 characters (got 5)" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize("args, environment, config, expected", BAD_SETTINGS)
def test_a_bad_setting_is_named_with_its_source_and_value(
    tmp_path: Path,
    args: list[str],
    environment: dict[str, str],
    config: str | None,
    expected: list[str],
) -> None:
    config_path = tmp_path / "seatmeter.toml"
    if config is not None:
        config_path.write_text(config, encoding="utf-8")
        args = [*args, "--config", str(config_path)]

    # Should a bad setting pass, serve listens on a free port until killed.
    environment = {"SEATMETER_PORT": str(free_port()), **environment}
    command = ("serve", "--data-dir", str(tmp_path), *args)
    # A guard against a hang, not a measure: a loaded machine starts slowly.
    done = run_seatmeter(*command, env=environment, timeout=90)

    assert done.returncode == 2, done.stderr
    for fragment in expected:
        assert fragment.format(config=config_path) in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_db_upgrade_prints_the_revision(database_url: str, tmp_path: Path) -> None:
    done = run_seatmeter("db", "upgrade", *flags(database_url, tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"database at revision {head_revision()}\n"


def test_db_upgrade_makes_the_embedded_database_in_a_new_data_dir(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "new" / "data"
    done = run_seatmeter("db", "upgrade", "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"database at revision {head_revision()}\n"
    assert (data_dir / "seatmeter.db").is_file()


def flags(database_url: str | None, data_dir: Path) -> list[str]:
    """Where the command's database is; none means SQLite in data_dir."""
    given = ["--database-url", database_url] if database_url else []
    return [*given, "--data-dir", str(data_dir), "--secret-key", TEST_SECRET_KEY]
