"""One process scan: the Autodesk applications running on this host.

The scan is the agent's hot path, run every few seconds for as long as
the host is up, so it asks the operating system for process names only,
and for the expensive details (path, command line, owner) only of the
few processes whose name is in the catalog.
"""

import logging
from dataclasses import dataclass, field

import psutil

from seatmeter.agent.catalog import Catalog
from seatmeter.agent.tracker import Seen

log = logging.getLogger(__name__)

# Seen in the path of a process the catalog does not know: worth telling
# the administrator, who may need a newer catalog.
AUTODESK_MARK = "autodesk"
MAX_UNKNOWN = 20


@dataclass
class Scan:
    seen: list[Seen] = field(default_factory=list)
    # One sentence per distinct problem, e.g. an unknown /product code.
    problems: set[str] = field(default_factory=set)
    denied: int = 0


def scan(catalog: Catalog) -> Scan:
    result = Scan()
    for process in psutil.process_iter(["name"]):
        name = (process.info.get("name") or "").lower()
        if name in catalog.executables:
            _inspect(process, name, catalog, result)
    return result


def running_runs() -> set[str]:
    """pid:create_time of every process, to tell which sessions survived
    a restart of the agent."""
    runs = set()
    for process in psutil.process_iter(["create_time"]):
        created = process.info.get("create_time")
        if created is not None:
            runs.add(f"{process.pid}:{created:.3f}")
    return runs


def unrecognised(catalog: Catalog) -> list[str]:
    """Executables under an Autodesk folder that the catalog does not know.

    Reading every path is dearer than a scan, so this runs at check-in.
    """
    names: set[str] = set()
    for process in psutil.process_iter(["name", "exe"]):
        name = (process.info.get("name") or "").lower()
        exe = (process.info.get("exe") or "").lower()
        if AUTODESK_MARK in exe and name not in catalog.executables:
            names.add(process.info.get("name") or name)
    return sorted(names)[:MAX_UNKNOWN]


def _inspect(process: psutil.Process, name: str, catalog: Catalog, result: Scan) -> None:
    try:
        with process.oneshot():
            created = process.create_time()
            username = _owner(process)
            exe, cmdline = _path_and_arguments(process)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return
    except psutil.AccessDenied:
        result.denied += 1
        return
    match = catalog.match(name, exe, cmdline)
    if match is None:
        return
    if match.problem:
        result.problems.add(match.problem)
    result.seen.append(
        Seen(
            pid=process.pid,
            create_time=created,
            username=username,
            application=match.application,
            release=match.release,
            legacy=match.legacy,
        )
    )


def _owner(process: psutil.Process) -> str:
    try:
        return str(process.username())
    except (psutil.AccessDenied, KeyError):
        # KeyError: a uid with no name in the user database.
        return f"uid:{process.uids().real}" if hasattr(process, "uids") else "unknown"


def _path_and_arguments(process: psutil.Process) -> tuple[str | None, list[str] | None]:
    """Path and command line help matching but are not essential: a
    process we may not inspect is still matched by its name. Each is read
    on its own, since systems may refuse one and allow the other."""
    try:
        exe = process.exe()
    except psutil.AccessDenied:
        exe = None
    try:
        cmdline = process.cmdline()
    except psutil.AccessDenied:
        cmdline = None
    return exe, cmdline
