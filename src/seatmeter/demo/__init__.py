"""`seatmeter demo`: the whole system on loopback, populated at once.

One process tree: the server on the embedded SQLite database, the
Autodesk emulator (a child process) with a realistic team of about 150
users, the server connected to it through OAuth and synced, and
simulated agents that replay 90 days of usage through the real agent API
and keep a few sessions live. The demo's folder (`<data_dir>/demo`) is
made afresh at every start. Ctrl-C stops everything.
"""

import json
import logging
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import uvicorn

from seatmeter.demo import agents, usage
from seatmeter.demo.connect import connect
from seatmeter.emulator.generator import generate_team
from seatmeter.server.accounts.service import create_account, create_token
from seatmeter.server.app import create_app
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.settings import Settings

log = logging.getLogger(__name__)

TEAM_USERS = 150
HISTORY_DAYS = 90
SEED = 7
MARKER = ".seatmeter-demo"
READY_TIMEOUT_S = 60.0


def run(settings: Settings, days: int = HISTORY_DAYS) -> None:
    _quiet(settings)
    settings = replace(settings, data_dir=_fresh_folder(settings.data_dir / "demo"))
    settings = replace(settings, database_url=None)
    database = Database(settings.effective_database_url)
    upgrade(database)
    admin_token, agent_token, password = _credentials(database)

    team = generate_team(users=TEAM_USERS, seed=SEED)
    emulator, emulator_url = _start_emulator(settings.data_dir, team)
    url = f"http://{settings.host}:{settings.port}"
    _say_hello(url, password, admin_token, settings.data_dir, days)

    stop = threading.Event()
    driver = threading.Thread(
        target=_populate,
        args=(url, admin_token, agent_token, emulator_url, team, days, stop, settings),
        name="demo",
        daemon=True,
    )
    driver.start()
    try:
        uvicorn.run(
            create_app(settings, database),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            server_header=False,
        )
    finally:
        stop.set()
        emulator.terminate()
        emulator.wait(10)
        database.dispose()
        print("\nSeatmeter demo stopped.")


def _populate(
    url: str,
    admin_token: str,
    agent_token: str,
    emulator_url: str,
    team: dict,
    days: int,
    stop: threading.Event,
    settings: Settings,
) -> None:
    """Connect, sync and replay history once the server answers."""
    try:
        _wait_for(f"{url}/readyz")
        started = time.monotonic()
        connect(url, admin_token, emulator_url, team)
        stations = usage.plan(team["teams"][0], days, usage.utc_now(), seed=SEED)
        estate = agents.start_estate(url, stations, agent_token)
        sessions = sum(len(s.sessions) for s in stations)
        took = time.monotonic() - started
        print(f"Demo data ready: {len(estate)} agents, {sessions} sessions in {took:.0f} s.")
        agents.keep_alive(estate, settings.agent_checkin_interval_s / 2, stop)
    except Exception as error:  # the server keeps running; say what failed
        if not stop.is_set():
            log.exception("demo: could not populate the server")
            print(f"Demo data could not be loaded: {error}", file=sys.stderr)


def _quiet(settings: Settings) -> None:
    """The demo speaks for itself: one line per step, problems as they come."""
    if settings.log_level == "debug":
        return
    for name in ("seatmeter", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _fresh_folder(folder: Path) -> Path:
    """The demo's own folder, emptied; refuses one the demo did not make."""
    if folder.exists():
        if not (folder / MARKER).exists():
            sys.exit(f"seatmeter demo: {folder} exists and is not a demo folder; move it away")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("made by `seatmeter demo`; emptied at every start\n")
    return folder


def _credentials(database: Database) -> tuple[str, str, str]:
    password = secrets.token_urlsafe(9)
    with database.writing() as session:
        _, admin_token = create_token(session, "demo admin", "admin")
        _, agent_token = create_token(session, "demo agents", "agent")
        create_account(session, "admin", password, "admin")
    return admin_token, agent_token, password


def _start_emulator(folder: Path, team: dict) -> tuple[subprocess.Popen[bytes], str]:
    data = folder / "autodesk-team.json"
    data.write_text(json.dumps(team, indent=1))
    port = _free_port()
    command = [sys.executable, "-m", "seatmeter", "emulator", "autodesk"]
    command += ["--port", str(port), "--data", str(data)]
    with (folder / "emulator.log").open("wb") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
    url = f"http://127.0.0.1:{port}"
    _wait_for(f"{url}/_emulator/health", process)
    return process, url


def _wait_for(url: str, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _say_hello(url: str, password: str, admin_token: str, folder: Path, days: int) -> None:
    print(f"\nSeatmeter demo at {url}/")
    print(f"  sign in as admin, password {password}")
    print(f"  admin API token: {admin_token}  (API explorer at {url}/docs)")
    print(f"  data in {folder}; loading {days} days of usage now. Ctrl-C stops.\n", flush=True)
