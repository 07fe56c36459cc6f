"""Fake Autodesk applications: real processes that the agent recognises.

    with running_app(tmp_path, CIVIL_3D_2024) as civil:
        civil.pid, civil.started_at
        gone_at = civil.stop()

Each is a copy of this Python interpreter, installed under the file name
and in the folder of the real application (`Autodesk/AutoCAD 2024/acad.exe`)
and started with the application's switches (`/product C3D`), so that the
process name, executable path and command line are what the catalog sees
on a workstation. A copy, not a symbolic link: the operating system
reports a link's target as the executable.

The copy runs with PYTHONHOME pointing at this interpreter's installation,
so that it finds its standard library from any folder. It exits by itself
when the test process that started it dies, so a killed test run leaves
no application behind for a later run's agent to report.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

STOP_TIMEOUT_S = 10.0
# Watches its parent twice a second; gives up after ten minutes anyway.
BODY = """\
import os, time
parent = os.getppid()
for _ in range(1200):
    if os.getppid() != parent:
        break
    time.sleep(0.5)
"""


@dataclass(frozen=True)
class Application:
    """An application as installed, and as the catalog should name it."""

    folder: str  # under the Autodesk folder
    executable: str
    switches: tuple[str, ...]
    name: str  # the catalog's name and release for it
    release: str


CIVIL_3D_2024 = Application(
    folder="AutoCAD 2024",
    executable="acad.exe",
    switches=("/product", "C3D"),
    name="Civil 3D",
    release="2024",
)
REVIT_2025 = Application(
    folder="Revit 2025",
    executable="Revit.exe",
    switches=(),
    name="Revit",
    release="2025",
)


Child = subprocess.Popen[bytes]


class FakeApp:
    """One running fake application; `stop` is safe to call at any time."""

    def __init__(self, application: Application, process: Child) -> None:
        self.application = application
        self.pid = process.pid
        # The creation time the agent reads: a session's start.
        self.started_at = float(psutil.Process(process.pid).create_time())
        self.gone_at: float | None = None
        self._process = process

    def stop(self) -> float:
        """Kill the process and wait for it; returns when it was gone."""
        if self.gone_at is None:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)
            self.gone_at = time.time()
        return self.gone_at

    @property
    def lifetime(self) -> float:
        assert self.gone_at is not None, "stop() first"
        return self.gone_at - self.started_at


@contextmanager
def running_app(root: Path, application: Application) -> Iterator[FakeApp]:
    """The application running from `root`/Autodesk; killed on leaving."""
    executable = install(root, application)
    process = subprocess.Popen(
        [str(executable), "-S", "-c", BODY, *application.switches],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_environment(),
    )
    try:
        yield FakeApp(application, process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(STOP_TIMEOUT_S)


def install(root: Path, application: Application) -> Path:
    """Copy the interpreter to the application's place, once per root."""
    executable = root / "Autodesk" / application.folder / application.executable
    if not executable.exists():
        # Tried under a name no catalog knows, lest an agent report it.
        trial = executable.with_name("interpreter-check")
        trial.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(sys.executable), trial)
        _check_it_starts(trial)
        trial.replace(executable)
    return executable


def _check_it_starts(executable: Path) -> None:
    # An interpreter that finds its shared library relative to its own
    # folder cannot run from a copy; say so rather than time out later.
    done = subprocess.run(
        [str(executable), "-S", "-c", "pass"],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=STOP_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, (
        f"a copy of {os.path.realpath(sys.executable)} cannot run as "
        f"{executable}: {done.stderr.strip()}"
    )


def _environment() -> dict[str, str]:
    # The copy is outside its installation: tell it where its library is,
    # and keep this virtual environment's packages out of it.
    inherited = os.environ.items()
    environment = {k: v for k, v in inherited if not k.startswith("PYTHON")}
    return {**environment, "PYTHONHOME": sys.base_prefix, "PYTHONPATH": ""}
