"""How fast the reports are, beside DuckDB computing the same answers.

    .venv/bin/python bench/reports.py [--sessions N] [--users N]
        [--backend sqlite|postgresql|both] [--repeat R] [--reports a,b]

A benchmark, not a test: it prints numbers and asserts nothing but that
both sides agree. It generates one year of sessions (by default about a
million, for 2,000 users and 12 applications in 6 product pools, with
some use outside any pool and some sessions still open), stores them in
a fresh SQLite file and a throwaway PostgreSQL (dev.py's), then times
each report as the server computes it (the SQL fetch and the numpy pass,
not the JSON) against DuckDB answering the same question from the same
rows held in memory, with window functions. The ratio is ours /
DuckDB's; the goal is 2 or less. current-usage is timed twice: as a
dashboard polls it, and right after each run moved the entitlement
generation, as a sync that changed seats or assignments does. Each
figure is the best of --repeat runs (DuckDB's of one more), and of up
to 20 for work that takes milliseconds.
"""

import argparse
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seatmeter.server.db import Database  # noqa: E402
from seatmeter.server.db.migrate import upgrade  # noqa: E402
from seatmeter.server.reports.api import REPORTS  # noqa: E402
from seatmeter.server.reports.parameters import RawQuery, ReportQuery  # noqa: E402
from seatmeter.server.reports.periods import periods  # noqa: E402
from seatmeter.server.reports.sessions_grid import sessions_grid  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
TZ = "Europe/Paris"
APPLICATIONS = (
    "AutoCAD",
    "Civil 3D",
    "Revit",
    "Navisworks Manage",
    "3ds Max",
    "Inventor",
    "Maya",
    "Fusion",
    "Vault",
    "AutoCAD Map 3D",
    "Recap Pro",
    "InfraWorks",
)
# Pool of each application: a collection covers most of them.
POOL_OF = (0, 0, 0, 0, 1, 2, 3, 4, 2, 0, 5, 0)
POOLS = ("AEC Collection", "3ds Max", "PDM Collection", "Maya", "Fusion", "ReCap")
SESSION_COLUMNS = (
    "hostname",
    "username",
    "application",
    "version",
    "source",
    "started_at",
    "ended_at",
    "product_pool_id",
    "cloud_user_id",
)


class Case(NamedTuple):
    """What is timed: a report, and whether the entitlements changed just
    before each run (current-usage keeps them while they do not)."""

    label: str
    report: str
    granularity: str | None = None
    group_by: str | None = None
    changed: bool = False


CASES = (
    Case("utilization", "utilization"),
    Case("usage-history pool/day", "usage-history", "day", "pool"),
    Case("usage-per-user user/month", "usage-per-user", "month", "user"),
    Case("heatmap user/day", "heatmap", "day", "user"),
    Case("seat-efficiency", "seat-efficiency"),
    Case("current-usage", "current-usage"),
    Case("current-usage, after a change", "current-usage", changed=True),
    Case("sessions grid page", "sessions"),
)


def generate(count: int, users: int, seed: int = 5) -> dict[str, np.ndarray]:
    """A year of sessions: working hours, log-normal lengths, a few open."""
    rng = np.random.default_rng(seed)
    user = rng.integers(0, users, count)
    favourites = rng.integers(0, len(APPLICATIONS), (users, 3))
    application = favourites[user, rng.integers(0, 3, count)]
    day = rng.integers(0, 365, count)
    hour = np.clip(rng.normal(13, 3, count), 6, 21)
    start = YEAR_START.timestamp() + day * 86_400.0 + np.round(hour * 3600)
    length = np.clip(np.round(rng.lognormal(np.log(5400), 0.8, count)), 60, 12 * 3600)
    end = start + length
    # One session in a thousand still running at the end of the year.
    running = rng.random(count) < 0.001
    start[running] = NOW.timestamp() - rng.integers(60, 8 * 3600, running.sum())
    pool = np.array(POOL_OF)[application]
    # Three percent used without a seat: a cloud user, but no pool.
    pool[rng.random(count) < 0.03] = -1
    return {
        "start": start,
        "stop": np.where(running, NOW.timestamp(), end),
        "running": running,
        "user": user,
        "host": np.where(rng.random(count) < 0.05, user + users, user),
        "application": application,
        "pool": pool,
    }


