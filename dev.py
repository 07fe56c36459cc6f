"""Developer entry point for Seatmeter; standard library only.

    python3 dev.py demo [args]   set up, then run `seatmeter demo [args]`
    python3 dev.py test [args]   set up, then ruff, mypy and pytest [args]

Setting up creates `.venv` beside this file and installs the project into it
with its dev extra, skipped while pyproject.toml is unchanged. `test` gives
the suite a throwaway PostgreSQL cluster unless SEATMETER_TEST_POSTGRES_URL
is set; without PostgreSQL, the PostgreSQL half of the suite is skipped,
unless SEATMETER_REQUIRE_POSTGRES=1 (as in CI) makes that an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

MINIMUM_PYTHON = (3, 11)
ROOT = Path(__file__).resolve().parent
VENV_BIN = ROOT / ".venv" / "bin"
STAMP = ROOT / ".venv" / ".seatmeter-installed"
URL_VARIABLE = "SEATMETER_TEST_POSTGRES_URL"
NO_TESTS_COLLECTED = 5


def fail(message: str) -> NoReturn:
    # SystemExit prints to stderr, exits 1 and still runs every finally.
    raise SystemExit(f"dev.py: {message}")


def step(title: str) -> None:
    # Flushed, so that the line comes before the output of the step's tools.
    print(f"== {title}", flush=True)


def run(*command: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def run_quiet(*command: str | Path, cwd: Path = ROOT, user: str = "") -> str:
    # Tools that chat on success (pip, initdb, pg_ctl) speak only on failure.
    argv = as_user(user, *command)
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        fail(f"{Path(command[0]).name} failed with exit {done.returncode}")
    return done.stdout


def as_user(user: str, *command: str | Path) -> tuple[str | Path, ...]:
    return ("runuser", "-u", user, "--", *command) if user else command


def set_up() -> None:
    # Checking for pip also repairs a venv made before python3-venv was
    # installed on Debian, which has a python but no pip.
    python = VENV_BIN / "python"
    if not (VENV_BIN / "pip").exists():
        step("venv")
        if run(sys.executable, "-m", "venv", ROOT / ".venv") != 0:
            fail("could not create .venv; on Debian install python3-venv")
        run_quiet(python, "-m", "pip", "install", "-q", "--upgrade", "pip")

    # The stamp holds the hash of the pyproject.toml last installed.
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return

    step("pip install -e '.[dev]'")
    pip = (python, "-m", "pip", "install", "-q", "--disable-pip-version-check")
    if run(*pip, "-e", ".[dev]") != 0:
        fail("pip install -e '.[dev]' failed")
    STAMP.write_text(digest + "\n")


def demo(args: list[str]) -> None:
    script = VENV_BIN / "seatmeter"
    if not script.exists():
        fail(f"{script} is missing; is it in pyproject's [project.scripts]?")
    os.execv(script, [str(script), "demo", *args])


def test(args: list[str]) -> None:
    checks: dict[str, tuple[str | Path, ...]] = {
        "ruff": (VENV_BIN / "ruff", "check", "."),
        "ruff format": (VENV_BIN / "ruff", "format", "--check", "."),
        "mypy": (VENV_BIN / "mypy",),
    }
    for name, command in checks.items():
        step(name)
        code = run(*command)
        if code != 0:
            raise SystemExit(code)

    with postgres_url() as url:
        env = {**os.environ, URL_VARIABLE: url} if url else None
        step("pytest")
        pytest = (VENV_BIN / "python", "-m", "pytest", "-n", "auto")
        code = run(*pytest, "-p", "no:cacheprovider", *args, env=env)

    # Exit 5 is an empty collection: a broken suite, never a pass.
    if code == NO_TESTS_COLLECTED:
        fail("pytest collected no tests; check the paths and any -k or -m")
    raise SystemExit(code)


@contextlib.contextmanager
def postgres_url() -> Iterator[str | None]:
    if os.environ.get(URL_VARIABLE):
        step(f"postgres from {URL_VARIABLE}")
        yield os.environ[URL_VARIABLE]
        return

    bin_dir = find_postgres()
    if bin_dir is None and os.environ.get("SEATMETER_REQUIRE_POSTGRES") == "1":
        fail(
            "PostgreSQL is required, but initdb, pg_ctl and postgres are in"
            " neither PATH nor /usr/lib/postgresql/*/bin;"
            " install it with: apt-get install postgresql"
        )
    if bin_dir is None:
        step("postgres not found; skipping the PostgreSQL half of the suite")
        yield None
        return

    user = cluster_user()
    directory = Path(tempfile.mkdtemp(prefix="seatmeter-pg-"))
    try:
        port = start_cluster(bin_dir, directory, user)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        stop_cluster(bin_dir, directory, user)
        shutil.rmtree(directory, ignore_errors=True)


def find_postgres() -> Path | None:
    # PATH first, so a developer can choose; then Debian's newest version.
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).parent] if on_path else []
    debian = Path("/usr/lib/postgresql").glob("[0-9]*/bin")
    candidates += sorted(debian, key=lambda d: float(d.parent.name))[::-1]

    names = ("initdb", "pg_ctl", "postgres")
    for bin_dir in candidates:
        if all((bin_dir / name).exists() for name in names):
            return bin_dir
    return None


def start_cluster(bin_dir: Path, directory: Path, user: str) -> int:
    if user:
        shutil.chown(directory, user)
    data, log = directory / "data", directory / "log"
    initdb = (bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    flags = ("--no-sync", "-E", "UTF8", "--no-locale")
    run_quiet(*initdb, *flags, cwd=directory, user=user)

    port = free_port()
    version = run_quiet(bin_dir / "postgres", "--version").split()[2]
    step(f"postgres {version.split('.')[0]} on 127.0.0.1:{port}")

    # Durability is pointless for a cluster that lives for one test run.
    options = (
        f"-F -k {shlex.quote(str(directory))} -p {port}"
        " -c listen_addresses=127.0.0.1 -c fsync=off"
        " -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=200"
    )
    pg_ctl = (bin_dir / "pg_ctl", "-D", data, "-l", log, "-w", "-o", options)
    try:
        run_quiet(*pg_ctl, "start", cwd=directory, user=user)
    except SystemExit:
        # The log goes with the directory, so show it while it still exists.
        if log.exists():
            sys.stderr.write(log.read_text(errors="replace"))
        raise
    return port


def stop_cluster(bin_dir: Path, directory: Path, user: str) -> None:
    # Quietly, as there may be nothing to stop when the start failed.
    pg_ctl = (bin_dir / "pg_ctl", "-D", directory / "data", "-m", "immediate")
    stop = as_user(user, *pg_ctl, "stop")
    subprocess.run(stop, cwd=directory, capture_output=True)


def cluster_user() -> str:
    # initdb and postgres refuse to run as root, so root runs them as postgres.
    if os.geteuid() != 0:
        return ""
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        run_quiet("useradd", "--system", "--no-create-home", "postgres")
    return "postgres"


def free_port() -> int:
    # The kernel picks a free port; postgres takes it a moment later.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main(argv: list[str]) -> None:
    if sys.version_info < MINIMUM_PYTHON:
        fail(f"needs Python 3.11 or newer, not {sys.version.split()[0]}")
    commands = {"demo": demo, "test": test}
    if not argv or argv[0] not in commands:
        fail("usage: python3 dev.py demo|test [args]")

    # CI cancels a job with SIGTERM; exiting via SystemExit still cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    set_up()
    commands[argv[0]](argv[1:])


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        # The cleanup has already run; a traceback would only be noise.
        raise SystemExit(130) from None
