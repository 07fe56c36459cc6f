"""Session events ingested per second, from HTTP batch to committed rows.

    .venv/bin/python bench/ingestion.py [--sizes 0,100000,1000000]
        [--postgres | --database-url URL] [--seconds 12] [--rounds 3] [--senders 4]

A benchmark, not a test: it prints figures beside a baseline and asserts
nothing. Senders post batches of start and stop events as enrolled agents
to a real `seatmeter serve`; the baseline is a raw `executemany` of the
same rows (sessions, attributed, and their events, one transaction per
batch) into the same database from this process. Before each size the
sessions table is filled up to it (one INSERT ... SELECT over generated
numbers per 100,000 rows), so the curve shows how ingestion holds up as
history grows. The goal is at least half the raw insert rate.

The database holds a realistic team, so that the server pays for
attribution as a real one does: 2,000 cloud users matched by email, 6
pools, each user holding one or two; the batches' host users are spread
over the team and one in ten is unknown to it.

The machine is shared, so one reading of either side is noise: each size
runs --rounds short rounds, each HTTP then raw, and the best of each side
is kept. The raw rows are built before its clock starts, so it times
only the inserts and commits. After each fill the database is
checkpointed (and analysed, on PostgreSQL, unless empty) so that neither
side pays for the fill's aftermath.
"""

import argparse
import random
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from checkins import enrol
from common import database_options, describe_machine, run, serve, store_team, workspace
from sqlalchemy import func, insert, select, text

from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.sessions.models import UsageSession

AGENTS = 20
FILL_CHUNK = 100_000
# A realistic team, so each batch pays for attribution as on a real
# server: cloud users matched by email, one host user in ten unknown.
CLOUD_USERS = 2_000
HOST_USERS = CLOUD_USERS + CLOUD_USERS // 10
POOLS = (
    "AutoCAD - including specialized toolsets",
    "Revit",
    "Civil 3D",
    "AEC Collection IC",
    "3ds Max",
    "Inventor Professional",
)
APPLICATIONS = ("Civil 3D", "Revit", "AutoCAD", "3ds Max")


def main() -> None:
    arguments = _parser().parse_args()
    sizes = sorted(int(n) for n in arguments.sizes.split(","))
    with ExitStack() as stack:
        space = workspace(stack, arguments)
        tmp, children, url = space.tmp, space.children, space.database_url
        print("\n".join(describe_machine()))
        print(f"database: {url.split('://')[0]}; batches of {arguments.batch} events,")
        print(
            f"          {arguments.senders} senders, {arguments.rounds} rounds of "
            f"{arguments.seconds / arguments.rounds:.0f} s, best of each side\n"
        )

        database = Database(url)
        upgrade(database)
        credentials = enrol(database, AGENTS)
        entitle(database)
        agent_ids = _agent_ids(database)
        server = serve(url, tmp / "server", children)
        print(table_header())
        for size in sizes:
            fill(database, agent_ids[0], size)
            settle(database, size)
            sent, raw = interleaved(database, server, credentials, agent_ids, arguments)
            print(row(size, sent, raw), flush=True)
        database.dispose()


def interleaved(
    database: Database,
    server: str,
    credentials: list[str],
    agent_ids: list[str],
    arguments: argparse.Namespace,
) -> tuple[dict, dict]:
    """Rounds of HTTP then raw, the same events each; the best of each side."""
    sent_rounds, raw_rounds = [], []
    for _ in range(arguments.rounds):
        sent = over_http(server, credentials, arguments)
        sent_rounds.append(sent)
        raw_rounds.append(raw_inserts(database, agent_ids, sent["events"], arguments.batch))
    best_sent = max(sent_rounds, key=lambda figures: figures["rate"])
    return best_sent, max(raw_rounds, key=lambda figures: figures["rate"])


