"""How the tests start Debian's Chromium under Playwright, in one place."""

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's services, which this
# machine's closed network refuses, and stalls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Kept by CI; copies of the ones the README shows are in docs/screenshots.
SCREENSHOTS = Path(__file__).parents[1] / "artifacts" / "screenshots"


def save_screenshot(page: "Page", name: str) -> None:
    """A full-page screenshot in SCREENSHOTS. Chromium now and then refuses
    one on a loaded machine ("Unable to capture screenshot"); the picture
    is evidence, not the test, so a refusal is tried once more."""
    from playwright.sync_api import Error

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    except Error:
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
