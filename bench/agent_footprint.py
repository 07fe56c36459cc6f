"""What the agent costs a workstation: CPU per process scan, and memory.

    .venv/bin/python bench/agent_footprint.py [--processes N] [--rounds R]

A benchmark, not a test: it prints numbers beside a baseline and asserts
nothing, since timings depend on the machine. It fills the process table
with cheap `sleep` processes, like a busy workstation, plus two fake
Autodesk applications (copies of this interpreter named acad.exe and
Revit.exe), then measures:

- the CPU time of one scan in this process: the agent's `scan()`, a bare
  `psutil.process_iter()`, and `process_iter(["name"])`, the agent's
  pre-filter; and of `unrecognised()`, which each check-in runs;
- the memory of real agent processes (one told to monitor, one not)
  beside a bare interpreter, and their CPU time over a fixed window.

Linux (and likely macOS); everything it starts is stopped at exit, even
on an error or Ctrl-C, and on Linux even if this script is killed.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import common
import psutil
from common import clean_environment, describe_machine, spawn, stop

from seatmeter.agent import processes
from seatmeter.agent.catalog import load_packaged
from seatmeter.agent.cli import STATE_FILE
from seatmeter.agent.state import AgentState

# Long enough for any run; the processes are stopped at exit anyway.
LIFETIME_S = 3600
SLEEP_FOREVER = f"import time; time.sleep({LIFETIME_S})"
# Where the catalog expects them: the folder names give the release year.
FAKE_APPLICATIONS = {
    "AutoCAD 2024/acad.exe": ["/product", "C3D"],
    "Revit 2025/Revit.exe": [],
}
SETTLE_S = 5.0
WINDOW_S = 20.0
SCAN_INTERVAL_S = 1
CHECKIN_INTERVAL_S = 5
MIB = 1024 * 1024

Children = list[subprocess.Popen[bytes]]
# One reading of a process: rss, uss, cpu (seconds), wakes (a count).
Sample = dict[str, float]


def main() -> None:
    arguments = _parser().parse_args()
    if arguments.rounds < 2 or arguments.processes < 0:
        sys.exit("agent_footprint: --rounds needs at least 2, --processes at least 0")
    # A plain `kill` should clean up as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="seatmeter-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        children: Children = []
        stack.callback(stop, children)

        print("\n".join(describe_machine()))
        start_background(arguments.processes, children)
        start_fake_applications(tmp, children)
        print(f"processes on the host now: {len(psutil.pids())}")
        print(f"agent scan sees: {_found()}\n")

        samples = measure_scans(arguments.rounds)
        print("\n".join(scan_table(samples, arguments.rounds)) + "\n")
        print("\n".join(agent_footprint(tmp, children)))


def start_background(count: int, children: Children) -> None:
    """Cheap processes that only fill the process table."""
    sleep = shutil.which("sleep")
    if sleep is None:
        sys.exit("agent_footprint: needs the `sleep` program")
    # Each is listed as soon as it starts, so that Ctrl-C midway stops it.
    for _ in range(count):
        children.append(spawn([sleep, str(LIFETIME_S)]))


def start_fake_applications(tmp: Path, children: Children) -> None:
    """Copies of the real interpreter under Autodesk-like paths.

    The copy must be the binary itself, not the venv's symlink, so that
    the process's name and path are the Autodesk ones; PYTHONHOME points
    it back at its standard library. Arguments after `-c CODE` are left
    to the code, so `/product C3D` is harmless to Python.
    """
    interpreter = Path(os.path.realpath(sys.executable))
    environment = {**clean_environment(), "PYTHONHOME": sys.base_prefix}
    for place, switches in FAKE_APPLICATIONS.items():
        executable = tmp / "Autodesk" / place
        executable.parent.mkdir(parents=True)
        shutil.copy2(interpreter, executable)
        command = [str(executable), "-c", SLEEP_FOREVER, *switches]
        children.append(spawn(command, environment))


def measure_scans(rounds: int) -> dict[str, list[float]]:
    """CPU seconds of each kind of scan, one sample per round."""
    catalog = load_packaged()
    jobs: dict[str, Callable[[], object]] = {
        "bare process_iter()": _bare_iteration,
        'process_iter(["name"])': _name_iteration,
        "agent scan(load_packaged())": lambda: processes.scan(catalog),
        # Not a scan: run once per check-in, it reads every process's path.
        "agent unrecognised() (check-in)": lambda: processes.unrecognised(catalog),
    }
    # Warm up: a running agent has its catalog parsed and psutil's cache
    # of Process objects filled long before the scan we care about.
    for job in jobs.values():
        job()

    samples: dict[str, list[float]] = {name: [] for name in jobs}
    names = list(jobs)
    for number in range(rounds):
        # Rotate the order so that drift (clock speed, caches, other load)
        # falls on every kind alike.
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.process_time()
            jobs[name]()
            samples[name].append(time.process_time() - start)
    return samples


def scan_table(samples: dict[str, list[float]], rounds: int) -> list[str]:
    baseline = statistics.median(samples["bare process_iter()"])
    lines = [
        f"CPU time per scan ({rounds} rounds, process CPU time):",
        f"  {'':32} {'median':>9} {'p95':>9} {'mean':>9}",
    ]
    for name, values in samples.items():
        lines.append(
            f"  {name:32} {_ms(statistics.median(values))} "
            f"{_ms(_p95(values))} {_ms(statistics.fmean(values))}"
        )
    for name in list(samples)[1:]:
        ratio = statistics.median(samples[name]) / baseline
        lines.append(f"  {name} / bare process_iter() = {ratio:.2f}x (medians)")
    return lines


def agent_footprint(tmp: Path, children: Children) -> list[str]:
    """Two real agents (one told to monitor, one not) and a bare
    interpreter, side by side: resident memory after settling, then CPU
    time and wake-ups over a fixed window."""
    port = _closed_port()
    folders = {"agent, monitoring": tmp / "monitoring", "agent, not monitoring": tmp / "idle"}
    bare = [sys.executable, "-c", f"import psutil; {SLEEP_FOREVER}"]
    runs = {"bare interpreter": spawn(bare, clean_environment())}
    children.append(runs["bare interpreter"])
    for name, folder in folders.items():
        runs[name] = start_agent(folder, port, monitoring=name == "agent, monitoring")
        children.append(runs[name])

    time.sleep(SETTLE_S)
    _check_alive(runs, folders)
    before = {name: _sample(run.pid) for name, run in runs.items()}
    time.sleep(WINDOW_S)
    _check_alive(runs, folders)
    after = {name: _sample(run.pid) for name, run in runs.items()}

    lines = footprint_table(before, after)
    for name, folder in folders.items():
        lines += ["", f"seatmeter-agent status of the {name!r} agent after the window:"]
        lines += ["  " + line for line in _status(folder)]
    lines += ["", "log of the monitoring agent (all of it):"]
    lines += ["  " + line for line in _log(folders["agent, monitoring"])]
    return lines


def start_agent(state_dir: Path, port: int, monitoring: bool) -> subprocess.Popen[bytes]:
    """A real agent whose server is a closed port.

    Without a server's word an agent does not scan, and without a
    credential its check-in stops at enrolment; so the state folder is
    primed with both, as a long-enrolled agent's would be. Every check-in
    then builds its full report and fails to connect, and every scan
    runs against the last instructions, as when the server is down.
    """
    state = AgentState(state_dir / STATE_FILE)
    state.put("credential", "bench-credential-not-valid")
    state.put(
        "instructions",
        {
            "monitoring": monitoring,
            "reason": "primed by bench/agent_footprint.py",
            "scan_interval_s": SCAN_INTERVAL_S,
            "checkin_interval_s": CHECKIN_INTERVAL_S,
            "legacy_idle_window_s": 1800,
        },
    )
    state.close()
    command = [
        sys.executable, "-m", "seatmeter.agent", "run",
        "--server", f"http://127.0.0.1:{port}", "--token", "x",
        "--state-dir", str(state_dir),
        "--scan-interval", str(SCAN_INTERVAL_S),
        "--checkin-interval", str(CHECKIN_INTERVAL_S),
    ]  # fmt: skip
    # The child keeps its own copy of the file; this one can close.
    with (state_dir / "agent.log").open("wb") as log:
        return spawn(command, clean_environment(), stderr=log)


def footprint_table(before: dict[str, Sample], after: dict[str, Sample]) -> list[str]:
    scans = WINDOW_S / SCAN_INTERVAL_S
    lines = [
        f"long-running processes: memory after {SETTLE_S:.0f} s and after "
        f"{SETTLE_S + WINDOW_S:.0f} s, CPU over {WINDOW_S:.0f} s "
        f"(agents: scan every {SCAN_INTERVAL_S} s, check-in every "
        f"{CHECKIN_INTERVAL_S} s, server unreachable)",
        f"  {'':22} {'RSS':>9} {'RSS end':>9} {'USS':>9} {'CPU':>9} {'% core':>7} {'wake/s':>7}",
    ]
    for name in before:
        cpu = after[name]["cpu"] - before[name]["cpu"]
        wakes = (after[name]["wakes"] - before[name]["wakes"]) / WINDOW_S
        lines.append(
            f"  {name:22} {_mib(before[name]['rss'])} {_mib(after[name]['rss'])} "
            f"{_mib(after[name]['uss'])} {_ms(cpu)} "
            f"{100 * cpu / WINDOW_S:6.2f}% {wakes:7.1f}"
        )

    bare = before["bare interpreter"]["rss"]
    for name in ("agent, monitoring", "agent, not monitoring"):
        ratio = before[name]["rss"] / bare
        lines.append(f"  {name} RSS / bare interpreter RSS = {ratio:.2f}x")
    monitoring = after["agent, monitoring"]["cpu"] - before["agent, monitoring"]["cpu"]
    lines += [
        f"  agent, monitoring: CPU per scan, everything included (~{scans:.0f} scans, "
        f"{WINDOW_S / CHECKIN_INTERVAL_S:.0f} check-ins) = {_ms(monitoring / scans).strip()}",
        "  (CPU is counted in clock ticks, usually 10 ms; wake/s is voluntary context "
        "switches per second: how often the process wakes up)",
    ]
    return lines


# Helpers


def _found() -> str:
    seen = processes.scan(load_packaged()).seen
    found = ", ".join(f"{s.application} {s.release}" for s in seen)
    return found or "NOTHING: the fake applications were not recognised"


def _bare_iteration() -> None:
    for _process in psutil.process_iter():
        pass


def _name_iteration() -> None:
    for _process in psutil.process_iter(["name"]):
        pass


def _sample(pid: int) -> Sample:
    process = psutil.Process(pid)
    with process.oneshot():
        memory = process.memory_full_info()
        cpu = process.cpu_times()
        switches = process.num_ctx_switches()
    return {
        "rss": memory.rss,
        "uss": memory.uss,
        "cpu": cpu.user + cpu.system,
        "wakes": switches.voluntary,
    }


def _check_alive(runs: dict[str, subprocess.Popen[bytes]], folders: dict[str, Path]) -> None:
    for name, run in runs.items():
        if run.poll() is not None:
            log = "\n".join(_log(folders[name])) if name in folders else ""
            sys.exit(f"agent_footprint: {name} exited ({run.returncode})\n{log}")


def _status(state_dir: Path) -> list[str]:
    command = [sys.executable, "-m", "seatmeter.agent", "status", "--state-dir", str(state_dir)]
    done = subprocess.run(command, capture_output=True, text=True, env=clean_environment())
    return (done.stdout + done.stderr).splitlines()


def _log(state_dir: Path) -> list[str]:
    path = state_dir / "agent.log"
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def _closed_port() -> int:
    # A port that was free a moment ago: connecting to it is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.2f} ms"


def _mib(size: float) -> str:
    return f"{size / MIB:5.1f} MiB"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=300, help="background processes to start")
    parser.add_argument("--rounds", type=int, default=200, help="scans of each kind to time")
    return parser


if __name__ == "__main__":
    common.run(main)
