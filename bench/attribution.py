"""What attribution costs over many sessions, beside a plain UPDATE.

    .venv/bin/python bench/attribution.py [--sessions N] [--users U] [--url URL]

A benchmark, not a test: it prints times and ratios and asserts nothing.
It fills a fresh database (SQLite in a temporary folder unless --url
names an empty PostgreSQL database) with one license server, pools for
every catalog product seen, U cloud users with assignments, and N
sessions over U host users and four applications, then times:

- baseline: one UPDATE that writes every session row (the floor for
  touching every row);
- attribute(): the first run, when every session changes;
- attribute() again, when nothing changes (what a sync costs);
- attribute(session_ids=...) for 50 new sessions (what ingestion adds).
"""

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import store_team
from sqlalchemy import insert, select, update

from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.entitlements.models import Assignment
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.attribution import attribute

APPLICATIONS = ("Revit", "AutoCAD", "Civil 3D", "3ds Max")
POOLS = ("Revit", "AutoCAD - including specialized toolsets", "AEC Collection IC")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--url", help="an empty PostgreSQL database; default SQLite")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.url or f"sqlite:///{Path(folder) / 'bench.db'}"
        database = Database(url)
        try:
            run(database, options.sessions, options.users)
        finally:
            database.dispose()


def run(database: Database, sessions: int, users: int) -> None:
    upgrade(database)
    fill(database, sessions, users)
    baseline = timed(database, lambda s: s.execute(update(UsageSession).values(version="2024")))
    first = timed(database, lambda s: attribute(s))
    again = timed(database, lambda s: attribute(s))
    with database.reading() as session:
        newest = list(session.scalars(select(UsageSession.id).order_by(UsageSession.id.desc())))
    fresh = timed(database, lambda s: attribute(s, session_ids=newest[:50]))

    print(f"{sessions} sessions, {users} host users, {database.dialect}")
    for name, seconds in (
        ("baseline UPDATE of every row", baseline),
        ("attribute(), first run", first),
        ("attribute(), nothing changed", again),
        ("attribute(session_ids=50)", fresh),
    ):
        print(f"  {name:32} {seconds * 1000:9.1f} ms  {seconds / baseline:6.2f} x baseline")


def timed(database: Database, work: Callable[[Any], Any]) -> float:
    start = time.perf_counter()
    with database.writing() as session:
        work(session)
    return time.perf_counter() - start


def fill(database: Database, sessions: int, users: int) -> None:
    rng = random.Random(7)
    with database.writing() as session:
        server, pools, people = store_team(session, users, POOLS)
        session.execute(
            insert(Assignment),
            [
                {
                    "license_server_id": server.id,
                    "cloud_user_id": person.id,
                    "product_pool_id": rng.choice(pools).id,
                    "assignment_type": "DIRECT",
                }
                for person in people
            ],
        )
        rows = [_session_row(rng, n, users) for n in range(sessions)]
        for start in range(0, len(rows), 5000):
            session.execute(insert(UsageSession), rows[start : start + 5000])


def _session_row(rng: random.Random, number: int, users: int) -> dict[str, Any]:
    started = T0 + timedelta(minutes=number)
    # One host user in ten matches nobody.
    user = rng.randrange(users + users // 10)
    return {
        "hostname": f"CAD-{user % 97}",
        "username": f"CORP\\user{user}",
        "application": rng.choice(APPLICATIONS),
        "version": "2025",
        "source": "import",
        "external_id": f"bench-{number}",
        "started_at": started,
        "ended_at": started + timedelta(minutes=45),
    }


if __name__ == "__main__":
    main()
