"""`seatmeter db backup` as a real process, while another writes."""

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from serverproc import run_seatmeter
from test_retention import add_session, left

from seatmeter.server.db import Database
from seatmeter.server.db.migrate import head_revision

ENDED = datetime(2026, 12, 1, tzinfo=UTC)
BACKUPS = 3


class Writer(threading.Thread):
    """Writes sessions, each with its two events, one transaction each."""

    def __init__(self, database: Database) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.written = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            add_session(self.database, self.written, ENDED + timedelta(seconds=self.written))
            self.written += 1


def test_backup_while_writing_is_consistent_and_usable(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the backup command copies SQLite; PostgreSQL is tested below")
    writer = Writer(database)
    writer.start()
    copies = []
    try:
        while writer.written < 50:
            threading.Event().wait(0.05)
        for number in range(BACKUPS):
            target = tmp_path / f"copy{number}.db"
            before = writer.written
            done = run_seatmeter("db", "backup", str(target), "--database-url", database_url)
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"backed up to {target}: "), done.stdout
            # The writer went on while the backup ran.
            assert writer.written > before
            copies.append((target, writer.written))
    finally:
        writer.done.set()
        writer.join()

    for target, written_after in copies:
        with sqlite3.connect(target) as copy:
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            [revision] = copy.execute("SELECT version_num FROM alembic_version").fetchone()
        # Whole transactions only: every session with both its events.
        sessions, events = left(Database(f"sqlite:///{target}"))
        assert 50 <= len(sessions) <= written_after
        assert events == 2 * len(sessions)
        assert revision == head_revision()
    assert not list(tmp_path.glob("*.partial"))


def test_backup_of_postgresql_says_to_use_pg_dump(database: Database, database_url: str) -> None:
    if database.dialect != "postgresql":
        pytest.skip("about PostgreSQL")
    done = run_seatmeter("db", "backup", "copy.db", "--database-url", database_url)
    assert done.returncode == 1
    assert "back it up with pg_dump" in done.stderr, done.stderr
    assert "password" not in done.stderr


def test_backup_never_overwrites(tmp_path: Path, database: Database, database_url: str) -> None:
    if database.dialect != "sqlite":
        pytest.skip("the backup command copies SQLite")
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    done = run_seatmeter("db", "backup", str(target), "--database-url", database_url)
    assert done.returncode == 1
    assert f"{target} exists already; give a new file name" in done.stderr
    assert target.read_text() == "keep me"
