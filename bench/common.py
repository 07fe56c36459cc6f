"""What every benchmark in bench/ shares: the machine described, child
processes that die with the script, a real `seatmeter serve`, wrk, and a
throwaway PostgreSQL cluster (the one dev.py gives the test suite).

Benchmarks print their figures beside a baseline measured in the same
run; nothing here asserts anything about speed.
"""

import argparse
import contextlib
import ctypes
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psutil
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.license_servers.models import LicenseServer

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0
Children = list[subprocess.Popen[bytes]]


@dataclass
class Workspace:
    tmp: Path
    children: Children
    database_url: str


def describe_machine() -> list[str]:
    memory = psutil.virtual_memory().total / 1024**3
    physical = psutil.cpu_count(logical=False)
    return [
        f"cpu:     {cpu_model()}, {os.cpu_count()} logical cores ({physical or '?'} physical)",
        f"memory:  {memory:.1f} GiB",
        f"os:      {platform.platform()}",
        f"python:  {platform.python_version()} ({sys.executable})",
        f"psutil:  {psutil.__version__}",
        f"user:    uid {os.getuid()}"
        + (" (root: every process is readable)" if os.getuid() == 0 else ""),
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def spawn(
    command: list[str],
    environment: dict[str, str] | None = None,
    stderr: int | IO[bytes] = subprocess.DEVNULL,
    stdout: int | IO[bytes] = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=environment,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )


def _die_with_parent() -> None:
    # Linux: the child is killed when this script dies, however it dies.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def stop(children: Children) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 5
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def clean_environment() -> dict[str, str]:
    # Settings from this shell must not leak into the run.
    return {k: v for k, v in os.environ.items() if not k.startswith("SEATMETER_")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{url} exited ({process.returncode}):\n{log.read_text()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    sys.exit(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()}")


def serve(database_url: str, data_dir: Path, children: Children) -> str:
    """A real `seatmeter serve` process as an operator runs it."""
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "server.log"
    command = [sys.executable, "-m", "seatmeter", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-level", "warning"]
    command += ["--database-url", database_url]
    with log.open("wb") as output:
        process = spawn(command, clean_environment(), stderr=output, stdout=output)
    children.append(process)
    base_url = f"http://127.0.0.1:{port}"
    wait_ready(f"{base_url}/readyz", process, log)
    return base_url


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, as the test suite gets it."""
    sys.path.insert(0, str(ROOT))
    import dev

    with dev.postgres_url() as url:
        if url is None:
            sys.exit("PostgreSQL is not installed: apt-get install postgresql")
        yield url


def wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) from one wrk run."""
    if shutil.which("wrk") is None:
        sys.exit("this benchmark needs wrk: apt-get install wrk")
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    done = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"wrk failed:\n{done.stdout}{done.stderr}")
    return _wrk_figures(done.stdout)


def _wrk_figures(output: str) -> dict[str, float]:
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])}  # type: ignore[index]
    for name in ("50", "99"):
        match = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]] if match else 0.0
        figures[f"p{name}"] = float(match[1]) * scale if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    figures["errors"] = float(errors[1]) if errors else 0.0
    return figures


def database_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster")
    where.add_argument("--database-url", help="an empty database it may fill")


def workspace(stack: contextlib.ExitStack, arguments: argparse.Namespace) -> Workspace:
    """A temporary folder, children stopped at exit, and the database URL
    the arguments chose (SQLite in the folder unless told otherwise)."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seatmeter-bench-")))
    children: Children = []
    stack.callback(stop, children)
    url = arguments.database_url or f"sqlite:///{tmp / 'seatmeter.db'}"
    if arguments.postgres:
        url = stack.enter_context(postgres())
    return Workspace(tmp, children, url)


def run(main: Callable[[], None]) -> None:
    try:
        main()
    except KeyboardInterrupt:
        # Everything was stopped on the way out; no traceback for Ctrl-C.
        sys.exit(130)


def store_team(
    session: Session, users: int, pool_names: Sequence[str]
) -> tuple[LicenseServer, list[ProductPool], list[CloudUser]]:
    """A license server with these pools and `users` cloud users
    (user{n}@corp.com), stored as a sync stores them."""
    server = LicenseServer(name="Bench team", team_id="bench")
    session.add(server)
    session.flush()
    pools = [
        ProductPool(license_server_id=server.id, product_id=f"p{n}", name=name)
        for n, name in enumerate(pool_names)
    ]
    people = [
        CloudUser(license_server_id=server.id, autodesk_id=f"U{n}", email=f"user{n}@corp.com")
        for n in range(users)
    ]
    session.add_all([*pools, *people])
    session.flush()
    return server, pools, people
