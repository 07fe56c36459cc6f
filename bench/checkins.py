"""Agent check-ins per second that one server process sustains.

    .venv/bin/python bench/checkins.py [--agents 1000,10000,50000]
        [--postgres | --database-url URL] [--seconds 10] [--connections 32]

A benchmark, not a test: it prints figures beside a baseline and asserts
nothing. wrk (apt-get install wrk) checks in as randomly chosen enrolled
agents against a real `seatmeter serve`; the baseline is a bare FastAPI
endpoint on the same uvicorn stack that answers a fixed check-in reply.
The agents are enrolled up front, in-process, through the same function
the enrolment endpoint calls, and each checks in twice before it is
measured, as a running estate has within two check-in intervals (a
server's first check-in from an agent is decided and written at once;
the second reads the agent's standing and keeps it; later ones that
change nothing but the time are heartbeats answered from it). Both
warm-up passes are timed and printed too. The estate
grows between rounds, so each figure is for a server that knows that
many agents. The goal is a check-in rate at least half the bare
endpoint's.
"""

import argparse
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import (
    Children,
    clean_environment,
    database_options,
    describe_machine,
    free_port,
    run,
    serve,
    spawn,
    wait_ready,
    workspace,
    wrk,
)

from seatmeter.server.agents import checkin
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade

HERE = Path(__file__).resolve().parent
ENROL_BATCH = 1000


def main() -> None:
    arguments = _parser().parse_args()
    counts = sorted(int(n) for n in arguments.agents.split(","))
    with ExitStack() as stack:
        space = workspace(stack, arguments)
        tmp, children, url = space.tmp, space.children, space.database_url
        print("\n".join(describe_machine()))
        print(f"database: {url.split('://')[0]}; wrk -t1 -c{arguments.connections}")
        print(f"          -d{arguments.seconds}s per round\n")

        database = Database(url)
        upgrade(database)
        bare = bare_endpoint(tmp, children)
        server = serve(url, tmp / "server", children)
        print(table_header())
        credentials: list[str] = []
        firsts: list[str] = []
        for count in counts:
            joining = enrol(database, count - len(credentials))
            first_rate = check_in_once(server, joining)
            second_rate = check_in_once(server, joining)
            credentials += joining
            print(one_round(count, credentials, server, bare, arguments, tmp), flush=True)
            firsts.append(f"{count:>7}  {first_rate:12.0f}  {second_rate:12.0f}")
        print("\neach new agent's first check-in (decided and written at once) and")
        print("second (its standing read and kept), 4 at a time, check-ins/s:")
        print(" agents         first        second")
        print("\n".join(firsts))
        database.dispose()


def bare_endpoint(tmp: Path, children: Children) -> str:
    port = free_port()
    log = tmp / "bare.log"
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(HERE)]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    with log.open("wb") as output:
        process = spawn(command, clean_environment(), stderr=output, stdout=output)
    children.append(process)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/docs", process, log)
    return url


def enrol(database: Database, count: int) -> list[str]:
    """Enrol `count` new agents, as the enrolment endpoint does."""
    credentials = []
    for start in range(0, count, ENROL_BATCH):
        with database.writing() as session:
            for number in range(start, min(count, start + ENROL_BATCH)):
                host = {"hostname": f"WS-{uuid.uuid4().hex[:8]}", "os": "windows"}
                host["agent_version"] = "0.1.0"
                address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
                credentials.append(checkin.enrol(session, str(uuid.uuid4()), host, address))
    return credentials


def check_in_once(server: str, credentials: list[str]) -> float:
    """One check-in from each agent, four at a time; check-ins a second."""

    def check_in(credential: str) -> None:
        answer = client.post(
            "/api/agent/v1/check-in",
            json={"clock": datetime.now(UTC).isoformat()},
            headers={"Authorization": f"Bearer {credential}"},
        )
        answer.raise_for_status()

    started = time.perf_counter()
    with httpx.Client(base_url=server) as client, ThreadPoolExecutor(4) as pool:
        list(pool.map(check_in, credentials))
    return len(credentials) / (time.perf_counter() - started)


def one_round(
    count: int,
    credentials: list[str],
    server: str,
    bare: str,
    arguments: argparse.Namespace,
    tmp: Path,
) -> str:
    file = tmp / "credentials.txt"
    file.write_text("\n".join(credentials) + "\n")
    os.environ["CREDENTIALS"] = str(file)
    script = HERE / "checkin.lua"
    seatmeter = wrk(server, script, arguments.seconds, arguments.connections)
    baseline = wrk(bare, script, arguments.seconds, arguments.connections)
    ratio = seatmeter["rps"] / baseline["rps"]
    return f"{count:>7}  {_figures(seatmeter)}  {_figures(baseline)}  {ratio:5.2f}x" + (
        f"  ({seatmeter['errors']:.0f} non-2xx)" if seatmeter["errors"] else ""
    )


def table_header() -> str:
    columns = "  check-ins/s   p50 ms   p99 ms"
    return (
        f"{'':>7}  {'seatmeter serve':^30}  {'bare endpoint':^30}\n"
        f"{'agents':>7}{columns}{columns}  ratio"
    )


def _figures(figures: dict[str, float]) -> str:
    return f"{figures['rps']:12.0f} {figures['p50']:8.2f} {figures['p99']:8.2f}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="1000,10000,50000", help="estate sizes, ascending")
    database_options(parser)
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    return parser


if __name__ == "__main__":
    run(main)
