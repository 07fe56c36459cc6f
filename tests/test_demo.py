"""`seatmeter demo` as a newcomer runs it: a real process tree on
loopback that must come up populated and stop cleanly on Ctrl-C."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from conftest import bearer
from serverproc import clean_environment, free_port

READY_TIMEOUT_S = 240.0
STOP_TIMEOUT_S = 20.0

pytestmark = pytest.mark.slow


def test_the_demo_comes_up_populated_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    command = [sys.executable, "-m", "seatmeter", "demo", "--days", "5"]
    command += ["--port", str(port), "--data-dir", str(tmp_path / "data")]
    with log.open("wb") as output:
        demo = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=clean_environment()
        )
    try:
        text = wait_for_line(log, demo, "Demo data ready")
        token = re.search(r"admin API token: (\S+)", text)[1]  # type: ignore[index]
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=bearer(token), timeout=30)

        pools = api.get("/api/v1/product-pools").json()["items"]
        assert {"Revit", "AutoCAD", "Civil 3D"} <= {pool["name"] for pool in pools}
        active = api.get("/api/v1/sessions", params={"active": "true"}).json()["items"]
        assert len(active) >= 3, "the demo keeps a few sessions live"
        history = api.get("/api/v1/sessions", params={"active": "false"}).json()["items"]
        assert history and all(item["ended_at"] for item in history)
        agents = api.get("/api/v1/agents").json()["items"]
        assert len(agents) > 50 and all(agent["status"] == "online" for agent in agents)
        children = psutil.Process(demo.pid).children(recursive=True)
        assert children, "the emulator runs as a child of the demo"
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(STOP_TIMEOUT_S)
    assert code == 0, log.read_text()
    assert not [child for child in children if child.is_running()], "a child outlived Ctrl-C"
    assert "Seatmeter demo stopped." in log.read_text()


def wait_for_line(log: Path, process: subprocess.Popen[bytes], words: str) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if words in text:
            return text
        assert process.poll() is None, f"the demo exited:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no {words!r} within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()}")
