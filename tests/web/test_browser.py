"""The web UI in a real Chromium (Debian's, driven by Playwright) against a
real `seatmeter serve` process and a real agent with a fake acad.exe.

Screenshots of the dashboard, the troubleshooting view, an agent group
and the active sessions are saved in artifacts/screenshots/. These tests
run on SQLite only: the pages' SQL is the TestClient tests' concern, on
both databases; here it is the browser, the agent and the server process
together.
"""

import csv
import io
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from chromium import CHROMIUM, CHROMIUM_ARGS, save_screenshot
from conftest import bearer
from emulator.emulatorproc import running_emulator
from playwright.sync_api import Browser, Page, expect, sync_playwright
from serverproc import ServerProcess, free_port
from webpages import PASSWORD, make_account

from seatmeter.emulator.generator import generate_team
from seatmeter.server.accounts.service import create_token
from seatmeter.server.db import Database
from seatmeter.server.license_servers.models import LicenseServer

# The agent's end-to-end tests own the real agent and the fake
# applications; these tests use them as they are.
sys.path.insert(0, str(Path(__file__).parents[1] / "agent"))
from fakeapps import CIVIL_3D_2024, running_app
from test_agent_end_to_end import AgentProcess, host_to_ourselves

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

XSS = "<script>alert(1)</script>"
WAIT_MS = 30_000


class Site:
    """A server process and its database, with the records tests need."""

    def __init__(self, process: ServerProcess, database: Database) -> None:
        self.process = process
        self.database = database
        self.url = process.base_url

    def token(self, scope: str) -> str:
        with self.database.writing() as session:
            return create_token(session, f"{scope} token", scope)[1]

    def license_server(self) -> int:
        """An Autodesk team that selects no agent group yet."""
        with self.database.writing() as session:
            server = LicenseServer(name="Autodesk team", team_id="100001")
            session.add(server)
            session.flush()
            return server.id


@pytest.fixture
def site(database_url: str, database: Database, tmp_path: Path) -> Iterator[Site]:
    process = ServerProcess(database_url, tmp_path / "server", port=free_port())
    try:
        process.start()
        process.wait_until_ready()
        yield Site(process, database)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, tmp_path: Path) -> Iterator[Page]:
    context = chromium.new_context(accept_downloads=True, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, site: Site, name: str) -> None:
    page.goto(site.url + "/")
    expect(page).to_have_url(site.url + "/login?next=/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    expect(page.locator("h1")).to_have_text("Dashboard")


def screenshot(page: Page, name: str) -> None:
    save_screenshot(page, name)


def download(page: Page, link: str) -> bytes:
    with page.expect_download() as started:
        page.click(link)
    path = started.value.path()
    return Path(path).read_bytes()


def test_an_administrator_sets_up_monitoring_and_watches_a_session_arrive(
    site: Site, page: Page, tmp_path: Path
) -> None:
    make_account(site.database, "ada", "admin")
    server_id = site.license_server()
    hostname = socket.gethostname()
    with host_to_ourselves():
        agent = AgentProcess(site.url, site.token("agent"), tmp_path / "agent")
        try:
            agent.start()
            sign_in(page, site, "ada")

            # The agent enrols into Default, which the server does not select.
            page.goto(site.url + "/agents")
            expect(page.locator("td[data-column=hostname]", has_text=hostname)).to_be_visible()
            page.click(f"td[data-column=hostname] a:text-is('{hostname}')")
            steps = page.locator("ol.steps li")
            expect(steps.nth(2)).to_have_attribute("data-state", "failed")
            expect(steps.nth(2)).to_contain_text("select one on the license server")
            screenshot(page, "troubleshooting.png")

            # A group of its own, with the agent in it, selected on the server.
            page.goto(site.url + "/agent-groups")
            page.fill("input[name=name]", "Civil")
            page.click("button:has-text('Create')")
            expect(page.locator("h1")).to_have_text("Agent group Civil")
            page.locator("#others").get_by_label(hostname).check()
            page.click("button:has-text('Add the ticked agents')")
            expect(page.locator("#members")).to_contain_text(hostname)
            screenshot(page, "agent-group.png")
            page.goto(f"{site.url}/license-servers/{server_id}")
            page.get_by_label("Civil", exact=True).check()
            page.click("button:has-text('Save')")
            expect(page.locator(".notice")).to_have_text("license server saved")

            # The session appears in the grid by itself: no reload.
            page.goto(site.url + "/sessions/active?application=civil")
            loads: list[str] = []
            page.on("load", lambda _: loads.append(page.url))
            with running_app(tmp_path, CIVIL_3D_2024):
                row = page.locator("tbody tr", has_text="Civil 3D")
                expect(row.first).to_be_visible()
                expect(row.first.locator("td[data-column=hostname]")).to_have_text(hostname)
                assert loads == [], "the grid refreshed itself, the page did not reload"
                screenshot(page, "active-sessions.png")

                as_csv = download(page, "a:text-is('CSV')")
                as_xlsx = download(page, "a:text-is('XLSX')")
                page.goto(site.url + "/")
                expect(page.locator(".figure").first).to_contain_text("active session")
                page.wait_for_function("document.querySelector('canvas').chart !== undefined")
                screenshot(page, "dashboard.png")
        finally:
            agent.stop()

    rows = list(csv.DictReader(io.StringIO(as_csv.decode("utf-8-sig"))))
    assert [(r["Host"], r["Application"], r["Release"]) for r in rows] == [
        (hostname, "Civil 3D", "2024")
    ]
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx)).active
    values = list(sheet.values)
    assert values[0][:4] == ("Host", "Host user", "Application", "Release")
    assert [v[:4] for v in values[1:]] == [(hostname, rows[0]["Host user"], "Civil 3D", "2024")]


