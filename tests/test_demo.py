"""`seatmeter demo` as a newcomer runs it: a real process tree on
loopback that must come up populated, show live and historical data on
the dashboard in a real browser (its screenshot is saved for the README),
and stop cleanly on Ctrl-C."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS, save_screenshot
from conftest import bearer
from playwright.sync_api import expect, sync_playwright
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
        password = re.search(r"sign in as admin, password (\S+)", text)[1]  # type: ignore[index]
        look_at_the_dashboard(f"http://127.0.0.1:{port}", password)
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(STOP_TIMEOUT_S)
    assert code == 0, log.read_text()
    assert not [child for child in children if child.is_running()], "a child outlived Ctrl-C"
    assert "Seatmeter demo stopped." in log.read_text()


def look_at_the_dashboard(url: str, password: str) -> None:
    """Sign in as the demo says, and see today's and past usage."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "/")
            page.fill("input[name=name]", "admin")
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Dashboard")
            live = page.get_by_text("active session(s)").locator("xpath=..")
            expect(live).not_to_contain_text(re.compile(r"^\s*0\s"))
            expect(page.locator("canvas").first).to_be_visible()
            save_screenshot(page, "demo-dashboard.png")
            page.goto(url + "/sessions/history")
            expect(page.locator("table tbody tr").first).to_be_visible()
            # A report with its chart: concurrent users against seats.
            page.goto(url + "/reports/usage-history?granularity=day")
            expect(page.locator("canvas").first).to_be_visible()
            expect(page.locator("table tbody tr").first).to_be_visible()
            page.wait_for_timeout(500)  # the chart animates in
            save_screenshot(page, "report.png")
        finally:
            browser.close()


def wait_for_line(log: Path, process: subprocess.Popen[bytes], words: str) -> str:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if words in text:
            return text
        assert process.poll() is None, f"the demo exited:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"no {words!r} within {READY_TIMEOUT_S:.0f} s:\n{log.read_text()}")
