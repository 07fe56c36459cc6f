"""The agent's durable local state: outbox, open sessions, stored values.

Everything lives in one SQLite file in the agent's state folder, so that a
restart, a crash or a power cut loses nothing the agent was told is stored:
session events wait in the outbox until the server acknowledges them, the
open sessions let a restarted agent close what it had started, and small
JSON values (the last configuration, the catalog) outlive the process.

Errors that mean the file or its folder is unusable (read-only, disk full,
not a database, locked by another agent) are raised as StateError with one
sentence naming the file and what to do, so the agent can report them and
keep running. Mistakes of the caller (an event without an event id, a
wrong type in an open session) raise ValueError or TypeError as usual.

Standard library only: the agent must not import the server's stack.
"""

import errno
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Another agent process (or an upgrade running beside the service) may hold
# the write lock briefly; waiting this long is better than failing a scan.
BUSY_TIMEOUT_S = 10.0
# Rejected events are kept for inspection, but never without bound.
REJECTED_KEPT = 1_000

# One tuple of statements per schema version; `user_version` records how
# many have been applied. Append new versions, never edit old ones.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE outbox (
            position INTEGER PRIMARY KEY,  -- insertion order
            event_id TEXT NOT NULL UNIQUE,
            event TEXT NOT NULL            -- the event as JSON
        )""",
        """CREATE TABLE rejected (
            event_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            reason TEXT NOT NULL,
            rejected_at REAL NOT NULL
        )""",
        """CREATE TABLE open_sessions (
            session_id TEXT PRIMARY KEY,
            pid INTEGER NOT NULL,
            create_time REAL NOT NULL,
            username TEXT NOT NULL,
            application TEXT NOT NULL,
            version TEXT NOT NULL,
            source TEXT NOT NULL,
            started_at REAL NOT NULL,
            last_seen REAL NOT NULL,
            last_action REAL NOT NULL
        )""",
        "CREATE TABLE stored_values (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
]


# The path of a state kept in memory only: the same tables, no file.
MEMORY = ":memory:"


class StateError(RuntimeError):
    """The state file or its folder cannot be used; the message says why."""


@dataclass
class OpenSession:
    session_id: str  # chosen by the agent; the server keys sessions by it
    pid: int
    create_time: float  # with pid, identifies one run of a process
    username: str  # host user, e.g. CORP\jdoe
    application: str  # catalog name, e.g. "Civil 3D"
    version: str  # release, e.g. "2024"; "" if unknown
    source: str  # "process" or "legacy"
    started_at: float  # epoch seconds, agent clock
    last_seen: float  # last time a scan saw the process alive
    last_action: float  # legacy: last trackable action; else started_at


@dataclass
class Snapshot:
    outbox: list[dict[str, Any]]
    open_sessions: list[OpenSession]
    values: dict[str, Any]
    dropped: int


SESSION_COLUMNS = ", ".join(field.name for field in fields(OpenSession))


class AgentState:
    def __init__(self, path: Path, max_events: int = 100_000) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        self.path = Path(path)
        self.max_events = max_events
        # The uplink and the scanner may run in different threads.
        self._lock = threading.Lock()

        if str(self.path) == MEMORY:
            self._db = _connect_memory()
        else:
            _create_private_file(self.path)
            with _translated(self.path):
                self._db = _connect(self.path)
        try:
            self._configure()
            self._migrate()
        except BaseException:
            self._db.close()
            raise

    def record(
        self,
        events: Sequence[dict[str, Any]],
        opened: Sequence[OpenSession] = (),
        closed: Sequence[str] = (),
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Store events, opened sessions, closed ones and stored values:
        all or nothing."""
        rows = [(_event_id(event), json.dumps(event)) for event in events]
        stored = [(key, json.dumps(value)) for key, value in (values or {}).items()]

        with self._transaction() as db:
            self._store(db, rows, opened, closed, stored)

    def touch(
        self,
        session_ids: Sequence[str],
        last_seen: float,
        last_action: float | None = None,
    ) -> None:
        rows = [(last_seen, last_action, session_id) for session_id in session_ids]
        with self._transaction() as db:
            db.executemany(
                "UPDATE open_sessions SET last_seen = ?, "
                "last_action = coalesce(?, last_action) WHERE session_id = ?",
                rows,
            )

    def open_sessions(self) -> list[OpenSession]:
        rows = self._read(
            f"""SELECT {SESSION_COLUMNS} FROM open_sessions
            ORDER BY started_at, session_id"""
        )
        return [OpenSession(*row) for row in rows]

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The oldest waiting events; they stay until accepted or rejected."""
        # A negative LIMIT means no limit to SQLite, which is never meant.
        rows = self._read(
            "SELECT event FROM outbox ORDER BY position LIMIT ?",
            (max(limit, 0),),
        )
        return [json.loads(event) for (event,) in rows]

    def accept(self, event_ids: Sequence[str]) -> None:
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM outbox WHERE event_id = ?",
                [(event_id,) for event_id in event_ids],
            )

    def reject(self, event_id: str, reason: str) -> None:
        """Move an event the server refused for good out of the queue."""
        with self._transaction() as db:
            moved = db.execute(
                "INSERT OR REPLACE INTO rejected "
                "SELECT event_id, event, ?, ? FROM outbox WHERE event_id = ?",
                (reason, time.time(), event_id),
            ).rowcount
            db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
            db.execute(
                "DELETE FROM rejected WHERE rowid NOT IN "
                "(SELECT rowid FROM rejected ORDER BY rowid DESC LIMIT ?)",
                (REJECTED_KEPT,),
            )
        if moved:
            log.info("event %s rejected by the server: %s", event_id, reason)

    def depth(self) -> int:
        return int(self._read("SELECT count(*) FROM outbox")[0][0])

    def dropped(self) -> int:
        rows = self._read("SELECT value FROM counters WHERE name = 'dropped'")
        return int(rows[0][0]) if rows else 0

    def get(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM stored_values WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def put(self, key: str, value: Any) -> None:
        text = json.dumps(value)
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO stored_values (key, value) VALUES (?, ?)",
                (key, text),
            )

    def snapshot(self) -> "Snapshot":
        """Everything the agent keeps, to carry to another state."""
        return Snapshot(
            outbox=[
                json.loads(event)
                for (event,) in self._read("SELECT event FROM outbox ORDER BY position")
            ],
            open_sessions=self.open_sessions(),
            values={
                key: json.loads(value)
                for key, value in self._read("SELECT key, value FROM stored_values")
            },
            dropped=self.dropped(),
        )

    def replace(self, snapshot: "Snapshot") -> None:
        """Make this state hold exactly the snapshot: all or nothing."""
        with self._transaction() as db:
            for table in ("outbox", "open_sessions", "stored_values", "counters"):
                db.execute(f"DELETE FROM {table}")
            db.execute(
                "INSERT INTO counters (name, value) VALUES ('dropped', ?)",
                (snapshot.dropped,),
            )
            self._store(
                db,
                [(_event_id(event), json.dumps(event)) for event in snapshot.outbox],
                snapshot.open_sessions,
                (),
                [(key, json.dumps(value)) for key, value in snapshot.values.items()],
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _configure(self) -> None:
        with self._lock, _translated(self.path):
            # WAL lets readers work beside the writer; FULL syncs every
            # commit, so an event record() returned for survives a power
            # cut. fullfsync matters on macOS only, where fsync is not.
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA fullfsync = ON")

    def _migrate(self) -> None:
        if self._read("PRAGMA user_version")[0][0] == len(MIGRATIONS):
            return
        with self._transaction() as db:
            # Read again under the write lock: another process may have won.
            current = db.execute("PRAGMA user_version").fetchone()[0]
            if current > len(MIGRATIONS):
                raise StateError(
                    f"agent state file {self.path} was written by a newer "
                    f"agent (schema {current}, this agent knows "
                    f"{len(MIGRATIONS)}); upgrade the agent or move the file aside"
                )
            for number in range(current, len(MIGRATIONS)):
                for statement in MIGRATIONS[number]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
        if str(self.path) != MEMORY:
            log.info("agent state file %s: schema %d", self.path, len(MIGRATIONS))

    def _store(
        self,
        db: sqlite3.Connection,
        rows: list[tuple[str, str]],
        opened: Sequence[OpenSession],
        closed: Sequence[str],
        stored: list[tuple[str, str]],
    ) -> None:
        # A repeated event id is a resend of the same event: keep one.
        db.executemany(
            "INSERT INTO outbox (event_id, event) VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING",
            rows,
        )
        if rows:
            self._enforce_bound(db)

        # Checked inside the transaction, so a bad session undoes the
        # events above too. A session both opened and closed in one
        # call (a short run between two scans) ends up closed.
        db.executemany(
            f"INSERT OR REPLACE INTO open_sessions ({SESSION_COLUMNS}) "
            f"VALUES ({', '.join('?' * len(fields(OpenSession)))})",
            [_session_row(session) for session in opened],
        )
        db.executemany(
            "DELETE FROM open_sessions WHERE session_id = ?",
            [(session_id,) for session_id in closed],
        )
        db.executemany("INSERT OR REPLACE INTO stored_values (key, value) VALUES (?, ?)", stored)

    def _enforce_bound(self, db: sqlite3.Connection) -> None:
        # The oldest events go first: the newest say most about the present.
        waiting = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        excess = waiting - self.max_events
        if excess <= 0:
            return
        db.execute(
            "DELETE FROM outbox WHERE position IN "
            "(SELECT position FROM outbox ORDER BY position LIMIT ?)",
            (excess,),
        )
        db.execute(
            "INSERT INTO counters (name, value) VALUES ('dropped', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (excess,),
        )
        log.warning(
            "outbox full (%d events): dropped the %d oldest",
            self.max_events,
            excess,
        )

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        with self._lock, _translated(self.path):
            return self._db.execute(sql, parameters).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path):
            # IMMEDIATE takes the write lock now, under the busy timeout,
            # rather than failing halfway through.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back (disk full, I/O).
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise


def _connect(path: Path) -> sqlite3.Connection:
    """Open the file; tests replace this to get read-only or full disks."""
    # isolation_level=None: we issue BEGIN and COMMIT ourselves.
    return sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,
        check_same_thread=False,
    )


def _connect_memory() -> sqlite3.Connection:
    return sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)


def _create_private_file(path: Path) -> None:
    """Create the folder and the file readable by the owner only.

    SQLite gives its -wal and -shm files the mode of the database file.
    On Windows the modes are ignored; the folder's ACL, set by the
    installer, is what protects the file there.
    """
    folder = path.parent
    try:
        if not folder.is_dir():
            # exist_ok: another agent process may be creating it too.
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        with suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            # The umask may have taken more than group and other bits.
            path.chmod(0o600)
    except OSError as error:
        todo = (
            "free space on its disk"
            if error.errno == errno.ENOSPC
            else f"make {folder} a folder the agent's service account can write"
        )
        raise StateError(
            f"agent state file {path} cannot be created ({error.strerror}); {todo}"
        ) from error


WRITABLE = "make the folder writable by the agent's service account"
MOVE_ASIDE = "move it aside, losing its unsent events, so the agent starts anew"
# Primary SQLite result code: what it says about the file, and what to do.
TROUBLES = {
    sqlite3.SQLITE_READONLY: ("cannot be written", WRITABLE),
    sqlite3.SQLITE_PERM: ("cannot be written", WRITABLE),
    sqlite3.SQLITE_CANTOPEN: (
        "cannot be opened",
        "make it a file the agent's service account can read and write",
    ),
    sqlite3.SQLITE_FULL: ("cannot be written", "free space on its disk"),
    sqlite3.SQLITE_IOERR: ("cannot be read or written", "check its disk"),
    sqlite3.SQLITE_NOTADB: ("is not a usable database", MOVE_ASIDE),
    sqlite3.SQLITE_CORRUPT: ("is damaged", MOVE_ASIDE),
    sqlite3.SQLITE_BUSY: (
        "is locked by another process",
        "make sure only one agent uses this state folder",
    ),
    sqlite3.SQLITE_LOCKED: (
        "is locked by another process",
        "make sure only one agent uses this state folder",
    ),
}


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """Raise SQLite's complaints about the file itself as StateError."""
    try:
        yield
    except sqlite3.Error as error:
        code = getattr(error, "sqlite_errorcode", None)
        trouble = TROUBLES.get(code & 0xFF) if code is not None else None
        if trouble is None:
            raise
        what, todo = trouble
        raise StateError(f"agent state file {path} {what} ({error}); {todo}") from error


def _event_id(event: dict[str, Any]) -> str:
    event_id = event.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"an event needs an event_id (a non-empty string): {event!r}")
    return event_id


def _session_row(session: OpenSession) -> tuple[Any, ...]:
    # SQLite would keep a string in a number column; refuse it here.
    for field in fields(OpenSession):
        value = getattr(session, field.name)
        wanted: Any = field.type
        accepted = (int, float) if wanted is float else wanted
        if isinstance(value, bool) or not isinstance(value, accepted):
            raise TypeError(
                f"OpenSession.{field.name} must be {wanted.__name__}, "
                f"not {type(value).__name__} ({value!r})"
            )
    return astuple(session)