def test_a_hostile_hostname_shows_as_text_and_runs_nothing(site: Site, page: Page) -> None:
    make_account(site.database, "vera", "viewer")
    enrolled = httpx.post(
        site.url + "/api/agent/v1/enrol",
        json={"agent_id": "agent-x", "hostname": XSS, "os": "windows", "agent_version": "0.1.0"},
        headers=bearer(site.token("agent")),
    )
    assert enrolled.status_code == 201, enrolled.text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, site, "vera")

    for path in ("/agents", "/troubleshoot?agent_id=agent-x", "/agent-groups/1"):
        page.goto(site.url + path)
        expect(page.get_by_text(XSS).first).to_be_visible()

    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('main script').length") == 0


def test_a_viewer_cannot_reach_an_administrators_action(site: Site, page: Page) -> None:
    make_account(site.database, "vera", "viewer")
    sign_in(page, site, "vera")

    for path in ("/admin/accounts", "/admin/tokens"):
        response = page.goto(site.url + path)
        assert response is not None and response.status == 403
        expect(page.locator("[role=alert]")).to_contain_text("needs an administrator")
    page.goto(site.url + "/agent-groups")
    expect(page.locator("form[action='/agent-groups']")).to_have_count(0)

    # A form posted by hand, with the viewer's own valid CSRF token.
    token = page.locator("body").get_attribute("data-csrf-token")
    posted: Any = page.request.post(
        site.url + "/agent-groups", form={"csrf_token": token or "", "name": "Mine"}
    )
    assert posted.status == 403
    page.goto(site.url + "/agent-groups")
    expect(page.locator("td", has_text="Mine")).to_have_count(0)


def test_an_autodesk_team_is_connected_and_synced_from_the_browser(
    site: Site, page: Page, tmp_path: Path
) -> None:
    data = generate_team(users=20, seed=3)
    team, client = data["teams"][0], data["clients"][0]
    make_account(site.database, "ada", "admin")
    (tmp_path / "autodesk").mkdir()
    with running_emulator(data, tmp_path / "autodesk") as autodesk:
        sign_in(page, site, "ada")
        page.goto(site.url + "/license-servers")
        page.fill("input[name=name]", "Emulated team")
        page.fill("input[name=team_id]", team["id"])
        page.fill("input[name=api_base_url]", autodesk.base_url)
        page.fill("input[name=client_id]", client["client_id"])
        page.fill("input[name=client_secret]", client["client_secret"])
        page.click("form[action='/license-servers'] button[type=submit]")
        expect(page.locator("h1")).to_have_text("License server Emulated team")

        # Off to Autodesk's consent (the emulator approves at once) and back.
        page.click("button:has-text('Connect with Autodesk')")
        expect(page.locator("body")).to_contain_text("is connected to Autodesk team")
        page.click("a:has-text('Back to the license server')")
        expect(page.get_by_role("button", name="Reconnect with Autodesk")).to_be_visible()

        page.click("button:has-text('Sync now')")
        pools = {pool["productName"] for pool in team["pools"] if pool.get("supported", True)}
        wait_for_text(page, site.url + "/reports/current-usage", "Revit")
        for name in sorted(pools)[:3]:
            expect(page.locator("body")).to_contain_text(name)


def wait_for_text(page: Page, url: str, text: str, timeout_s: float = 30) -> None:
    """Reload until the text shows: the sync runs in the background."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        page.goto(url)
        if text in page.inner_text("body") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    expect(page.locator("body")).to_contain_text(text)
