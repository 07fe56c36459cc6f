"""What a page of the sessions grid costs as the table grows.

    .venv/bin/python bench/web_grid.py [--rows N] [--rounds R]

A benchmark, not a test: it prints timings beside a baseline measured in
the same run and asserts nothing. The baseline is the same page over a
table of 1,000 sessions; the subject is a table of N (100,000 by
default), on SQLite in a temporary folder, through the app in-process
(TestClient), signed in as a viewer. Paging reads with LIMIT/OFFSET and
counts the matches, so the first page should cost little more at N rows
than at 1,000; the last page and a free-text filter read further and
show what that costs.
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import insert

from seatmeter.server.accounts.credentials import hash_password
from seatmeter.server.accounts.models import Account
from seatmeter.server.app import create_app
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.settings import load

PASSWORD = "correct horse battery"
START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        small = measure(Path(folder) / "small", 1_000, options.rounds)
        large = measure(Path(folder) / "large", options.rows, options.rounds)
    print(f"{'page':<32}{'1,000 rows':>12}{f'{options.rows:,} rows':>14}{'ratio':>8}")
    for name in small:
        ratio = large[name] / small[name]
        print(f"{name:<32}{small[name]:>10.1f}ms{large[name]:>12.1f}ms{ratio:>8.2f}")


def measure(folder: Path, rows: int, rounds: int) -> dict[str, float]:
    folder.mkdir()
    url = f"sqlite:///{folder / 'seatmeter.db'}"
    database = Database(url)
    upgrade(database)
    fill(database, rows)
    settings = load(flags={"data_dir": str(folder), "database_url": url}, environ={})
    last = max(1, -(-rows // 50))
    pages = {
        "first page, newest first": "/sessions/history",
        "first page, by host": "/sessions/history?sort=hostname&dir=asc",
        "last page": f"/sessions/history?page={last}",
        "host contains '-00'": "/sessions/history?hostname=-00",
        "CSV export, host contains '-000'": "/sessions/history/export?hostname=-000",
    }
    with TestClient(create_app(settings, database)) as client:
        sign_in(client)
        timings = {name: median_ms(client, path, rounds) for name, path in pages.items()}
    database.dispose()
    return timings


def fill(database: Database, rows: int) -> None:
    with database.writing() as session:
        session.add(Account(name="vera", password_hash=hash_password(PASSWORD), role="viewer"))
        for start in range(0, rows, CHUNK):
            session.execute(
                insert(UsageSession),
                [
                    {
                        "hostname": f"CAD-{n % 5000:04d}",
                        "username": f"CORP\\user{n % 700}",
                        "application": "Civil 3D",
                        "version": "2024",
                        "source": "process",
                        "started_at": START + timedelta(minutes=n),
                        "ended_at": START + timedelta(minutes=n + 45),
                    }
                    for n in range(start, min(rows, start + CHUNK))
                ],
            )


def sign_in(client: TestClient) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"csrf_token": token, "name": "vera", "password": PASSWORD})


def median_ms(client: TestClient, path: str, rounds: int) -> float:
    client.get(path)  # warm the caches
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            sys.exit(f"{path}: {response.status_code} {response.text[:200]}")
    return statistics.median(times)


if __name__ == "__main__":
    main()
