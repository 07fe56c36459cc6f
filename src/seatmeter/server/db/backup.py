"""`seatmeter db backup FILE`: an online, consistent copy of SQLite.

SQLite's backup API copies the database page by page from inside one
read transaction, so the copy is the database as it was at one commit,
whatever the server writes meanwhile; in WAL mode (the server's) that
reader does not hold the writers up. The copy is written beside the
target under a temporary name and renamed at the end, so a failed
backup never leaves a half file where a good one is expected. It is
checked (`PRAGMA quick_check`) before the rename.

PostgreSQL has its own tool for this, pg_dump; we do not wrap it.
"""

import logging
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


class BackupError(Exception):
    """The backup cannot be made; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size_bytes: int
    sessions: int


def backup(database_url: str, target: Path) -> Backup:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "the database is PostgreSQL: back it up with pg_dump, e.g. pg_dump "
            "--format=custom --file=seatmeter.dump followed by the database's URL "
            "or -h HOST -U USER DATABASE; restore with pg_restore"
        )
    source = Path(url.database or "")
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}; check data_dir or database_url")
    if target.exists():
        raise BackupError(f"{target} exists already; give a new file name")
    return _copy(source, target)


def _copy(source: Path, target: Path) -> Backup:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with _open(source) as origin, _open(partial) as copy:
            # One step (pages=-1): stepwise copies start over at every
            # write the server makes, and might never finish.
            origin.backup(copy, pages=-1)
            _check(copy, partial)
            sessions = copy.execute("SELECT count(*) FROM sessions").fetchone()[0]
        os.replace(partial, target)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} to {target} failed: {error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("database %s backed up to %s", source, target)
    return Backup(target, target.stat().st_size, int(sessions))


class _open:
    """A plain connection that is closed, not only committed, on exit."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(path, timeout=30)

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *_: object) -> None:
        self.connection.close()


def _check(copy: sqlite3.Connection, path: Path) -> None:
    verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise BackupError(f"the copy {path} failed its check ({verdict}); try again")
