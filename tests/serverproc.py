"""Real `seatmeter` processes for end-to-end tests: servers and commands.

    with running_server(database_url, tmp_path) as base_url:
        httpx.get(f"{base_url}/readyz")

A server is `python -m seatmeter serve` on a free loopback port, with its
output in a log file in its data folder; it is ready once GET /readyz
answers 200, and it is always stopped on leaving the block, whether the
test passed or not. Every setting can be given as a keyword, as for the
command's flags: `running_server(url, path, log_level="debug")`.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from conftest import TEST_SECRET_KEY

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
LOG_TAIL_LINES = 40
# Another program may take the free port between our probe and the bind.
START_ATTEMPTS = 3


@contextmanager
def running_server(
    database_url: str,
    data_dir: Path,
    **settings: Any,
) -> Iterator[str]:
    """One `seatmeter serve` process; yields its base URL, without a slash."""
    with running_servers(database_url, [data_dir], **settings) as (base_url,):
        yield base_url


@contextmanager
def running_servers(
    database_url: str, data_dirs: Sequence[Path], **settings: Any
) -> Iterator[list[str]]:
    """Several processes over one database, all started at the same moment.

    They start before any is waited for, so that they really do race each
    other through start-up (migrations included).
    """
    with ExitStack() as stack:
        servers = [ServerProcess(database_url, path, **settings) for path in data_dirs]
        for server in servers:
            stack.callback(server.stop)
            server.start()
        for server in servers:
            server.wait_until_ready()
        yield [server.base_url for server in servers]


class ServerProcess:
    """A `seatmeter serve` child process; `stop` is safe to call at any time."""

    def __init__(self, database_url: str, data_dir: Path, **settings: Any) -> None:
        self.data_dir = data_dir
        self.settings = {
            "host": "127.0.0.1",
            "data_dir": data_dir,
            "database_url": database_url,
            "secret_key": TEST_SECRET_KEY,
            **settings,
        }
        self.port = 0
        self.log_path = data_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.settings.get("port") or free_port()
        # Each start gets its own log file, so a retry keeps what failed.
        self.log_path = self.data_dir / f"server-{self.port}.log"
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "seatmeter", "serve", *self._flags()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_environment(),
            )

    def wait_until_ready(self) -> None:
        """Poll /readyz; start again on a new port if the port was taken."""
        for attempt in range(START_ATTEMPTS):
            if self._poll_ready():
                return
            taken = "address already in use" in self.log_tail().lower()
            chosen = "port" in self.settings
            if not taken or chosen or attempt == START_ATTEMPTS - 1:
                break
            self.stop()
            self.start()
        self.stop()
        raise AssertionError(
            f"seatmeter serve on port {self.port} did not become ready; "
            f"last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, so that uvicorn shuts down cleanly; SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to finish anything."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _poll_ready(self) -> bool:
        """True once /readyz says 200; False as soon as the process ends."""
        assert self._process is not None, "start() first"
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(POLL_INTERVAL_S)
        return False

    def _flags(self) -> list[str]:
        values = {**self.settings, "port": self.port}
        return [
            part
            for name, value in values.items()
            for part in ("--" + name.replace("_", "-"), str(value))
        ]


def run_seatmeter(
    *args: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m seatmeter ARGS` to the end; text output is captured.

    `env` adds to a copy of this environment from which every SEATMETER_
    variable is removed, so the developer's own settings cannot leak in.
    """
    return subprocess.run(
        [sys.executable, "-m", "seatmeter", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean_environment(), **(env or {})},
        timeout=timeout,
        check=False,
    )


def create_token(database_url: str, data_dir: Path, scope: str, name: str) -> str:
    """A token made by `seatmeter token create`, which prints it last."""
    done = run_seatmeter(
        "token",
        "create",
        "--scope",
        scope,
        "--name",
        name,
        *("--database-url", database_url),
        *("--data-dir", str(data_dir)),
        *("--secret-key", TEST_SECRET_KEY),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def clean_environment() -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("SEATMETER_")
    }
    # Unbuffered, so that the log is complete when a test reads it.
    return {**environment, "PYTHONUNBUFFERED": "1"}