def as_text(epochs: np.ndarray, suffix: str = "") -> np.ndarray:
    """Epochs as SQLite stores UTCDateTime: 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    moments = np.round(epochs * 1e6).astype("datetime64[us]")
    text = np.char.replace(np.datetime_as_string(moments, unit="us"), "T", " ")
    return np.char.add(text, suffix) if suffix else text


def session_rows(
    data: dict[str, np.ndarray], ids: dict[str, list[int]], suffix: str
) -> list[tuple[Any, ...]]:
    pool_ids = np.array(ids["pools"])
    user_ids = np.array(ids["users"])
    ended = as_text(data["stop"], suffix).astype(object)
    ended[data["running"]] = None
    pool = np.where(data["pool"] >= 0, pool_ids[np.maximum(data["pool"], 0)], -1)
    return list(
        zip(
            [f"H{h:05d}" for h in data["host"]],
            [f"CORP\\u{u:05d}" for u in data["user"]],
            np.array(APPLICATIONS)[data["application"]].tolist(),
            ["2025"] * len(pool),
            ["import"] * len(pool),
            as_text(data["start"], suffix).tolist(),
            ended.tolist(),
            [int(p) if p >= 0 else None for p in pool],
            user_ids[data["user"]].tolist(),
            strict=True,
        )
    )


def store(url: str, data: dict[str, np.ndarray], users: int) -> Database:
    database = Database(url)
    upgrade(database)
    ids = entitlements(database, data, users)
    # PostgreSQL is told the zone; SQLite stores UTC without one.
    rows = session_rows(data, ids, "+00:00" if database.dialect == "postgresql" else "")
    with database.engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        columns = ", ".join(SESSION_COLUMNS)
        if database.dialect == "postgresql":
            with raw.cursor().copy(f"COPY sessions ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(SESSION_COLUMNS))
            raw.executemany(f"INSERT INTO sessions ({columns}) VALUES ({marks})", rows)
    # As autovacuum leaves a table a minute after a bulk load: analysed,
    # and on PostgreSQL vacuumed, so that an index-only scan (the running
    # sessions') need not visit the table to learn which rows it may see.
    if database.dialect == "postgresql":
        with database.engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return database


def entitlements(database: Database, data: dict[str, np.ndarray], users: int) -> dict[str, Any]:
    """A team, its pools and users, and an assignment per pool each user uses."""
    from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
    from seatmeter.server.license_servers.models import LicenseServer

    pairs = np.unique(np.stack([data["user"], np.array(POOL_OF)[data["application"]]], 1), axis=0)
    with database.writing() as session:
        server = LicenseServer(name="Bench team", team_id="t-1")
        session.add(server)
        session.flush()
        pools = [
            ProductPool(license_server_id=server.id, product_id=f"P{i}", name=name, total_seats=400)
            for i, name in enumerate(POOLS)
        ]
        people = [
            CloudUser(license_server_id=server.id, autodesk_id=f"u{u}", email=f"u{u:05d}@corp.com")
            for u in range(users + 50)
        ]
        session.add_all(pools + people)
        session.flush()
        # Everyone who uses a pool holds a seat, and 50 more hold one idle.
        held = [(int(u), int(p)) for u, p in pairs] + [(users + i, 0) for i in range(50)]
        session.add_all(
            Assignment(
                license_server_id=server.id,
                cloud_user_id=people[u].id,
                product_pool_id=pools[p].id,
                assignment_type="DIRECT",
            )
            for u, p in held
        )
        return {
            "pools": [pool.id for pool in pools],
            "users": [person.id for person in people],
            "held": held,
        }


def report_query(granularity: str | None, group_by: str | None) -> ReportQuery:
    raw = RawQuery(
        since=YEAR_START.isoformat(),
        until=NOW.isoformat(),
        tz=TZ,
        license_server_id=None,
        product_pool_id=None,
        application=None,
        username=None,
        hostname=None,
        user_group_id=None,
        host_group_id=None,
        granularity=granularity,
        group_by=group_by,
        format="json",
    )
    return raw.parse("UTC", NOW)


def ours(database: Database, name: str, granularity: str | None, group_by: str | None) -> Any:
    query = report_query(granularity, group_by)
    with database.reading() as session:
        if name == "sessions":
            return sessions_grid(session, query, "-started_at", 100, 0)
        return REPORTS[name](session, query)


def islands(source: str, keys: str) -> str:
    """Merged intervals per key in SQL: gaps and islands by window."""
    return f"""
        SELECT {keys}, min(s) AS s, max(e) AS e FROM (
            SELECT *, sum(CASE WHEN s <= prev THEN 0 ELSE 1 END) OVER (
                PARTITION BY {keys} ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS island
            FROM (SELECT {keys}, s, e, max(e) OVER (
                PARTITION BY {keys} ORDER BY s, e
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev FROM {source}))
        GROUP BY {keys}, island"""


CLIPPED = f"""clipped AS (
    SELECT greatest(start, {YEAR_START.timestamp()}) AS s, least(stop, {NOW.timestamp()}) AS e,
           username, hostname, application, pool, cloud_user
    FROM sessions WHERE start < {NOW.timestamp()} AND stop > {YEAR_START.timestamp()})"""
LEVELS = """ev AS (SELECT pool, s AS t, 1 AS d FROM {src} UNION ALL SELECT pool, e, -1 FROM {src}),
    lv AS (SELECT pool, t, sum(d) OVER w AS level, lead(t) OVER w AS nxt FROM ev
           WINDOW w AS (PARTITION BY pool ORDER BY t, d ROWS UNBOUNDED PRECEDING))"""

DUCK = {
    "utilization": f"""WITH {CLIPPED},
        seats AS ({islands("clipped WHERE pool >= 0", "pool, cloud_user")}),
        {LEVELS.format(src="seats")},
        exactly AS (SELECT pool, level, sum(nxt - t) AS seconds FROM lv
                    WHERE nxt > t GROUP BY pool, level)
        SELECT pool, level, sum(seconds) OVER (PARTITION BY pool ORDER BY level DESC) AS at_least
        FROM exactly""",
    "usage-history": f"""WITH {CLIPPED},
        seats AS ({islands("clipped WHERE pool >= 0", "pool, cloud_user")}),
        pieces AS (SELECT pool, cloud_user, p, greatest(s, lo) AS s, least(e, hi) AS e
                   FROM seats JOIN periods ON s < hi AND e > lo),
        {LEVELS.format(src="pieces")},
        users AS (SELECT pool, p, count(DISTINCT cloud_user) AS users, sum(e - s) AS secs
                  FROM pieces GROUP BY pool, p),
        most AS (SELECT pool, p, max(level) AS most FROM lv JOIN periods ON t >= lo AND t < hi
                 WHERE nxt > t GROUP BY pool, p)
        SELECT pool, p, most, secs / (hi - lo) AS avg, users, secs / 3600 AS hours
        FROM users JOIN most USING (pool, p) JOIN periods USING (p)""",
    "usage-per-user": f"""WITH {CLIPPED},
        merged AS ({islands("clipped", "username, application")}),
        pieces AS (SELECT username, d, m, greatest(s, lo) AS s, least(e, hi) AS e
                   FROM merged JOIN days ON s < hi AND e > lo),
        used AS (SELECT username, m, sum(e - s) / 3600 AS hours, count(DISTINCT d) AS days_used,
                 min(s) AS first_use, max(e) AS last_use FROM pieces GROUP BY username, m),
        counted AS (SELECT username, p AS m, count(*) AS sessions
                    FROM clipped JOIN periods ON s < hi AND e > lo GROUP BY username, p)
        SELECT * FROM used JOIN counted USING (username, m)""",
    "heatmap": f"""WITH {CLIPPED},
        merged AS ({islands("clipped", "username, application")}),
        pieces AS (SELECT username, d, least(e, hi) - greatest(s, lo) AS secs
                   FROM merged JOIN days ON s < hi AND e > lo)
        SELECT username, d, sum(secs) / 3600 AS hours FROM pieces GROUP BY username, d""",
    "seat-efficiency": f"""WITH {CLIPPED},
        seats AS ({islands("clipped WHERE pool >= 0", "pool, cloud_user")}),
        {LEVELS.format(src="seats")},
        peak AS (SELECT pool, max(level) AS peak FROM lv GROUP BY pool),
        active AS (SELECT pool, count(DISTINCT cloud_user) AS users FROM seats GROUP BY pool),
        idle AS (SELECT a.pool, a.cloud_user FROM assignments a ANTI JOIN seats s
                 ON s.pool = a.pool AND s.cloud_user = a.cloud_user),
        last_use AS (SELECT i.pool, i.cloud_user, max(x.stop) AS last_use FROM idle i
                     LEFT JOIN sessions x ON x.pool = i.pool AND x.cloud_user = i.cloud_user
                     AND x.start < {NOW.timestamp()} GROUP BY i.pool, i.cloud_user),
        unassigned AS ({islands("clipped WHERE pool < 0", "username, application")})
        SELECT (SELECT list(peak) FROM peak), (SELECT list(users) FROM active),
               (SELECT count(*) FROM last_use),
               (SELECT sum(e - s) FROM unassigned)""",
    "current-usage": """SELECT pool, count(DISTINCT cloud_user), list(username)
        FROM sessions WHERE running AND pool >= 0 GROUP BY pool""",
    "sessions": f"""WITH {CLIPPED} SELECT (SELECT count(*) FROM clipped) AS total,
        (SELECT list(s) FROM (SELECT s FROM clipped ORDER BY s DESC LIMIT 100)) AS page""",
}


def duck_tables(data: dict[str, np.ndarray], ids: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    sessions = {  # noqa: F841 (read by DuckDB's replacement scan below)
        "start": data["start"],
        "stop": data["stop"],
        "running": data["running"],
        "username": np.char.add("CORP\\u", np.char.zfill(data["user"].astype(str), 5)),
        "hostname": np.char.add("H", np.char.zfill(data["host"].astype(str), 5)),
        "application": np.array(APPLICATIONS)[data["application"]],
        "pool": data["pool"],
        "cloud_user": data["user"],
    }
    held = np.array(ids["held"])
    assignments = {"cloud_user": held[:, 0], "pool": held[:, 1]}  # noqa: F841
    since, tz = YEAR_START, report_query(None, None).tz
    day_cut = periods(since, NOW, tz, "day")
    month_cut = periods(since, NOW, tz, "month")
    day_lo = day_cut.edges[:-1]
    days = {  # noqa: F841
        "d": np.arange(len(day_cut)),
        "m": np.searchsorted(month_cut.edges, day_lo, side="right") - 1,
        "lo": day_lo,
        "hi": day_cut.edges[1:],
    }
    connection.execute("CREATE TABLE sessions AS SELECT * FROM sessions")
    connection.execute("CREATE TABLE assignments AS SELECT * FROM assignments")
    connection.execute("CREATE TABLE days AS SELECT * FROM days")
    return connection


def with_periods(connection: duckdb.DuckDBPyConnection, granularity: str) -> None:
    cut = periods(YEAR_START, NOW, report_query(None, None).tz, granularity)
    cut_table = {"p": np.arange(len(cut)), "lo": cut.edges[:-1], "hi": cut.edges[1:]}  # noqa: F841
    connection.execute("CREATE OR REPLACE TABLE periods AS SELECT * FROM cut_table")


# Work that takes milliseconds is run again, up to this many times or
# this many seconds in all, whichever comes first, on both sides alike:
# the best of two or three runs of 20 ms says more about the load from
# other work than about the report.
QUICK_RUNS, QUICK_SECONDS = 20, 1.0


def best(
    repeat: int, work: Callable[[], Any], before: Callable[[], Any] | None = None
) -> tuple[float, Any]:
    """The shortest of the runs of `work`, each after `before`, untimed."""
    times: list[float] = []
    result = None
    while len(times) < repeat or (len(times) < QUICK_RUNS and sum(times) < QUICK_SECONDS):
        if before is not None:
            before()
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return min(times), result


def entitlements_changed(database: Database) -> None:
    """Move the entitlement generation, as a sync that changed a seat
    count or an assignment would."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE entitlement_generation SET value = value + 1")


def checks(name: str, table: Any, duck: list[tuple[Any, ...]]) -> str:
    """Whether DuckDB's answer agrees with ours, on one total."""
    items = table.items
    if name in ("usage-per-user", "heatmap"):
        mine, theirs = sum(i["hours"] for i in items), sum(row[2] for row in duck)
    elif name == "usage-history":
        mine, theirs = sum(i["hours"] for i in items), sum(row[5] for row in duck)
    elif name == "utilization":
        mine = sum(level["seconds"] for i in items for level in i["levels"][1:])
        theirs = sum(row[2] for row in duck if row[1] >= 1)
    elif name == "sessions":
        # Ours counts only so far past the page; DuckDB's exact count
        # agrees when it is no more than ours or ours says it stopped.
        mine = table.about["total"]
        theirs = duck[0][0] if table.about["total_exact"] else min(duck[0][0], mine)
    elif name == "current-usage":
        mine, theirs = sum(i["in_use"] for i in items), sum(row[1] for row in duck)
    else:
        mine = sum(i["active_users"] for i in items if i["product_pool_id"] is not None)
        theirs = sum(duck[0][1])
    return (
        "agree" if abs(mine - theirs) <= 1e-3 * max(1.0, abs(theirs)) else f"DIFFER {mine} {theirs}"
    )


@contextlib.contextmanager
def backends(which: str, folder: Path) -> Iterator[list[tuple[str, str]]]:
    found = []
    if which in ("sqlite", "both"):
        found.append(("sqlite", f"sqlite:///{folder / 'bench.db'}"))
    if which in ("postgresql", "both"):
        import dev

        with dev.postgres_url() as url:
            if url is None:
                print("no PostgreSQL found; timing SQLite only")
            else:
                found.append(("postgresql", url))
            yield found
            return
    yield found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--reports", default="", help="only these reports, by name, comma separated (default all)"
    )
    options = parser.parse_args()
    chosen = options.reports.split(",") if options.reports else [case.report for case in CASES]

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}, duckdb {duckdb.__version__}"
    )
    data = generate(options.sessions, options.users)
    print(
        f"{options.sessions} sessions, {options.users} users, {len(APPLICATIONS)} applications, "
        f"{len(POOLS)} pools, one year ({YEAR_START.date()} to {NOW.date()}), zone {TZ}"
    )
    with tempfile.TemporaryDirectory() as folder, backends(options.backend, Path(folder)) as found:
        for backend, url in found:
            began = time.perf_counter()
            database = store(url, data, options.users)
            print(f"\n{backend}: stored in {time.perf_counter() - began:.1f} s")
            ids = entitlements_ids(database)
            duck = duck_tables(data, ids)
            print(f"{'report':30} {'seatmeter s':>12} {'duckdb s':>9} {'ratio':>6}  check")
            for case in CASES:
                if case.report in chosen:
                    print(timed(database, duck, case, options.repeat), flush=True)
            database.dispose()