def over_http(server: str, credentials: list[str], arguments: argparse.Namespace) -> dict:
    """Post batches from several senders for a fixed time; count events."""
    deadline = time.monotonic() + arguments.seconds / arguments.rounds
    counts: list[int] = []
    latencies: list[float] = []

    def sender(credential: str) -> None:
        headers = {"Authorization": f"Bearer {credential}"}
        with httpx.Client(base_url=server, headers=headers, timeout=60) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                answer = client.post("/api/agent/v1/session-events", json=_batch(arguments.batch))
                latencies.append(time.perf_counter() - started)
                answer.raise_for_status()
                counts.append(answer.json()["accepted"])

    started = time.monotonic()
    threads = [
        threading.Thread(target=sender, args=(credentials[n % len(credentials)],))
        for n in range(arguments.senders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "events": sum(counts),
        "rate": sum(counts) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def raw_inserts(database: Database, agent_ids: list[str], events: int, batch: int) -> dict:
    """The same rows straight in through the driver's executemany, one
    transaction per batch: the floor that ingestion stands on."""
    with database.reading() as session:
        next_id = (session.scalar(select(func.max(UsageSession.id))) or 0) + 1
        team = (
            list(session.scalars(select(CloudUser.id))),
            list(session.scalars(select(ProductPool.id))),
        )
    batches = []
    for number in range(0, events, batch):
        agent_id = agent_ids[(number // batch) % len(agent_ids)]
        size = min(batch, events - number)
        sessions, session_events = _rows(agent_id, size, next_id, _stored(database), team)
        next_id += len(sessions)
        batches.append((("sessions", sessions), ("session_events", session_events)))
    statements = {table: _statement(database, table, rows[0]) for table, rows in batches[0]}

    started = time.perf_counter()
    for tables in batches:
        with database.writing() as session:
            cursor = session.connection().connection.cursor()
            for table, rows in tables:
                cursor.executemany(statements[table], [tuple(row.values()) for row in rows])
    elapsed = time.perf_counter() - started
    if database.dialect == "postgresql":
        # The ids were chosen here; the sequence must move past them.
        with database.writing() as session:
            session.execute(
                text("SELECT setval(pg_get_serial_sequence('sessions', 'id'), :last)"),
                {"last": next_id},
            )
    return {"rate": events / elapsed}


def _statement(database: Database, table: str, row: dict) -> str:
    marker = "?" if database.dialect == "sqlite" else "%s"
    columns = ", ".join(row)
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join([marker] * len(row))})"


def entitle(database: Database) -> None:
    """A team of CLOUD_USERS cloud users on 6 pools, each holding one or
    two of them, as a sync stores it."""
    with database.writing() as session:
        server, pools, people = store_team(session, CLOUD_USERS, POOLS)
        held = [
            {
                "license_server_id": server.id,
                "cloud_user_id": person.id,
                "product_pool_id": pools[(n + step) % len(pools)].id,
                "assignment_type": "DIRECT",
            }
            for n, person in enumerate(people)
            for step in range(1 + n % 2)
        ]
        session.execute(insert(Assignment), held)


def fill(database: Database, agent_id: str, size: int) -> None:
    """Grow the sessions table to `size` rows of closed history: one
    INSERT ... SELECT over generated numbers per FILL_CHUNK rows, so that
    5,000,000 take minutes, not hours."""
    with database.reading() as session:
        have = session.scalar(select(func.count()).select_from(UsageSession)) or 0
    statement = text(_FILL[database.dialect])
    for number in range(have, size, FILL_CHUNK):
        last = min(size, number + FILL_CHUNK) - 1
        with database.writing() as session:
            session.execute(statement, {"agent": agent_id, "first": number, "last": last})


# n from :first to :last; started n minutes after 2025-01-01, for 90.
_FILL_COLUMNS = (
    "INSERT INTO sessions (agent_id, agent_session_id, hostname, username,"
    " application, version, source, started_at, ended_at) "
)
_FILL = {
    "postgresql": _FILL_COLUMNS
    + "SELECT :agent, 'history-' || n, 'WS-' || (n % 2000), 'CORP\\user' || (n % 2000),"
    " 'Revit', '2025', 'process',"
    " TIMESTAMPTZ '2025-01-01 00:00:00+00' + n * INTERVAL '1 minute',"
    " TIMESTAMPTZ '2025-01-01 01:30:00+00' + n * INTERVAL '1 minute'"
    " FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS n",
    "sqlite": "WITH RECURSIVE numbers(n) AS (SELECT :first UNION ALL"
    " SELECT n + 1 FROM numbers WHERE n < :last) "
    + _FILL_COLUMNS
    + "SELECT :agent, 'history-' || n, 'WS-' || (n % 2000), 'CORP\\user' || (n % 2000),"
    " 'Revit', '2025', 'process',"
    " strftime('%Y-%m-%d %H:%M:%S.000000', '2025-01-01', n || ' minutes'),"
    " strftime('%Y-%m-%d %H:%M:%S.000000', '2025-01-01 01:30', n || ' minutes')"
    " FROM numbers",
}


def settle(database: Database, size: int) -> None:
    """Start each size from a quiet database: filling leaves a checkpoint
    due (PostgreSQL then flushes it during the next rounds, stalling
    commits for seconds) and statistics from before the fill.

    An empty history is not analysed, as autovacuum never analyses an
    empty table. Analysed while empty, PostgreSQL plans each server
    connection's foreign-key checks (an event's session, a session's
    agent) as scans and keeps those plans until the next analysis, so
    every event stored reads all sessions stored before it."""
    with database.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if database.dialect == "postgresql":
            if size:
                connection.exec_driver_sql("ANALYZE sessions")
                connection.exec_driver_sql("ANALYZE session_events")
            connection.exec_driver_sql("CHECKPOINT")
        else:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _batch(size: int) -> dict[str, Any]:
    """Half as many sessions as events: each starts and stops in it, by a
    host user of the team (or one in ten unknown to it)."""
    now = datetime.now(UTC)
    events = []
    for _ in range(size // 2):
        session_id = uuid.uuid4().hex
        common = {
            "session_id": session_id,
            "hostname": "WS-BENCH",
            "username": f"CORP\\user{random.randrange(HOST_USERS)}",
            "application": random.choice(APPLICATIONS),
            "version": "2024",
            "source": "process",
            "started_at": (now - timedelta(hours=1)).isoformat(),
        }
        events.append({**common, "event_id": uuid.uuid4().hex, "kind": "start"})
        stopped = {"ended_at": now.isoformat()}
        events.append({**common, **stopped, "event_id": uuid.uuid4().hex, "kind": "stop"})
    return {"events": events}


def _rows(
    agent_id: str,
    size: int,
    first_id: int,
    stored: Callable[[datetime], Any],
    team: tuple[list[int], list[int]],
) -> tuple[list[dict], list[dict]]:
    now = datetime.now(UTC)
    started = now - timedelta(hours=1)
    sessions, events = [], []
    for session_id in range(first_id, first_id + size // 2):
        sessions.append(
            {
                "id": session_id,
                "agent_id": agent_id,
                "agent_session_id": uuid.uuid4().hex,
                "hostname": "WS-BENCH",
                "username": f"CORP\\user{random.randrange(HOST_USERS)}",
                "application": random.choice(APPLICATIONS),
                "version": "2024",
                "source": "process",
                "started_at": stored(started),
                "ended_at": stored(now),
                # As ingestion stores them: attributed, with both keys.
                "attribution": "pool",
                "cloud_user_id": random.choice(team[0]),
                "product_pool_id": random.choice(team[1]),
            }
        )
        for kind, at in (("start", started), ("stop", now)):
            event = {"agent_id": agent_id, "event_id": uuid.uuid4().hex, "kind": kind}
            events.append({**event, "session_id": session_id, "at": stored(at)})
            events[-1]["received_at"] = stored(now)
    return sessions, events


def _stored(database: Database) -> Callable[[datetime], Any]:
    """A time as UTCDateTime hands it to each driver."""
    if database.dialect == "postgresql":
        return lambda moment: moment
    return lambda moment: str(moment.replace(tzinfo=None))


def _agent_ids(database: Database) -> list[str]:
    from seatmeter.server.agents.models import Agent

    with database.reading() as session:
        return list(session.scalars(select(Agent.id).order_by(Agent.id)))


def table_header() -> str:
    return (
        f"{'sessions':>9}  {'over HTTP':^30}  {'raw executemany':>16}\n"
        f"{'stored':>9}  {'events/s':>10} {'p50 ms':>9} {'p99 ms':>9}  {'events/s':>16}  ratio"
    )


def row(size: int, sent: dict, raw: dict) -> str:
    ratio = sent["rate"] / raw["rate"]
    return (
        f"{size:>9}  {sent['rate']:>10.0f} {sent['p50']:>9.1f} {sent['p99']:>9.1f}"
        f"  {raw['rate']:>16.0f}  {ratio:5.2f}x"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,100000,1000000", help="sessions stored, ascending")
    database_options(parser)
    parser.add_argument("--seconds", type=int, default=12, help="HTTP time per size, all rounds")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP/raw rounds per size")
    parser.add_argument("--senders", type=int, default=4, help="agents sending at once")
    parser.add_argument("--batch", type=int, default=100, help="events per batch")
    return parser


if __name__ == "__main__":
    run(main)
