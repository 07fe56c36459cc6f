"""One `Database` per process: engines and the two kinds of transaction.

Readers and writers are separated because SQLite in WAL mode lets many
readers run beside one writer, but a transaction that starts reading and
later writes can fail with "database is locked" instead of waiting. Write
transactions therefore take SQLite's write lock up front (BEGIN
IMMEDIATE), where the busy timeout makes them queue politely.

Within one process, SQLite writers also queue on a lock of their own:
SQLite's busy handler polls with sleeps of up to 100 ms, so threads
contending for the write lock would mostly sleep; a Python lock hands
the database to the next writer the moment the last one commits.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000


# Beyond its pool a process opens as many connections again for bursts,
# and closes them after; a new SQLite connection costs its pragmas, a
# PostgreSQL one a login.
DEFAULT_POOL_SIZE = 20
PING_AFTER_IDLE_S = 5.0

# a statement as its driver takes it: text, parameter order, fixed values
_DriverSql = tuple[str, tuple[str, ...] | None, dict[str, Any]]

# Rows per multi-row INSERT ... RETURNING: SQLite allows 32,766 values.
INSERT_CHUNK = 500

# by "is it SQLite": how a connection runs one statement without BEGIN
_ONE_STATEMENT: dict[bool, dict[str, Any]] = {
    True: {"seatmeter_one_statement": True},
    False: {"isolation_level": "AUTOCOMMIT"},
}


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = DEFAULT_POOL_SIZE) -> None:
        self.url = make_url(url)
        self.engine = _create(url, echo=echo, pool_size=pool_size)
        self.write_engine = self.engine.execution_options(seatmeter_write=True)
        # SQLite's connections already run outside the sqlite3 module's
        # transactions (see on_begin); SQLAlchemy's AUTOCOMMIT would undo
        # that when the connection goes back to the pool.
        self._one_statement_engine = self.engine.execution_options(
            **_ONE_STATEMENT[self.dialect == "sqlite"]
        )
        # Only SQLite has one writer at a time; PostgreSQL needs no queue.
        self._writer_queue = threading.RLock() if self.dialect == "sqlite" else None
        self._compiled: dict[Executable, _DriverSql] = {}
        self._compiled_inserts: dict[tuple[Any, ...], Any] = {}
        self._after_write: list[Callable[[], None]] = []

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def first_row(self, statement: Executable, **values: Any) -> tuple[Any, ...] | None:
        """The first row of a read, run on the driver itself, outside a
        transaction, with the driver's own types (SQLite: JSON as text,
        booleans as 0 and 1).

        For the one statement every agent runs every minute: SQLAlchemy
        compiles it once here, and its own work per execution (about four
        times the database's for a lookup by key) is skipped. Pass a
        statement built once, at import: each is compiled and kept. When the
        driver fails, the statement goes through SQLAlchemy after all, so
        the error is named as everywhere else and a lost connection
        renews the pool.
        """
        try:
            return self._first_row_on_driver(statement, values)
        except self.engine.dialect.loaded_dbapi.Error:
            with self.one_statement() as connection:
                row = connection.execute(statement, values).first()
            return None if row is None else tuple(row)

    def _first_row_on_driver(
        self, statement: Executable, values: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        sql, names, defaults = self._driver_sql(statement)
        values = {**defaults, **values}
        raw = self.engine.raw_connection()
        try:
            driver: Any = raw.driver_connection
            if self.dialect != "sqlite":
                driver.autocommit = True
            cursor = raw.cursor()
            cursor.execute(sql, [values[n] for n in names] if names else values)
            row = cursor.fetchone()
            cursor.close()
            if self.dialect != "sqlite":
                driver.autocommit = False
        except Exception:
            raw.invalidate()  # not back into the pool
            raise
        finally:
            raw.close()
        return None if row is None else tuple(row)

    def _driver_sql(self, statement: Executable) -> _DriverSql:
        found = self._compiled.get(statement)
        if found is None:
            compiled = statement.compile(  # type: ignore[attr-defined]
                dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            positions = compiled.positiontup
            names = tuple(positions) if positions else None
            found = (str(compiled), names, dict(compiled.params))
            self._compiled[statement] = found
        return found

    def insert_rows(
        self,
        connection: Connection,
        table: Table,
        rows: list[dict[str, Any]],
        returning: tuple[str, ...] = (),
    ) -> list[tuple[Any, ...]]:
        """Insert rows (all with the same keys) in the connection's
        transaction, with SQL built once per shape and values converted
        by each column's own type; the RETURNING columns of each row, if
        any are named.

        For ingestion's batches: SQLAlchemy compiles and converts every
        statement's rows anew, which cost as much as the database's own
        work. On PostgreSQL the rows go in as one INSERT ... SELECT from
        unnest() of an array per column; on SQLite as one executemany, or
        with RETURNING as multi-row INSERTs of up to INSERT_CHUNK rows.
        All run through exec_driver_sql, so errors are named, and a lost
        connection renews the pool, as everywhere.
        """
        if not rows:
            return []
        columns = tuple(rows[0])
        convert = self._converters(table, columns)
        pairs = list(zip(columns, convert, strict=True))
        values = [tuple(c(row[n]) if c else row[n] for n, c in pairs) for row in rows]
        if self.dialect == "postgresql":
            # One statement of one array per column: short SQL that
            # psycopg parses once, one round trip whatever the rows.
            arrays = tuple(list(column) for column in zip(*values, strict=True))
            sql = self._unnest_sql(table, columns, returning)
            result = connection.exec_driver_sql(sql, arrays)
            return [tuple(row) for row in result] if returning else []
        if not returning:
            connection.exec_driver_sql(self._insert_sql(table, columns, 1, ()), values)
            return []
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(values), INSERT_CHUNK):
            chunk = values[start : start + INSERT_CHUNK]
            sql = self._insert_sql(table, columns, len(chunk), returning)
            flat = tuple(value for row in chunk for value in row)
            found.extend(tuple(row) for row in connection.exec_driver_sql(sql, flat))
        return found

    def _unnest_sql(
        self, table: Table, columns: tuple[str, ...], returning: tuple[str, ...]
    ) -> str:
        key = ("unnest", table.name, columns, returning)
        found = self._compiled_inserts.get(key)
        if found is None:
            dialect = self.engine.dialect
            quote = dialect.identifier_preparer.quote
            arrays = ", ".join(f"%s::{table.c[n].type.compile(dialect)}[]" for n in columns)
            found = (
                f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
                f"SELECT * FROM unnest({arrays})"
            )
            if returning:
                found += f" RETURNING {', '.join(map(quote, returning))}"
            self._compiled_inserts[key] = found
        return found

    def _converters(self, table: Table, columns: tuple[str, ...]) -> list[Any]:
        key = ("converters", table.name, columns)
        found = self._compiled_inserts.get(key)
        if found is None:
            dialect = self.engine.dialect
            found = [table.c[name].type._cached_bind_processor(dialect) for name in columns]
            self._compiled_inserts[key] = found
        return found

    def _insert_sql(
        self, table: Table, columns: tuple[str, ...], count: int, returning: tuple[str, ...]
    ) -> str:
        key = (table.name, columns, count, returning)
        found = self._compiled_inserts.get(key)
        if found is None:
            quote = self.engine.dialect.identifier_preparer.quote
            marker = "?" if self.dialect == "sqlite" else "%s"
            one = "(" + ", ".join([marker] * len(columns)) + ")"
            found = (
                f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) "
                f"VALUES {', '.join([one] * count)}"
            )
            if returning:
                found += f" RETURNING {', '.join(map(quote, returning))}"
            self._compiled_inserts[key] = found
        return found

    @contextmanager
    def one_statement(self) -> Iterator[Connection]:
        """A connection for a single read outside a transaction.

        One statement is consistent by itself; without BEGIN and ROLLBACK
        it costs PostgreSQL one round trip instead of three. For the
        hottest reads only (the check-in's credential lookup).
        """
        with self._one_statement_engine.connect() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on error;
        after a commit, what `after_write` registered is told."""
        session = Session(self.write_engine, expire_on_commit=False)
        with self._queued(), session, session.begin():
            yield session
        for listener in self._after_write:
            listener()

    def after_write(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each write this process commits."""
        self._after_write.append(listener)

    @contextmanager
    def _queued(self) -> Iterator[None]:
        if self._writer_queue is None:
            yield
        else:
            with self._writer_queue:
                yield

    def dispose(self) -> None:
        self.engine.dispose()


def _create(url: str, *, echo: bool, pool_size: int) -> Engine:
    pool = {"pool_size": pool_size, "max_overflow": pool_size}
    if make_url(url).get_backend_name() == "sqlite":
        return _create_sqlite(url, echo=echo, pool=pool)
    engine = create_engine(url, echo=echo, **pool)
    _ping_when_idle(engine)
    _binary_when_asked(engine)
    return engine


# The execution option that asks PostgreSQL for a result in binary form.
BINARY_RESULT = "seatmeter_binary_result"


def _binary_when_asked(engine: Engine) -> None:
    """Run a statement with `BINARY_RESULT` set for a binary result.

    psycopg then hands each value over as PostgreSQL sends it, with no
    text to parse: the reports' whole-column arrays arrive as bytes."""

    @event.listens_for(engine, "do_execute")
    def on_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if not context.execution_options.get(BINARY_RESULT):
            return None
        cursor.execute(statement, parameters, binary=True)
        return True


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before use if it sat idle a while.

    A restarted PostgreSQL leaves the pool holding dead connections. One
    that waited in the pool past `PING_AFTER_IDLE_S` is tested first and
    replaced if dead, so a quiet server's next request never meets one.
    Under load connections come back within milliseconds and are not
    tested: the first one found dead makes SQLAlchemy discard the whole
    pool, and that one request is answered 503 (the agents retry).
    """

    @event.listens_for(engine, "checkin")
    def on_checkin(_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < PING_AFTER_IDLE_S:
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            connection.rollback()  # hand it over outside a transaction
        except Exception as error:
            # The pool opens a new connection in its place and tries again.
            raise DisconnectionError() from error


def _create_sqlite(url: str, *, echo: bool, pool: dict[str, int]) -> Engine:
    timeout = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    engine = create_engine(url, echo=echo, connect_args=timeout, **pool)
    engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _enable_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get("seatmeter_one_statement"):
            return  # the statement runs in SQLite's own implicit transaction
        immediate = options.get("seatmeter_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's compiler, rendering `Select.with_hint()` as written:
    SQLite's table hints, INDEXED BY and NOT INDEXED (SQLAlchemy's own
    compiler drops every hint)."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def _enable_wal(cursor: Any) -> None:
    """Switch a new database file to WAL, waiting out other processes.

    The switch needs the file to itself, and SQLite refuses it at once
    rather than waiting when two servers open a new file together. The
    mode is stored in the file, so this loops only on the first start.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