def timed(database: Database, duck: duckdb.DuckDBPyConnection, case: Case, repeat: int) -> str:
    name = case.report
    with_periods(duck, case.granularity or ("month" if name == "usage-per-user" else "day"))
    before = (lambda: entitlements_changed(database)) if case.changed else None
    mine, table = best(
        repeat, lambda: ours(database, name, case.granularity, case.group_by), before
    )
    theirs, answer = best(repeat + 1, lambda: duck.execute(DUCK[name]).fetchall())
    verdict = checks(name, table, answer)
    return f"{case.label:30} {mine:12.3f} {theirs:9.3f} {mine / theirs:6.1f}  {verdict}"


def entitlements_ids(database: Database) -> dict[str, Any]:
    """The assignments as (user index, pool index), as DuckDB is given them."""
    from sqlalchemy import text

    with database.reading() as session:
        pools = [
            row[0] for row in session.execute(text("SELECT id FROM product_pools ORDER BY id"))
        ]
        users = [row[0] for row in session.execute(text("SELECT id FROM cloud_users ORDER BY id"))]
        held = session.execute(text("SELECT cloud_user_id, product_pool_id FROM assignments")).all()
    user_index = {u: i for i, u in enumerate(users)}
    pool_index = {p: i for i, p in enumerate(pools)}
    return {"held": [(user_index[u], pool_index[p]) for u, p in held]}


if __name__ == "__main__":
    main()
